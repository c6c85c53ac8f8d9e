"""Faults of the cluster an import on real Slurm survives, through ``manage.py import_samples
--executor slurm`` (the operator's command, in a subprocess as in :mod:`tests.flows.test_faults`),
through Slurm's commands and through slurmrestd alike:

* a chunk's array task cancelled by an operator (``scancel <array>_<task>``) while it aligns;
* the node set DOWN while tasks run on it, kept out of service a few seconds, then resumed.

Either way the tasks that lost their work are resubmitted, the import completes, and the
database equals, row by row, that of one uninterrupted import of the same file (the local
import :func:`~tests.flows.test_faults.clean_dump` makes once per session).

And a task over its memory limit ends the import as failed, naming ``OUT_OF_MEMORY`` in the
run's summary and in the flow's Markdown artifact. The dev cluster has no cgroups; its
``JobAcctGatherParams=OverMemoryKill`` (slurm-dev-environment/slurm.conf.template) polls each
job's memory every second and kills a job over ``--mem``, which is what is tested here.
"""

from __future__ import annotations

import lzma
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from emgsonar.models import ImportRun
from tests.conftest import REPO_ROOT
from tests.flows.helpers import artifacts_by_key
from tests.flows.test_faults import (
    FASTA,
    clean_dump,
    fresh_database,
    import_args,
    subprocess_env,
)
from tests.helpers.db_dump import differences, dump_database
from tests.slurm.conftest import _chosen_port
from workflows.flows.import_samples import align_array_name
from workflows.models import ClusterJob
from workflows.prefect_utils.artifacts import artifact_key

pytestmark = [pytest.mark.prefect, pytest.mark.slurm, pytest.mark.django_db(transaction=True)]

#: how long one import may take here (two tasks at a time on the one two-CPU node)
IMPORT_TIMEOUT = 600
#: records of the out-of-memory import (one task that runs long enough to be measured)
OOM_RECORDS = 300


def first_records(path: Path, n: int) -> str:
    """The first ``n`` records of an xz-compressed FASTA file."""
    text = lzma.open(path, "rt").read()
    starts = [m.start() for m in re.finditer("^>", text, flags=re.M)]
    assert len(starts) > n, f"{path} has only {len(starts)} records"
    return text[: starts[n]]


@pytest.fixture(params=["cli", "rest"])
def slurm_env(
    request: pytest.FixtureRequest, slurm_cluster: Path, import_dirs: Path, settings
) -> dict[str, str]:
    """The subprocess environment for an import on the dev cluster, through Slurm's commands
    or through its slurmrestd (on the port up.sh chose), in this test's work directories."""
    env = subprocess_env(settings)
    env["EMGSONAR_SLURM__API"] = request.param
    if request.param == "rest":
        port = _chosen_port(slurm_cluster, "REST_PORT")
        env["EMGSONAR_SLURM__REST_URL"] = f"http://127.0.0.1:{port}"
    return env


def slurm(*args: str) -> str:
    """A Slurm command against the dev cluster (``SLURM_CONF`` set by ``slurm_cluster``)."""
    proc = subprocess.run(list(args), capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, f"{' '.join(args)}: {proc.stderr}"
    return proc.stdout


def the_node() -> str:
    """The dev cluster's one node, as Slurm names it."""
    nodes = slurm("sinfo", "-h", "-N", "-o", "%N").split()
    assert len(set(nodes)) == 1, f"expected the one-node dev cluster, found {nodes}"
    return nodes[0]


def run_jobs(run_id: int) -> list[tuple[int, str, str]]:
    """``(chunk index, job id, state)`` of every Slurm job of the run's align step, as
    ``squeue`` lists them to an admin: the array's tasks (``<array>_<index>``) and the tasks
    resubmitted alone (named ``<array name>-<index>``). Only jobs from the run's array on:
    the controller still lists earlier tests' jobs, and their runs had the same id."""
    name = align_array_name(run_id)
    ids = ClusterJob.objects.filter(import_run_id=run_id).values_list("job_id", flat=True)
    ids = [int(job_id.split("_")[0]) for job_id in ids if job_id]
    if not ids:
        return []
    out = slurm("squeue", "-h", "-r", "-t", "all", "-O", "Name:0|,JobArrayID:0|,State:0")
    rows = []
    for line in out.splitlines():
        job_name, job_id, state = (field.strip() for field in line.split("|"))
        if int(job_id.split("_")[0]) < min(ids):
            continue
        if job_name == name and "_" in job_id:
            rows.append((int(job_id.split("_")[1]), job_id, state))
        elif job_name.startswith(f"{name}-"):
            rows.append((int(job_name.removeprefix(f"{name}-")), job_id, state))
    return rows


def import_run_id() -> int | None:
    run = ImportRun.objects.filter(kind="samples").first()
    return run.pk if run is not None else None


class Import:
    """``manage.py import_samples`` running in a subprocess (its output in ``log``)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(REPO_ROOT / "manage.py"), *args],
                cwd=REPO_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_until(self, what: str, found: Callable[[], Any], timeout: float = 300) -> Any:
        """Poll ``found()`` until it returns something truthy (returned), while running."""
        deadline = time.monotonic() + timeout
        while not (value := found()):
            assert self.proc.poll() is None, f"the import ended before {what}:\n{self.output()}"
            assert time.monotonic() < deadline, f"never saw {what}:\n{self.output()}"
            time.sleep(0.1)
        return value

    def finish(self) -> int:
        return self.proc.wait(timeout=IMPORT_TIMEOUT)

    def output(self) -> str:
        return self.log.read_text()[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


@pytest.fixture
def start_import(import_dirs: Path) -> Iterator[Callable[..., Import]]:
    """Start imports; any still running when the test ends (it failed) is killed, and so are
    its live Slurm jobs (they would hold the shared cluster's CPUs)."""
    started: list[Import] = []

    def start(args: list[str], env: dict[str, str]) -> Import:
        started.append(Import(args, env, import_dirs / f"import-{len(started)}.log"))
        return started[-1]

    yield start
    if any(run.proc.poll() is None for run in started):
        for run in started:
            run.stop()
        live = ClusterJob.objects.filter(state__in=["pending", "running"]).exclude(job_id="")
        for job_id in live.values_list("job_id", flat=True):
            subprocess.run(["scancel", job_id], check=False, timeout=60)


def tasks_in(state: str) -> list[int]:
    """Chunk indices of this test's import's array tasks in ``state`` now."""
    run_id = import_run_id()
    if run_id is None:
        return []
    return [i for i, job_id, now in run_jobs(run_id) if now == state and "_" in job_id]


def running_tasks() -> list[int]:
    return tasks_in("RUNNING")


def job_of_task(run_id: int, index: int) -> ClusterJob:
    return ClusterJob.objects.get(
        import_run_id=run_id, spec__name=f"{align_array_name(run_id)}-{index}"
    )


def assert_same_database(expected: dict[str, object]) -> None:
    diff = differences(expected, dump_database())
    assert not diff, "\n".join(diff)


def test_a_task_cancelled_while_aligning_is_resubmitted_and_the_import_equals_a_clean_one(
    shared_data: Path, slurm_env: dict[str, str], start_import
) -> None:
    expected = clean_dump(shared_data)
    fresh_database(shared_data)
    importing = start_import(import_args(shared_data, "slurm"), slurm_env)

    cancelled = None
    while cancelled is None:  # a task may finish between squeue and scancel: take another
        index = importing.wait_until("a running align task", running_tasks)[0]
        run_id = import_run_id()
        slurm("scancel", f"{job_of_task(run_id, index).job_id}")
        time.sleep(0.5)
        if index in tasks_in("CANCELLED"):
            cancelled = index

    assert importing.finish() == 0, importing.output()
    run = ImportRun.objects.get(pk=run_id)
    assert run.state == "completed"
    job = job_of_task(run_id, cancelled)
    assert job.state == "completed" and job.attempts == 2, (job.job_id, job.attempts)
    assert "_" not in job.job_id  # resubmitted alone, not as a task of the array
    # and still shows the admin its import run
    comment = slurm("squeue", "-h", "-t", "all", "-j", job.job_id, "-O", "Comment:0").strip()
    assert comment == f"emgsonar import run {run_id}"
    listed = {j["key"]: j for j in run.summary["cluster_jobs"]}
    assert listed[job.key]["attempts"] == 2
    assert_same_database(expected)


def test_the_node_down_mid_import_loses_its_tasks_which_are_resubmitted(
    shared_data: Path, slurm_env: dict[str, str], start_import
) -> None:
    """``state=down`` kills the tasks running on the node (NODE_FAIL, or requeued by Slurm
    when submitted through slurmrestd, whose ``v0.0.38`` ignores ``requeue: false``). The dev
    cluster's ``ReturnToService=2`` would put the node back at once, so it is drained first:
    it then stays out of service (resubmitted tasks pend) until ``state=resume``."""
    expected = clean_dump(shared_data)
    fresh_database(shared_data)
    node = the_node()
    importing = start_import(import_args(shared_data, "slurm"), slurm_env)

    victims = importing.wait_until("a running align task", running_tasks)
    run_id = import_run_id()

    def killed() -> list[int] | None:
        """The victims killed with the node (NODE_FAIL, or requeued: slurmrestd submits with
        Slurm's requeue), once none runs; not those that completed just before."""
        states = {i: state for i, job_id, state in run_jobs(run_id) if "_" in job_id}
        if any(states.get(i) == "RUNNING" for i in victims):
            return None
        return [i for i in victims if states.get(i) != "COMPLETED"]

    try:
        slurm("scontrol", "update", f"nodename={node}", "state=drain", "reason=emgsonar test")
        slurm("scontrol", "update", f"nodename={node}", "state=down", "reason=emgsonar test")
        failed = importing.wait_until("the node's tasks killed", killed, timeout=30)
        time.sleep(5)  # the node is out of service for a while: resubmitted tasks pend
        assert not [job for job in run_jobs(run_id) if job[2] == "RUNNING"]
    finally:
        slurm("scontrol", "update", f"nodename={node}", "state=resume")

    assert importing.finish() == 0, importing.output()
    run = ImportRun.objects.get(pk=run_id)
    assert run.state == "completed"
    listed = {j["key"]: j for j in run.summary["cluster_jobs"]}
    for index in failed:
        job = job_of_task(run_id, index)
        assert job.state == "completed" and job.attempts == 2, (index, job.job_id)
        assert "_" not in job.job_id and listed[job.key]["attempts"] == 2
    assert_same_database(expected)


def test_a_task_over_its_memory_limit_fails_the_import_naming_out_of_memory(
    shared_data: Path, slurm_cluster: Path, import_dirs: Path, settings, start_import
) -> None:
    """300 genomes as one task (aligning takes seconds: Slurm looks at its memory every
    second) with a 20 MiB limit (an align job's Python alone needs more) and no resubmission:
    the import fails; its summary's cluster job and the Markdown artifact say OUT_OF_MEMORY
    with the limit."""
    fresh_database(shared_data)
    fasta = import_dirs / "300.fasta"
    fasta.write_text(first_records(shared_data / "sars-cov-2" / FASTA, OOM_RECORDS))
    env = {
        **subprocess_env(settings),
        "EMGSONAR_SLURM__MEMORY_MB_PER_JOB": "20",
        "EMGSONAR_SLURM__MAX_RESUBMITS": "0",
    }
    args = [
        "import_samples",
        "-r",
        "MN908947.3",
        "-f",
        str(fasta),
        "--chunk-size",
        str(OOM_RECORDS),
        "--executor",
        "slurm",
    ]
    importing = start_import(args, env)

    assert importing.finish() != 0
    output = importing.output()
    reason = "OUT_OF_MEMORY: exceeded its memory limit of 20 MiB"
    assert reason in output
    run = ImportRun.objects.get(kind="samples")
    assert run.state == "failed"
    [job] = run.summary["cluster_jobs"]
    assert (job["state"], job["reason"], job["attempts"]) == ("failed", reason, 1)
    [artifact] = artifacts_by_key(artifact_key("samples", run.pk, "summary"), run.flow_run_id)
    row = f"| {job['key']} | slurm | {job['job_id']} | failed | 1 | {reason} |"
    assert row in artifact.data, artifact.data
