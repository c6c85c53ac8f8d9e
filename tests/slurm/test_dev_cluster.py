"""The dev cluster's scripts tell the truth: up.sh fails loudly when it cannot start a daemon,
and down.sh stops only the processes it started.

Each test starts a second, throw-away cluster in its own state directory on free ports next to
the session's cluster (which must survive every test here untouched).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slurm

SCRIPTS = REPO_ROOT / "slurm-dev-environment"


def _free_ports(count: int) -> list[int]:
    """Ports nothing listens on now (bound once with port 0 and released)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _env(state_dir: Path, ports: list[int]) -> dict[str, str]:
    ctld, node, rest = ports
    return {
        **os.environ,
        "EMGSONAR_SLURM_STATE_DIR": str(state_dir),
        "EMGSONAR_SLURM_CTLD_PORT": str(ctld),
        "EMGSONAR_SLURM_NODE_PORT": str(node),
        "EMGSONAR_SLURM_REST_PORT": str(rest),
        "EMGSONAR_SLURM_START_TIMEOUT": "15",
    }


def _script(name: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPTS / name)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _pids(state_dir: Path) -> dict[str, int]:
    return {
        path.stem: int(path.read_text())
        for path in (state_dir / "run").glob("*.pid")
        if path.read_text().strip().isdigit()
    }


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0]
    return state != "Z"


@pytest.fixture
def session_daemons(slurm_cluster: None) -> Iterator[dict[str, int]]:
    """The session cluster's daemon pids; after the test each must still be alive."""
    pids = _pids(REPO_ROOT / ".data" / "slurm")
    assert {"slurmctld", "slurmd", "slurmrestd"} <= set(pids), pids
    yield pids
    for name, pid in pids.items():
        assert _alive(pid), f"the session cluster's {name} (pid {pid}) was stopped"


@pytest.fixture
def state_root() -> Iterator[Path]:
    """A directory for throw-away clusters' state that the ``slurm`` user can read (slurmrestd
    runs as it; pytest's own tmp_path is private to root)."""
    root = Path(tempfile.mkdtemp(prefix="emgsonar-slurm-test-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def other_cluster(state_root: Path) -> Iterator[tuple[Path, list[int]]]:
    """A state directory and three free ports for a throw-away cluster, stopped afterwards."""
    state_dir = state_root / "slurm"
    ports = _free_ports(3)
    yield state_dir, ports
    _script("down.sh", _env(state_dir, ports))


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A dummy TCP listener on a free port, as another cluster's daemon would hold it."""
    sock = socket.socket()
    sock.bind(("0.0.0.0", 0))
    sock.listen()
    yield sock
    sock.close()


def _assert_fails_on_taken_port(proc: subprocess.CompletedProcess[str], daemon: str, port: int):
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "ready" not in proc.stdout
    assert f"slurm-dev: {daemon} died; it is NOT running for this cluster" in proc.stderr
    assert f"port {port} is taken by python" in proc.stderr
    assert "fix: stop that process" in proc.stderr


def test_up_fails_loudly_when_the_controller_port_is_taken(
    other_cluster, listener, session_daemons
):
    """slurmctld cannot bind: exit 1, its own log line about the port, who holds it, a fix."""
    state_dir, ports = other_cluster
    port = listener.getsockname()[1]
    proc = _script("up.sh", _env(state_dir, [port, *ports[1:]]))
    _assert_fails_on_taken_port(proc, "slurmctld", port)
    assert "Error binding slurm stream socket: Address already in use" in proc.stderr


def test_up_fails_loudly_when_the_node_port_is_taken(other_cluster, listener, session_daemons):
    """slurmd cannot bind (the controller can): 'Unable to bind listen port (N)' is shown."""
    state_dir, ports = other_cluster
    port = listener.getsockname()[1]
    proc = _script("up.sh", _env(state_dir, [ports[0], port, ports[2]]))
    _assert_fails_on_taken_port(proc, "slurmd", port)
    assert f"Unable to bind listen port ({port}): Address already in use" in proc.stderr


def test_up_does_not_take_another_cluster_for_its_own(other_cluster, state_root, session_daemons):
    """A whole other cluster on the same ports: it answers `scontrol ping`, but is not ours, so
    up.sh of a second state directory fails instead of printing ready."""
    state_dir, ports = other_cluster
    first = _script("up.sh", _env(state_dir, ports))
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("slurm-dev: ready (node localhost idle")
    assert f"SLURM_CONF={state_dir}/slurm.conf" in first.stdout

    second_dir = state_root / "second"
    try:
        proc = _script("up.sh", _env(second_dir, ports))
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "ready" not in proc.stdout
        assert "slurmctld died; it is NOT running for this cluster" in proc.stderr
        assert f"port {ports[0]} is taken by slurmctld (pid" in proc.stderr
    finally:
        _script("down.sh", _env(second_dir, ports))
    # the first cluster still runs and still says so
    status = _script("status.sh", _env(state_dir, ports))
    assert status.returncode == 0, status.stdout


def test_down_stops_only_what_it_started(other_cluster, tmp_path, session_daemons):
    """down.sh of one cluster leaves another cluster's daemons alone, and does not signal a pid
    from a stale pid file that now belongs to an unrelated process (even one named slurmd)."""
    state_dir, ports = other_cluster
    run_dir = state_dir / "run"
    run_dir.mkdir(parents=True)
    impostor_bin = tmp_path / "slurmd"  # a process whose name is slurmd, but is not ours
    shutil.copy(shutil.which("sleep"), impostor_bin)
    impostor = subprocess.Popen([str(impostor_bin), "300"])
    unrelated = subprocess.Popen(["sleep", "300"])
    try:
        # a stale pid file whose pid was reused by an unrelated process
        (run_dir / "slurmctld.pid").write_text(f"{unrelated.pid}\n")
        proc = _script("down.sh", _env(state_dir, ports))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "slurm-dev: down\n"
        assert "stopped" not in proc.stderr
        assert unrelated.poll() is None and impostor.poll() is None
        assert not (run_dir / "slurmctld.pid").exists()
    finally:
        for child in (impostor, unrelated):
            child.send_signal(signal.SIGTERM)
            child.wait()


def test_up_never_writes_etc_slurm(slurm_cluster: None):
    """Our config is found through SLURM_CONF; /etc/slurm/slurm.conf is not ours to write."""
    etc = Path("/etc/slurm/slurm.conf")
    assert not (etc.is_symlink() and str(REPO_ROOT) in os.readlink(etc))
    proc = _script("up.sh", dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    assert not (etc.is_symlink() and str(REPO_ROOT) in os.readlink(etc))
    assert f"SLURM_CONF={REPO_ROOT}/.data/slurm/slurm.conf" in proc.stdout


def test_a_second_checkout_chooses_free_ports_of_its_own(state_root: Path, session_daemons):
    """No ports set: up.sh takes Slurm's defaults only when free, else another free set, and
    keeps the choice, so a CI clone beside a developer's running cluster gets its own."""
    state_dir = state_root / "slurm"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMGSONAR_SLURM_")}
    env |= {"EMGSONAR_SLURM_STATE_DIR": str(state_dir), "EMGSONAR_SLURM_START_TIMEOUT": "15"}
    session = dict(
        line.split("=", 1)
        for line in (REPO_ROOT / ".data" / "slurm" / "ports.env").read_text().split()
    )
    try:
        up = _script("up.sh", env)
        assert up.returncode == 0, up.stdout + up.stderr
        chosen = dict(line.split("=", 1) for line in (state_dir / "ports.env").read_text().split())
        assert set(chosen.values()).isdisjoint(session.values()), (chosen, session)
        ports = f"ports {chosen['CTLD_PORT']}/{chosen['NODE_PORT']}/{chosen['REST_PORT']}"
        assert ports in up.stdout
        answer = subprocess.run(
            ["scontrol", "show", "config"],
            env={**env, "SLURM_CONF": str(state_dir / "slurm.conf")},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert f"SlurmctldPort           = {chosen['CTLD_PORT']}" in answer
        assert f"StateSaveLocation       = {state_dir / 'state'}" in answer
        # a second run keeps the choice (the config is rendered from it every time)
        again = _script("up.sh", env)
        assert again.returncode == 0 and ports in again.stdout, again.stderr
    finally:
        _script("down.sh", env)
