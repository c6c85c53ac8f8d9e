"""Job arrays: an import step's chunks as ONE ``sbatch --array`` on the real one-node Slurm
(through its commands and through slurmrestd) and locally; one scheduler call per poll for
every task; out-of-memory and time-limit failures named as such.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from workflows.cluster.backend import ArraySpec, ClusterBackend, JobSpec, JobState
from workflows.cluster.jobs import (
    ClusterJobError,
    ResubmitPolicy,
    attach_or_submit_array,
    wait_for_jobs,
    wait_for_leading_jobs,
)
from workflows.cluster.slurm import SlurmCliBackend
from workflows.cluster.slurmrest import SlurmRestBackend
from workflows.models import ClusterJob

pytestmark = pytest.mark.django_db(transaction=True)

POLL = 0.2
TIMEOUT = 90.0


def _squeue(job_id: str, fields: str) -> list[list[str]]:
    """``squeue`` as an admin runs it: one row per task of the array (or the job)."""
    proc = subprocess.run(
        ["squeue", "-h", "-r", "-t", "all", "-j", job_id.split("_")[0], "-O", fields],
        capture_output=True,
        text=True,
        check=True,
    )
    return [line.split("|") for line in proc.stdout.splitlines()]


class _CountingCalls:
    """Counts the scheduler calls a backend makes (the real calls, passed through)."""

    def __init__(self, backend: ClusterBackend) -> None:
        self.calls: list[str] = []
        if isinstance(backend, SlurmRestBackend):
            real_request = backend._request

            def request(method: str, path: str, *args, **kwargs):
                self.calls.append(f"{method} {path}")
                return real_request(method, path, *args, **kwargs)

            backend._request = request  # type: ignore[method-assign]
        elif isinstance(backend, SlurmCliBackend):
            real_run = backend._run

            def run(*args: str, **kwargs):
                self.calls.append(args[0])
                return real_run(*args, **kwargs)

            backend._run = run  # type: ignore[method-assign]


@pytest.fixture
def counted(backend: ClusterBackend) -> Iterator[tuple[ClusterBackend, list[str]]]:
    counter = _CountingCalls(backend)
    yield backend, counter.calls


def _tasks(make_spec, array: str, n: int, **kwargs) -> list[JobSpec]:
    return [make_spec(f"{array}-{i}", **kwargs) for i in range(1, n + 1)]


def test_array_runs_every_task_with_one_submission_and_one_call_per_poll(make_spec, counted):
    """Five tasks: one submission, job ids <array>_<i>, results written; every poll of all
    five is one scheduler call (squeue, or GET jobs)."""
    backend, calls = counted
    specs = _tasks(make_spec, "arr", 5)
    rows = attach_or_submit_array(
        specs, backend, name="arr", comment="emgsonar import run 7", max_running=2
    )
    submissions = [call for call in calls if call in ("sbatch", "POST job/submit")]
    assert len(submissions) == (0 if backend.name == "local" else 1), calls
    if backend.name == "slurm":
        array_id = rows[0].job_id.split("_")[0]
        assert [row.job_id for row in rows] == [f"{array_id}_{i}" for i in range(1, 6)]
    assert len({row.job_id for row in rows}) == 5

    calls.clear()
    polls: list[dict[str, int]] = []
    done = wait_for_jobs(
        rows, backend, poll_seconds=POLL, on_progress=polls.append, timeout_seconds=TIMEOUT
    )
    assert [(row.state, row.attempts, row.exit_code) for row in done] == [("completed", 1, "0")] * 5
    for spec in specs:
        assert spec.result_path.read_text().startswith(f"{spec.name}\t")
    if backend.name == "slurm":
        # wait_for_jobs polled with squeue (or GET jobs) only, never per task
        assert calls and set(calls) <= {"squeue", "GET jobs"}, calls
        calls.clear()
        statuses = backend.status_many(
            [(row.job_id, spec, None) for row, spec in zip(rows, specs, strict=True)]
        )
        assert {s.state for s in statuses.values()} == {JobState.COMPLETED}
        assert calls in (["squeue"], ["GET jobs"])


@pytest.mark.slurm
def test_admin_sees_one_named_array_with_the_run_in_its_comment(make_spec, any_slurm_backend):
    """squeue: every task under one array job id, the array's name and comment on each row;
    the throttle holds the others back (reason JobArrayTaskLimit)."""
    specs = _tasks(make_spec, "emgsonar-run7-align", 3, sleep=3)
    rows = attach_or_submit_array(
        specs,
        any_slurm_backend,
        name="emgsonar-run7-align",
        comment="emgsonar import run 7",
        max_running=1,
    )
    array_id = rows[0].job_id.split("_")[0]
    deadline = time.monotonic() + 20
    while True:
        listed = _squeue(array_id, "ArrayJobID:0|,Name:0|,Comment:0|,State:0|,Reason:0")
        states = sorted(state for *_, state, _ in listed)
        if states.count("RUNNING") == 1:
            break
        assert time.monotonic() < deadline, listed
        time.sleep(0.1)
    assert {(a, name, comment) for a, name, comment, _, _ in listed} == {
        (array_id, "emgsonar-run7-align", "emgsonar import run 7")
    }
    assert states == ["PENDING", "PENDING", "RUNNING"]
    assert {reason for *_, state, reason in listed if state == "PENDING"} == {"JobArrayTaskLimit"}
    wait_for_jobs(rows, any_slurm_backend, poll_seconds=POLL, timeout_seconds=TIMEOUT)


def test_rerun_attaches_to_live_tasks_and_resubmits_only_the_failed_one(make_spec, backend):
    """A second call while the array runs submits nothing; after task 2 failed for good, a new
    run submits an array of just that task (index 2), and reuses the others."""
    specs = _tasks(make_spec, "rerun", 3, sleep=2)
    specs[1] = make_spec("rerun-2", mode="fail")
    first = attach_or_submit_array(specs, backend, name="rerun")
    again = attach_or_submit_array(specs, backend, name="rerun")
    assert [row.job_id for row in again] == [row.job_id for row in first]
    assert ClusterJob.objects.count() == 3
    with pytest.raises(ClusterJobError, match="is failed, exit code 1"):
        wait_for_jobs(
            first, backend, ResubmitPolicy(max_resubmits=0), poll_seconds=POLL, timeout_seconds=60
        )
    states = {row.key.split(":")[-1]: row.state for row in ClusterJob.objects.all()}
    assert states == {"rerun-1": "completed", "rerun-2": "failed", "rerun-3": "completed"}

    rerun = attach_or_submit_array(specs, backend, name="rerun")
    assert [row.job_id for row in rerun][::2] == [first[0].job_id, first[2].job_id]
    assert rerun[1].job_id != first[1].job_id and rerun[1].state == "pending"
    if backend.name == "slurm":
        assert rerun[1].job_id.endswith("_2")
        dispatcher = (specs[1].work_dir / "rerun.array.sh").read_text()
        assert "#SBATCH --array=2\n" in dispatcher
    with pytest.raises(ClusterJobError, match="is failed"):
        wait_for_jobs(
            rerun, backend, ResubmitPolicy(max_resubmits=0), poll_seconds=POLL, timeout_seconds=60
        )


def test_leading_jobs_are_returned_in_order_and_a_failed_first_one_raises_at_the_end(
    make_spec, backend
):
    """``wait_for_leading_jobs`` gives back the completed jobs from the first one on, never one
    behind a job that cannot complete; when the first cannot, it raises after the others end."""
    policy = ResubmitPolicy(max_resubmits=0)
    specs = _tasks(make_spec, "lead", 3)
    specs[1] = make_spec("lead-2", mode="fail")
    rows = attach_or_submit_array(specs, backend, name="lead")
    leading = wait_for_leading_jobs(rows, backend, policy, poll_seconds=POLL, timeout_seconds=60)
    assert [row.pk for row in leading] == [rows[0].pk]
    with pytest.raises(ClusterJobError, match=r"'test:.*lead-2' .* is failed, exit code 1"):
        wait_for_leading_jobs(rows[1:], backend, policy, poll_seconds=POLL, timeout_seconds=60)
    states = {row.key.split(":")[-1]: row.state for row in ClusterJob.objects.all()}
    assert states == {"lead-1": "completed", "lead-2": "failed", "lead-3": "completed"}


@pytest.mark.slurm
def test_out_of_memory_and_time_limit_are_named_in_the_state(
    make_spec, slurm_backend, slurmrest_backend
):
    """One array with a 150 MiB and 1 minute limit: a task using 800 MiB is OUT_OF_MEMORY, one
    sleeping 5 minutes is TIMEOUT, the third completes; both Slurm backends say so alike."""
    limits = {"memory_mb": 150, "time_limit": "00:01:00"}
    specs = [
        make_spec("limits-1").model_copy(update=limits),
        make_spec("limits-2", mode="oom").model_copy(update=limits),
        make_spec("limits-3", sleep=300).model_copy(update=limits),
    ]
    job_ids = slurm_backend.submit_array(ArraySpec(name="limits", tasks=specs))
    queries = [(job_id, spec, None) for job_id, spec in zip(job_ids, specs, strict=True)]
    deadline = time.monotonic() + 150  # Slurm checks time limits about every 30 s
    while True:
        statuses = slurm_backend.status_many(queries)
        if all(s.state not in (JobState.PENDING, JobState.RUNNING) for s in statuses.values()):
            break
        assert time.monotonic() < deadline, statuses
        time.sleep(1)
    expected = [
        (JobState.COMPLETED, "COMPLETED", 0, ""),
        (
            JobState.FAILED,
            "OUT_OF_MEMORY",
            -9,
            "OUT_OF_MEMORY: exceeded its memory limit of 150 MiB",
        ),
        (JobState.FAILED, "TIMEOUT", -15, "TIMEOUT: reached its time limit of 00:01:00"),
    ]
    for backend in (slurm_backend, slurmrest_backend):
        statuses = backend.status_many(queries)
        got = [(s.state, s.raw, s.exit_code, s.reason) for s in map(statuses.get, job_ids)]
        assert got == expected, backend
    # the evidence is Slurm's own: slurmstepd's line in the task's log
    assert "Exceeded job memory limit" in specs[1].log_path.read_text()


@pytest.mark.parametrize("task_name", ["other-1", "arr-01", "arr-0", "arr-x"])
def test_array_task_names_carry_their_index(make_spec, task_name):
    """Task i is '<array>-<i>' (no padding: Slurm's own output file for it is '<array>-<i>.log')."""
    with pytest.raises(ValueError, match="must be named 'arr-<index>'"):
        ArraySpec(name="arr", tasks=[make_spec(task_name)])


def test_tasks_are_submitted_in_the_callers_order_not_key_order(make_spec, local_backend):
    """The flow loads chunk 1 first; the local executor starts tasks in submission order, so
    submitting in key order (``arr-1, arr-10, arr-11, arr-12, arr-2, …``) made the first load
    wait for most chunks of a large import."""
    specs = [make_spec(f"arr-{i}") for i in range(1, 13)]
    assert sorted(s.key for s in specs) != [s.key for s in specs]  # key order differs
    rows = attach_or_submit_array(specs, local_backend, name="arr")
    sequence = [int(row.job_id.rsplit("-", 1)[1]) for row in rows]
    assert sequence == sorted(sequence), [row.job_id for row in rows]
    wait_for_jobs(rows, local_backend, ResubmitPolicy(), poll_seconds=POLL, timeout_seconds=TIMEOUT)
