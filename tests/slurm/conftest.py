"""Fixtures of the cluster tests: the real one-node Slurm (started here), and the backends
(Slurm's commands, slurmrestd, local processes).

No fake scheduler: ``slurm-dev-environment/up.sh`` (idempotent, ~0.1 s when already up) starts
munged, slurmctld and slurmd once per session, so the tests need no manual setup.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from workflows.cluster.backend import ClusterBackend, JobSpec
from workflows.cluster.local import LocalBackend
from workflows.cluster.slurm import SlurmCliBackend
from workflows.cluster.slurmrest import SlurmRestBackend

#: the job every test runs: the calling engine's contract in miniature. It sleeps (only on the
#: first attempt, so a resubmission is quick), fails on request (exit 1, no result, or by using
#: far more memory than any test job asks for), writes its result beside its place and exits
#: (``late``: the test plays a shared file system that shows it later), and otherwise writes
#: its result atomically with the helper real chunk jobs use.
JOB_CODE = """
import os, sys, time
from pathlib import Path
from workflows.cluster.backend import write_result_atomically
out, sleep, mode = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
marker = out.with_suffix('.started')
if not marker.exists():
    marker.touch()
    time.sleep(sleep)
if mode == 'fail':
    print(f'boom: chunk {out.stem} is broken', file=sys.stderr)
    sys.exit(1)
if mode == 'noresult':
    sys.exit(0)
if mode == 'late':  # the result written beside its place; the test moves it there later
    write_result_atomically(out.with_suffix('.late'), 'late\\n')
    sys.exit(0)
if mode == 'oom':
    hog = b'x' * (800 * 1024 * 1024)  # written, so resident (not lazily zeroed pages)
    time.sleep(30)
in_venv = os.environ.get('VIRTUAL_ENV') == sys.prefix
write_result_atomically(out, f"{out.stem}\\t{os.environ['EMGSONAR_TEST_TOKEN']}\\t{in_venv}\\n")
"""


@pytest.fixture
def slurm_backend(slurm_cluster: Path) -> SlurmCliBackend:
    return SlurmCliBackend(
        python=Path(sys.executable),
        project_dir=REPO_ROOT,
        conf=slurm_cluster,
        lost_after_seconds=30.0,
    )


def _chosen_port(conf: Path, name: str) -> str:
    """A port up.sh chose for this checkout's cluster (``ports.env`` beside its slurm.conf: the
    defaults may be taken by another checkout's cluster, so they are not assumed)."""
    for line in (conf.parent / "ports.env").read_text().splitlines():
        key, _, value = line.partition("=")
        if key == name:
            return value
    raise LookupError(f"{name} not in {conf.parent / 'ports.env'}")


@pytest.fixture
def slurmrest_backend(slurm_cluster: Path) -> SlurmRestBackend:
    """The REST backend against the dev cluster's slurmrestd (on the port up.sh used)."""
    port = os.environ.get("EMGSONAR_SLURM_REST_PORT") or _chosen_port(slurm_cluster, "REST_PORT")
    return SlurmRestBackend(
        url=f"http://127.0.0.1:{port}",
        python=Path(sys.executable),
        project_dir=REPO_ROOT,
        conf=slurm_cluster,
        lost_after_seconds=30.0,
    )


@pytest.fixture(
    params=[
        pytest.param("slurm", marks=pytest.mark.slurm),
        pytest.param("slurmrest", marks=pytest.mark.slurm),
    ],
)
def any_slurm_backend(request: pytest.FixtureRequest) -> SlurmCliBackend:
    """Each test that takes ``any_slurm_backend`` runs through the commands and through
    slurmrestd: the two must classify every job alike."""
    return request.getfixturevalue(f"{request.param}_backend")


@pytest.fixture
def local_backend() -> Iterator[LocalBackend]:
    backend = LocalBackend(
        max_workers=2, python=Path(sys.executable), project_dir=REPO_ROOT, lost_after_seconds=5.0
    )
    yield backend
    backend.shutdown()


@pytest.fixture(
    params=[
        pytest.param("slurm", marks=pytest.mark.slurm),
        pytest.param("slurmrest", marks=pytest.mark.slurm),
        pytest.param("local"),
    ],
)
def backend(request: pytest.FixtureRequest) -> ClusterBackend:
    """Each test that takes ``backend`` runs on real Slurm through its commands, through
    slurmrestd, and locally: the three must leave identical rows behind."""
    return request.getfixturevalue(f"{request.param}_backend")


@pytest.fixture
def make_spec(tmp_path: Path, request: pytest.FixtureRequest):
    """``make_spec(name, sleep=0, mode="ok")``: a JobSpec for JOB_CODE in a fresh work dir."""

    def make(name: str, sleep: float = 0.0, mode: str = "ok") -> JobSpec:
        work_dir = tmp_path / "work"
        return JobSpec(
            key=f"test:{request.node.name}:{name}",
            name=name,
            command=["python", "-c", JOB_CODE, str(work_dir / f"{name}.out"), str(sleep), mode],
            work_dir=work_dir,
            result_path=work_dir / f"{name}.out",
            memory_mb=200,
            time_limit="00:02:00",
            env={"EMGSONAR_TEST_TOKEN": "token with spaces & $ymbols"},
            input_hash="0" * 64,
        )

    return make
