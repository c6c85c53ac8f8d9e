"""Cluster jobs on the real one-node Slurm (through its commands and through slurmrestd) and on
the local backend, recorded in the database.

Every test taking ``backend`` runs on all three (``[slurm]``, ``[slurmrest]``, ``[local]``):
they must leave identical rows behind. ``transaction=True``: attach-or-submit locks rows and
racing callers use their own connections, as in production.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time

import pytest
from django.db import connection

from emgsonar.config import Executor, SlurmApi, SlurmConfig
from tests.conftest import REPO_ROOT
from workflows.cluster.backend import (
    ClusterBackend,
    JobSpec,
    JobState,
    ResultGrace,
    write_result_atomically,
)
from workflows.cluster.jobs import (
    ClusterJobError,
    ResubmitPolicy,
    attach_or_submit,
    get_backend,
    run_jobs,
    wait_for_jobs,
)
from workflows.cluster.local import LocalBackend
from workflows.cluster.slurm import SlurmCliBackend
from workflows.cluster.slurmrest import SlurmRestBackend
from workflows.models import ClusterJob

pytestmark = pytest.mark.django_db(transaction=True)

POLL = 0.2
TIMEOUT = 60.0


def _row_summary(job: ClusterJob) -> tuple:
    """The part of a row that must not depend on the backend."""
    return (job.key.split(":")[-1], job.state, job.attempts, job.exit_code, job.reason)


def _wait_until(backend: ClusterBackend, job: ClusterJob, state: JobState) -> None:
    spec = JobSpec.model_validate(job.spec)
    deadline = time.monotonic() + 20
    while backend.status(job.job_id, spec).state is not state:
        assert time.monotonic() < deadline, f"job {job.job_id} never became {state}"
        time.sleep(0.1)


@pytest.mark.slurm
def test_jobs_complete_and_every_backend_records_the_same(
    make_spec, slurm_backend, slurmrest_backend, local_backend
):
    """Two chunks per backend: completed, results written by the job, identical rows."""
    summaries = {}
    backends = {"cli": slurm_backend, "rest": slurmrest_backend, "local": local_backend}
    for label, backend in backends.items():
        specs = [make_spec(f"{label}-chunk{i}") for i in range(2)]
        progress: list[dict[str, int]] = []
        jobs = run_jobs(
            specs, backend, poll_seconds=POLL, on_progress=progress.append, timeout_seconds=TIMEOUT
        )
        assert progress[-1] == {"completed": 2}
        for spec, job in zip(specs, jobs, strict=True):
            assert job.backend == backend.name
            assert job.script.startswith("#!/bin/bash\n#SBATCH --job-name=")
            assert spec.result_path.read_text() == (
                f"{spec.name}\ttoken with spaces & $ymbols\tTrue\n"
            )
            assert backend.status(job.job_id, spec).state is JobState.COMPLETED
        summaries[label] = [
            (name.removeprefix(f"{label}-"), *rest) for name, *rest in map(_row_summary, jobs)
        ]
    assert (
        summaries["cli"]
        == summaries["rest"]
        == summaries["local"]
        == [
            ("chunk0", "completed", 1, "0", ""),
            ("chunk1", "completed", 1, "0", ""),
        ]
    )
    assert ClusterJob.objects.count() == 6


def test_second_attach_reattaches_instead_of_submitting(make_spec, backend):
    """Same key while running: same job id and one row; after completion: reused as is."""
    spec = make_spec("reattach", sleep=2)
    first = attach_or_submit(spec, backend)
    _wait_until(backend, first, JobState.RUNNING)
    second = attach_or_submit(spec, backend)
    assert second.job_id == first.job_id
    assert ClusterJob.objects.filter(key=spec.key).count() == 1

    [done] = wait_for_jobs([second], backend, poll_seconds=POLL, timeout_seconds=TIMEOUT)
    assert (done.state, done.attempts, done.job_id) == ("completed", 1, first.job_id)
    again = attach_or_submit(spec, backend)
    assert (again.state, again.attempts, again.job_id) == ("completed", 1, first.job_id)
    assert ClusterJob.objects.count() == 1


def test_racing_callers_submit_once(make_spec, backend):
    """Two threads (two DB connections) attach the same key at once: one submission."""
    spec = make_spec("race", sleep=1)
    barrier = threading.Barrier(2)
    job_ids: list[str] = []

    def attach() -> None:
        barrier.wait()
        try:
            job_ids.append(attach_or_submit(spec, backend).job_id)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=attach) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(job_ids) == 2 and job_ids[0] == job_ids[1]
    [job] = ClusterJob.objects.all()
    assert job.attempts == 1
    wait_for_jobs([job], backend, poll_seconds=POLL, timeout_seconds=TIMEOUT)


def test_job_cancelled_mid_run_is_lost_and_resubmitted(make_spec, backend):
    """An operator's cancel mid-run: classified lost, resubmitted by policy, then completed."""
    spec = make_spec("cancelled", sleep=60)
    job = attach_or_submit(spec, backend)
    first_id = job.job_id
    _wait_until(backend, job, JobState.RUNNING)
    started = spec.result_path.with_suffix(".started")  # the command itself is running
    deadline = time.monotonic() + 20
    while not started.exists():
        assert time.monotonic() < deadline, "the job's command never started"
        time.sleep(0.05)
    if isinstance(backend, SlurmCliBackend):
        subprocess.run(["scancel", first_id], check=True)  # as an operator would
    else:
        backend.cancel(first_id)
    _wait_until(backend, job, JobState.LOST)

    policy = ResubmitPolicy(max_resubmits=1, resubmit_on={JobState.LOST})
    [done] = wait_for_jobs([job], backend, policy, poll_seconds=POLL, timeout_seconds=TIMEOUT)
    assert (done.state, done.attempts) == ("completed", 2)
    assert done.job_id != first_id
    assert spec.result_path.is_file()
    assert ClusterJob.objects.count() == 1


def test_failing_job_exhausts_policy_with_log_tail(make_spec, backend):
    """Exit 1 twice with one resubmission allowed: the error names the job and shows its log."""
    spec = make_spec("broken", mode="fail")
    policy = ResubmitPolicy(max_resubmits=1)
    with pytest.raises(ClusterJobError) as caught:
        run_jobs([spec], backend, policy, poll_seconds=POLL, timeout_seconds=TIMEOUT)
    job = ClusterJob.objects.get(key=spec.key)
    assert (job.state, job.attempts, job.exit_code) == ("failed", 2, "1")
    message = str(caught.value)
    head, tail = message.split("last lines of its log:\n")
    assert head == (
        f"{spec.log_path}: cluster job '{spec.key}' ({backend.name} job {job.job_id}) is failed, "
        "exit code 1 (NonZeroExitCode), after 2 attempt(s); "
    )
    # both attempts appended to the log; the tail shows the command's own error output
    assert tail.count("boom: chunk broken is broken") == 2
    assert tail.endswith(
        "boom: chunk broken is broken. Fix the cause and run again: completed jobs are reused, "
        "the others resubmitted."
    )
    assert caught.value.job_keys == (spec.key,)
    assert job.log_tail in message


def test_exit_zero_without_result_is_failed(make_spec, backend):
    """A job is completed only when its result file exists, whatever its exit code."""
    spec = make_spec("noresult", mode="noresult")
    with pytest.raises(ClusterJobError, match="exited 0 but wrote no result file"):
        run_jobs([spec], backend, ResubmitPolicy(max_resubmits=0), poll_seconds=POLL)
    job = ClusterJob.objects.get()
    assert (job.state, job.exit_code, job.attempts) == ("failed", "0", 1)


def test_result_file_that_appears_late_is_waited_for(make_spec, backend):
    """A job that exited 0 before its result file was visible here (a shared file system shows
    another node's rename late) completes on its first attempt within the grace period."""
    backend.result_grace = ResultGrace(30.0)
    spec = make_spec("late", mode="late")
    written = spec.result_path.with_suffix(".late")
    seen: list[str] = []

    def shared_file_system() -> None:
        deadline = time.monotonic() + TIMEOUT
        while not written.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(5.0)  # the job has exited by now; its rename shows up here only now
        seen.append(ClusterJob.objects.get().reason)
        written.rename(spec.result_path)
        connection.close()

    mover = threading.Thread(target=shared_file_system)
    mover.start()
    try:
        (job,) = run_jobs([spec], backend, ResubmitPolicy(max_resubmits=2), poll_seconds=POLL)
    finally:
        mover.join()
    assert (job.state, job.exit_code, job.attempts) == ("completed", "0", 1)
    assert seen == ["exited 0, waiting for its result file"]


def test_exit_zero_without_result_is_failed_after_the_grace(make_spec, backend):
    """The grace period ends: no result file by then is a failure, as without one."""
    backend.result_grace = ResultGrace(2.0)
    spec = make_spec("noresult", mode="noresult")
    with pytest.raises(ClusterJobError, match="exited 0 but wrote no result file"):
        run_jobs([spec], backend, ResubmitPolicy(max_resubmits=0), poll_seconds=POLL)
    job = ClusterJob.objects.get()
    assert (job.state, job.exit_code, job.attempts) == ("failed", "0", 1)


def test_rerun_after_failure_submits_again_and_result_file_is_proof(make_spec, backend):
    """A key that failed is submitted afresh by a new run; an existing result needs no job."""
    spec = make_spec("flaky", mode="fail")
    policy = ResubmitPolicy(max_resubmits=0)
    with pytest.raises(ClusterJobError):
        run_jobs([spec], backend, policy, poll_seconds=POLL, timeout_seconds=TIMEOUT)
    failed = ClusterJob.objects.get(key=spec.key)

    rerun = attach_or_submit(spec, backend)
    assert (rerun.state, rerun.attempts) == ("pending", 1)
    assert rerun.job_id != failed.job_id
    with pytest.raises(ClusterJobError):
        wait_for_jobs([rerun], backend, policy, poll_seconds=POLL, timeout_seconds=TIMEOUT)

    fresh = make_spec("precomputed")
    write_result_atomically(fresh.result_path, "done elsewhere\n")
    job = attach_or_submit(fresh, backend)
    assert (job.state, job.job_id, job.attempts, job.reason) == (
        "completed",
        "",
        0,
        "result file already present",
    )
    assert ClusterJob.objects.count() == 2


def test_job_unknown_to_slurm_is_lost_after_grace_unless_its_result_exists(
    make_spec, any_slurm_backend
):
    """Slurm does not know the id: pending within the grace period, then lost; done if the
    result file is there."""
    spec = make_spec("unknown")
    never = "999999"
    within = any_slurm_backend.status(never, spec, last_seen=time.time())
    assert (within.state, within.known) == (JobState.PENDING, False)
    gone = any_slurm_backend.status(never, spec, last_seen=time.time() - 31)
    assert (gone.state, gone.known) == (JobState.LOST, False)
    unseen = re.fullmatch(r"unknown to the scheduler for (\d+) s and no result file", gone.reason)
    assert unseen is not None and int(unseen.group(1)) >= 31, gone.reason
    write_result_atomically(spec.result_path, "x\n")
    assert any_slurm_backend.status(never, spec, last_seen=time.time() - 31).state is (
        JobState.COMPLETED
    )


def test_get_backend_follows_the_config(settings):
    """One backend per executor and config in a process (the local pool must be shared)."""
    slurm = get_backend("slurm")
    assert isinstance(slurm, SlurmCliBackend)
    assert slurm.project_dir == settings.EMGSONAR_CONFIG.slurm.project_dir
    assert get_backend(Executor.SLURM) is slurm
    local = get_backend("local")
    assert isinstance(local, LocalBackend)
    assert local.max_workers == settings.EMGSONAR_CONFIG.import_jobs()
    default = get_backend()
    assert default.name == settings.EMGSONAR_CONFIG.imports.executor


def test_get_backend_speaks_rest_when_configured(settings):
    """EMGSONAR_SLURM__API=rest: the slurm executor goes through slurmrestd."""
    config = settings.EMGSONAR_CONFIG
    slurm = config.slurm.model_copy(update={"api": SlurmApi.REST, "rest_url": "http://x:1"})
    settings.EMGSONAR_CONFIG = config.model_copy(update={"slurm": slurm})
    backend = get_backend("slurm")
    assert isinstance(backend, SlurmRestBackend)
    assert backend.base == "http://x:1/slurm/v0.0.38"
    assert backend.name == "slurm"  # same scheduler, same job ids as the CLI backend


def test_slurm_conf_is_explicit_or_the_environment_or_the_dev_cluster(
    monkeypatch, tmp_path, slurm_cluster
):
    """The dev cluster never writes /etc/slurm, so an unset conf falls back to its config,
    unless the environment names one (then Slurm's own lookup reads SLURM_CONF)."""
    assert SlurmConfig(conf=tmp_path / "site.conf").slurm_conf() == tmp_path / "site.conf"
    monkeypatch.setenv("SLURM_CONF", "/elsewhere/slurm.conf")
    assert SlurmConfig().slurm_conf() is None
    monkeypatch.delenv("SLURM_CONF")
    assert SlurmConfig().slurm_conf() == REPO_ROOT / ".data" / "slurm" / "slurm.conf"
