"""The simulated multi-node Slurm (slurm-dev-environment/multinode.sh): real nodes to the
scheduler, the dev cluster untouched, and a start that cannot lie about a taken port.

Real daemons throughout (one slurmctld, a slurmd per node); no output of ours is taken as the
expected value: which node ran a task is what Slurm itself put into the task's environment.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slurm

SCRIPT = REPO_ROOT / "slurm-dev-environment" / "multinode.sh"


def multinode(command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), command],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive TCP ports nothing listens on (from 31000 up)."""
    for base in range(31000, 40000, 10):
        try:
            for port in range(base, base + count):
                with socket.socket() as probe:
                    probe.bind(("0.0.0.0", port))
        except OSError:
            continue
        return base
    raise AssertionError("no free ports between 31000 and 40000")


def own_cluster_env(state_dir: Path) -> dict[str, str]:
    """A multi-node cluster of this test's own (state directory, ports): a benchmark may be
    using the default one in .data/slurm-multi."""
    env = {
        **os.environ,
        "EMGSONAR_SLURM_MULTI_STATE_DIR": str(state_dir),
        "EMGSONAR_SLURM_MULTI_CTLD_PORT": str(free_ports(4)),  # controller, n1, n2, n3
    }
    env.pop("SLURM_CONF", None)
    return env


@pytest.fixture(scope="module")
def multi_conf(slurm_cluster: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A multi-node cluster, up for this module, down after it; munged comes with the dev
    cluster (slurm_cluster)."""
    env = own_cluster_env(tmp_path_factory.mktemp("multi") / "state")
    proc = multinode("up", env)
    try:
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("slurm-multi: ready (nodes n[1-3] idle"), proc.stdout
        yield Path(proc.stdout.rsplit("SLURM_CONF=", 1)[1].rstrip().rstrip(")"))
    finally:
        down = multinode("down", env)
        assert down.returncode == 0, down.stderr


def slurm(conf: Path, *args: str) -> str:
    env = {**os.environ, "SLURM_CONF": str(conf)}
    return subprocess.run(args, capture_output=True, text=True, env=env, check=True).stdout


def dev_controller(conf: Path) -> tuple[str, str]:
    """The dev cluster's config file and its controller's configuration (without the line
    saying when it was asked), to see that nothing of it changed."""
    shown = slurm(conf, "scontrol", "show", "config").split("\n", 1)[1]
    return conf.read_text(), shown


def test_three_overlapping_tasks_of_one_array_run_on_three_nodes(
    multi_conf: Path, slurm_cluster: Path, tmp_path: Path
) -> None:
    dev_ctld = dev_controller(slurm_cluster)
    assert slurm(multi_conf, "sinfo", "-h", "-N", "-o", "%N %c").split() == [
        "n1", "1", "n2", "1", "n3", "1",
    ]  # fmt: skip
    out = tmp_path / "task-%a.out"
    # each node has 1 CPU and each task holds one for 4 s, so three tasks running at once
    # must be on three nodes; SLURMD_NODENAME is set by the slurmd that runs the task
    job = slurm(
        multi_conf,
        "sbatch", "--parsable", "--array=1-3", f"--output={out}", "--mem=100M",
        "--wrap", "echo $SLURMD_NODENAME; sleep 4",
    ).strip()  # fmt: skip
    deadline = time.monotonic() + 50
    while slurm(multi_conf, "squeue", "-h", "-j", job) and time.monotonic() < deadline:
        time.sleep(0.5)
    nodes = sorted((tmp_path / f"task-{i}.out").read_text().strip() for i in (1, 2, 3))
    assert nodes == ["n1", "n2", "n3"]
    # the dev cluster neither saw the job nor changed
    assert dev_controller(slurm_cluster) == dev_ctld
    assert "n1" not in slurm(slurm_cluster, "sinfo", "-h", "-N", "-o", "%N").split()


def test_a_taken_node_port_fails_loudly_and_down_stops_what_was_started(
    slurm_cluster: Path, tmp_path: Path
) -> None:
    env = own_cluster_env(tmp_path / "state")
    base = int(env["EMGSONAR_SLURM_MULTI_CTLD_PORT"])
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("0.0.0.0", base + 2))
        squatter.listen()
        proc = multinode("up", env)
    try:
        assert proc.returncode == 1
        assert "slurm-multi: ready" not in proc.stdout
        assert f"slurmd n2 cannot listen on {base + 2}" in proc.stderr
        assert f"port {base + 2} is held by python" in proc.stderr
        status = multinode("status", env)
        assert status.returncode == 1
        assert "slurmd n2:  down" in status.stdout
    finally:
        pids = [int(p.read_text()) for p in (tmp_path / "state" / "run").glob("*.pid")]
        down = multinode("down", env)
    assert down.returncode == 0, down.stderr
    assert pids  # it had started the controller and n1
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()]
