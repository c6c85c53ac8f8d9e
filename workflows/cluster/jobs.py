"""Cluster jobs recorded in the database: attach-or-submit, wait, resubmit by policy.

Why a database row per job: a retried or re-run flow must find the job it already submitted and
wait for it (or reuse its result) instead of submitting it again, and two flows racing on the
same chunk must not both submit. The row's ``key`` is deterministic and unique, and every
submission happens while holding that row's lock, so there is at most one live job per key.

Needs Django set up (the caller's business); knows nothing of Prefect, so flows wrap these
functions in tasks and tests call them directly.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field

from emgsonar.config import Executor, SlurmApi
from emgsonar.errors import ConflictError, EmgsonarError
from workflows.cluster.backend import (
    ArraySpec,
    ClusterBackend,
    ClusterBackendError,
    JobSpec,
    JobState,
    JobStatus,
)
from workflows.cluster.local import LocalBackend
from workflows.cluster.slurm import SlurmCliBackend
from workflows.cluster.slurmrest import SlurmRestBackend
from workflows.models import ClusterJob

logger = logging.getLogger(__name__)

#: a job known to the scheduler gets its ``last_seen`` refreshed at least this often, so that
#: another process re-attaching to it does not take it for lost
LAST_SEEN_REFRESH_SECONDS = 5.0
#: local jobs die with their process: another process takes them for lost this soon after the
#: owner stopped refreshing ``last_seen``
LOCAL_LOST_AFTER_SECONDS = 15.0
#: at most this many failed jobs are described (with log tails) in one ClusterJobError
MAX_FAILURES_IN_MESSAGE = 3

ProgressCallback = Callable[[dict[str, int]], None]


@dataclass(eq=False)
class ClusterJobError(EmgsonarError):
    """Cluster jobs failed (or were lost) and the resubmission policy is exhausted.

    The message names each job's key, job id, state, exit code and the tail of its log, because
    that is what an operator needs to fix the cause without opening the work directory.

    :param job_keys: keys of every job that did not complete.
    """

    job_keys: tuple[str, ...] = ()
    code: ClassVar[str] = "cluster_job_failed"


class ResubmitPolicy(BaseModel):
    """When a job that did not complete is submitted again.

    :param max_resubmits: resubmissions after the first attempt (so at most ``1 + max_resubmits``
        attempts per job and wait).
    :param resubmit_on: the states that are worth another attempt; ``lost`` (cancelled,
        preempted, node failure, vanished) nearly always is, ``failed`` (the command exited
        non-zero, timed out, ran out of memory) only for flaky commands.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_resubmits: int = Field(default=2, ge=0)
    resubmit_on: frozenset[JobState] = frozenset({JobState.FAILED, JobState.LOST})

    @classmethod
    def from_config(cls) -> ResubmitPolicy:
        """The policy of the emgsonar config (``EMGSONAR_SLURM__MAX_RESUBMITS``)."""
        return cls(max_resubmits=settings.EMGSONAR_CONFIG.slurm.max_resubmits)


_backends: dict[tuple[str, str], ClusterBackend] = {}


def get_backend(executor: Executor | str | None = None) -> ClusterBackend:
    """The backend for an executor, configured from ``settings.EMGSONAR_CONFIG``.

    One instance per executor and configuration per process: the local backend's jobs live in
    its pool, so every caller in the process must share it.

    :param executor: ``local`` or ``slurm``; None: the configured default
        (``EMGSONAR_IMPORTS__EXECUTOR``). Slurm is spoken to through its commands or
        slurmrestd as ``EMGSONAR_SLURM__API`` (``cli``/``rest``) says.
    """
    config = settings.EMGSONAR_CONFIG
    executor = Executor(executor or config.imports.executor)
    cache_key = (executor.value, config.slurm.model_dump_json() + str(config.import_jobs()))
    backend = _backends.get(cache_key)
    if backend is None:
        if executor is Executor.SLURM and config.slurm.api is SlurmApi.REST:
            backend = SlurmRestBackend.from_config(config.slurm)
        elif executor is Executor.SLURM:
            backend = SlurmCliBackend.from_config(config.slurm)
        else:
            backend = LocalBackend(
                max_workers=config.import_jobs(),
                python=config.slurm.python,
                project_dir=config.slurm.project_dir,
                lost_after_seconds=LOCAL_LOST_AFTER_SECONDS,
            )
        _backends[cache_key] = backend
    return backend


def _close_stale_connections() -> None:
    """Drop DB connections the server may have closed during a long wait.

    Skipped inside a transaction: closing there would throw the transaction away.
    """
    if not transaction.get_connection().in_atomic_block:
        close_old_connections()


def _epoch(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


def _submit_locked(job: ClusterJob, spec: JobSpec, backend: ClusterBackend) -> None:
    """Submit ``spec`` for the (locked) row ``job`` and record the new attempt."""
    _record_submission(job, spec, backend, backend.submit(spec))


def _record_submission(
    job: ClusterJob, spec: JobSpec, backend: ClusterBackend, job_id: str
) -> None:
    """Record on the (locked) row ``job`` that ``spec`` was just submitted as ``job_id``."""
    job.job_id = job_id
    job.backend = backend.name
    job.state = ClusterJob.State.PENDING
    job.attempts += 1
    job.exit_code = ""
    job.reason = ""
    job.script = backend.render_script(spec)
    job.spec = spec.model_dump(mode="json")
    job.input_hash = spec.input_hash
    job.work_dir = str(spec.work_dir)
    job.result_path = str(spec.result_path)
    job.last_seen = timezone.now()
    job.save()


def attach_or_submit(
    spec: JobSpec, backend: ClusterBackend, import_run_id: int | None = None
) -> ClusterJob:
    """The job for ``spec.key``: reused, re-attached, or submitted now, never twice.

    * completed, result file present → reused as it is;
    * pending or running on this backend → re-attached (same job id, nothing submitted);
    * failed or lost (an earlier run gave up), completed but its result file gone, or never
      seen → submitted, with a fresh attempt count;
    * no row yet but the result file exists → recorded as completed without submitting (the
      file is the proof of work; result paths must be unique per key).

    The row is created or locked (``SELECT ... FOR UPDATE``) in one transaction around the
    submission, so a racing caller with the same key blocks until this one has committed the
    job id, then re-attaches to it.

    :raises ConflictError: the key's job is still live on another backend.
    :raises ClusterBackendError: the submission failed (nothing is recorded then).
    """
    with transaction.atomic():
        job, submit = _attach_locked(spec, backend, import_run_id)
        if submit:
            _submit_locked(job, spec, backend)
        return job


def _attach_locked(
    spec: JobSpec, backend: ClusterBackend, import_run_id: int | None
) -> tuple[ClusterJob, bool]:
    """The locked row for ``spec.key`` (created if new) and whether it must be submitted now;
    the decision of :func:`attach_or_submit`. Call inside a transaction.

    :raises ConflictError: the key's job is still live on another backend.
    """
    job, created = ClusterJob.objects.select_for_update().get_or_create(
        key=spec.key,
        defaults={
            "backend": backend.name,
            "import_run_id": import_run_id,
            "spec": spec.model_dump(mode="json"),
            "input_hash": spec.input_hash,
            "work_dir": str(spec.work_dir),
            "result_path": str(spec.result_path),
        },
    )
    if import_run_id is not None and job.import_run_id != import_run_id:
        job.import_run_id = import_run_id
        job.save(update_fields=["import_run", "updated"])
    live = job.job_id and job.state in (ClusterJob.State.PENDING, ClusterJob.State.RUNNING)
    if live and job.backend == backend.name:
        logger.info("re-attached to %s (%s job %s)", spec.key, job.backend, job.job_id)
        return job, False
    if live:
        raise ConflictError(
            f"cluster job '{spec.key}' is still {job.state} on {job.backend} "
            f"(job {job.job_id}), so it cannot run on {backend.name} now",
            hint=f"Wait for it, or cancel it and mark it failed, then use {backend.name}",
        )
    if spec.result_exists() and (job.state == ClusterJob.State.COMPLETED or created):
        if created:
            job.state = ClusterJob.State.COMPLETED
            job.reason = "result file already present"
            job.save(update_fields=["state", "reason", "updated"])
        logger.info("reusing the result of %s: %s", spec.key, spec.result_path)
        return job, False
    if not created:
        job.attempts = 0  # a new run of an earlier failure deserves the full policy
    return job, True


def attach_or_submit_array(
    specs: Sequence[JobSpec],
    backend: ClusterBackend,
    *,
    name: str,
    comment: str = "",
    max_running: int | None = None,
    import_run_id: int | None = None,
) -> list[ClusterJob]:
    """:func:`attach_or_submit` for many specs at once, the ones to submit as ONE job array.

    Each spec is decided as in :func:`attach_or_submit` (reused, re-attached, or to submit);
    those to submit go out in one ``sbatch --array`` (indices from their names, see
    :class:`~workflows.cluster.backend.ArraySpec`), so an import step is one line in
    ``squeue`` per run, named ``name`` with ``comment``. Rows are locked in key order, so two
    racing callers do not deadlock and the second re-attaches to the first one's tasks.

    :param specs: the tasks; spec *i* named ``<name>-<index>``. Each is recorded with
        ``comment`` (unless it has its own), so a task resubmitted alone carries it too.
    :param name: the array's job name (what an admin sees in ``squeue``).
    :param comment: the array's ``--comment`` (e.g. ``emgsonar import run 42``).
    :param max_running: the array's throttle; default ``EMGSONAR_SLURM__ARRAY_MAX_RUNNING``.
    :returns: the rows, in the order of ``specs``.
    :raises ConflictError: a key's job is still live on another backend.
    :raises ClusterBackendError: the submission failed (nothing is recorded then).
    """
    if max_running is None:
        max_running = settings.EMGSONAR_CONFIG.slurm.array_max_running
    rows: dict[str, ClusterJob] = {}
    with transaction.atomic():
        to_submit: list[tuple[ClusterJob, JobSpec]] = []
        for spec in sorted(specs, key=lambda spec: spec.key):
            if comment and not spec.comment:
                spec = spec.model_copy(update={"comment": comment})
            job, submit = _attach_locked(spec, backend, import_run_id)
            rows[spec.key] = job
            if submit:
                to_submit.append((job, spec))
        if to_submit:
            # submitted in the caller's order (chunk order): the local executor starts tasks in
            # list order, and the flow loads chunk 1 first; key order made the first load wait
            # for nearly every chunk of a 200-chunk import
            order = {spec.key: i for i, spec in enumerate(specs)}
            to_submit.sort(key=lambda pair: order[pair[1].key])
            array = ArraySpec(
                name=name,
                comment=comment,
                tasks=[spec for _, spec in to_submit],
                max_running=max_running,
            )
            job_ids = backend.submit_array(array)
            for (job, spec), job_id in zip(to_submit, job_ids, strict=True):
                _record_submission(job, spec, backend, job_id)
    return [rows[spec.key] for spec in specs]


def _describe(job: ClusterJob) -> str:
    exit_code = job.exit_code or "none"
    reason = f" ({job.reason})" if job.reason else ""
    tail = job.log_tail.strip() or "(empty)"
    return (
        f"cluster job '{job.key}' ({job.backend} job {job.job_id or '-'}) is {job.state}, "
        f"exit code {exit_code}{reason}, after {job.attempts} attempt(s); "
        f"last lines of its log:\n{tail}"
    )


def _failure_error(failed: Sequence[ClusterJob], total: int) -> ClusterJobError:
    parts = [_describe(job) for job in failed[:MAX_FAILURES_IN_MESSAGE]]
    if len(failed) > MAX_FAILURES_IN_MESSAGE:
        parts.append(f"... and {len(failed) - MAX_FAILURES_IN_MESSAGE} more")
    if len(failed) == 1:
        problem = parts[0]
    else:
        problem = f"{len(failed)} of {total} cluster jobs did not complete:\n" + "\n".join(parts)
    spec = failed[0].spec or {}
    log_path = f"{spec['work_dir']}/{spec['name']}.log" if spec.get("name") else None
    return ClusterJobError(
        problem,
        path=log_path,
        hint="Fix the cause and run again: completed jobs are reused, the others resubmitted",
        job_keys=tuple(job.key for job in failed),
    )


def _apply_status(
    job: ClusterJob, status: JobStatus, backend: ClusterBackend, policy: ResubmitPolicy
) -> None:
    """Record ``status`` for ``job``; resubmit by ``policy``. Updates ``job`` in place.

    Writes are conditional on the job id the status was read for, so that when two processes
    wait on the same job, only one resubmits it and the other adopts the new job.
    """
    now = timezone.now()
    exit_code = "" if status.exit_code is None else str(status.exit_code)
    refresh = status.known and (
        job.last_seen is None or (now - job.last_seen).total_seconds() > LAST_SEEN_REFRESH_SECONDS
    )
    changed = (job.state, job.exit_code, job.reason) != (status.state, exit_code, status.reason)
    if status.state in (JobState.FAILED, JobState.LOST):
        spec = JobSpec.model_validate(job.spec)
        with transaction.atomic():
            locked = ClusterJob.objects.select_for_update().get(pk=job.pk)
            if locked.job_id != job.job_id or locked.state not in (
                ClusterJob.State.PENDING,
                ClusterJob.State.RUNNING,
            ):
                # another process got here first (resubmitted, or recorded the end)
                _copy_into(job, locked)
                return
            locked.state = status.state
            locked.exit_code = exit_code
            locked.reason = status.reason[:255]
            locked.log_tail = backend.log_tail(spec)
            if status.state in policy.resubmit_on and locked.attempts <= policy.max_resubmits:
                logger.warning(
                    "cluster job %s (%s job %s) is %s (exit code %s, %s); resubmitting, "
                    "attempt %d of %d",
                    job.key,
                    locked.backend,
                    locked.job_id,
                    status.state,
                    exit_code or "none",
                    status.reason,
                    locked.attempts + 1,
                    policy.max_resubmits + 1,
                )
                backend.cancel(locked.job_id)  # a "lost" job might still be running somewhere
                _submit_locked(locked, spec, backend)
            else:
                locked.save()
            _copy_into(job, locked)
        return
    if not (changed or refresh):
        return
    fields = {
        "state": status.state.value,
        "exit_code": exit_code,
        "reason": status.reason[:255],
        "updated": now,
    }
    if status.known:
        fields["last_seen"] = now
    if status.state is JobState.COMPLETED:
        fields["log_tail"] = ""
    ClusterJob.objects.filter(pk=job.pk, job_id=job.job_id).update(**fields)
    for name, value in fields.items():
        setattr(job, name, value)


def _apply_status_or_retry(
    job: ClusterJob, status: JobStatus, backend: ClusterBackend, policy: ResubmitPolicy
) -> None:
    """:func:`_apply_status`, where a resubmission the scheduler refused for now (controller
    unreachable, slurmrestd failing) is tried again at the next poll, like a failed poll:
    nothing was recorded (the transaction rolled back), so the job is still seen lost."""
    try:
        _apply_status(job, status, backend, policy)
    except ClusterBackendError as exc:
        logger.warning(
            "could not resubmit cluster job %s (%s job %s, %s): %s; trying again",
            job.key,
            job.backend,
            job.job_id,
            status.state,
            exc,
        )


def _copy_into(target: ClusterJob, source: ClusterJob) -> None:
    for model_field in ClusterJob._meta.concrete_fields:
        setattr(target, model_field.attname, getattr(source, model_field.attname))


def wait_for_jobs(
    jobs: Iterable[ClusterJob],
    backend: ClusterBackend,
    policy: ResubmitPolicy | None = None,
    poll_seconds: float | None = None,
    on_progress: ProgressCallback | None = None,
    timeout_seconds: float | None = None,
) -> list[ClusterJob]:
    """Poll until every job has completed, resubmitting failed or lost ones by ``policy``.

    Waits for *all* jobs before raising, so the ones that can complete do, and a re-run reuses
    them. Scheduler hiccups (controller unreachable) are logged and polled through; they are not
    evidence that a job is lost.

    :param jobs: rows returned by :func:`attach_or_submit`.
    :param policy: default :meth:`ResubmitPolicy.from_config`.
    :param poll_seconds: default ``EMGSONAR_SLURM__POLL_SECONDS``.
    :param on_progress: called with ``{state: count}`` whenever the counts change.
    :param timeout_seconds: give up (and raise) after this long; None waits as long as it takes.
    :returns: the rows, refreshed, in the order given.
    :raises ClusterJobError: some jobs did not complete and the policy is exhausted, or the
        timeout passed.
    """
    result = _watch(jobs, backend, policy, poll_seconds, on_progress, timeout_seconds)
    failed = [job for job in result if job.state != ClusterJob.State.COMPLETED]
    if failed:
        raise _failure_error(failed, len(result))
    return result


def wait_for_leading_jobs(
    jobs: Sequence[ClusterJob],
    backend: ClusterBackend,
    policy: ResubmitPolicy | None = None,
    poll_seconds: float | None = None,
    on_progress: ProgressCallback | None = None,
    timeout_seconds: float | None = None,
) -> list[ClusterJob]:
    """:func:`wait_for_jobs` that returns as soon as the *first* job has completed, with every
    completed job right after it (the leading run of completed jobs).

    Why: a flow loads chunk results in chunk order (what a chunk's load writes can depend on
    the chunks before it) while later jobs still run; it calls this again with the rest, and
    each poll is still one scheduler call for all of them. When the first job cannot complete,
    it raises once no job is pending or running (the others that can complete do, and a re-run
    reuses them).

    :returns: the leading completed rows (at least one), refreshed, in the order given.
    :raises ClusterJobError: the first job did not complete and the policy is exhausted, or
        the timeout passed.
    """

    def first_completed(rows: Sequence[ClusterJob]) -> bool:
        return rows[0].state == ClusterJob.State.COMPLETED

    rows = _watch(
        jobs, backend, policy, poll_seconds, on_progress, timeout_seconds, until=first_completed
    )
    leading = list(itertools.takewhile(lambda job: job.state == ClusterJob.State.COMPLETED, rows))
    if not leading:
        failed = [job for job in rows if job.state != ClusterJob.State.COMPLETED]
        raise _failure_error(failed, len(rows))
    return leading


def _is_live(job: ClusterJob) -> bool:
    return job.state in (ClusterJob.State.PENDING, ClusterJob.State.RUNNING)


def _watch(
    jobs: Iterable[ClusterJob],
    backend: ClusterBackend,
    policy: ResubmitPolicy | None,
    poll_seconds: float | None,
    on_progress: ProgressCallback | None,
    timeout_seconds: float | None,
    until: Callable[[Sequence[ClusterJob]], bool] | None = None,
) -> list[ClusterJob]:
    """Poll (one :meth:`~ClusterBackend.status_many` per round) until no job is pending or
    running, or ``until`` the rows holds; the rows, refreshed, in the order given."""
    policy = policy or ResubmitPolicy.from_config()
    if poll_seconds is None:
        poll_seconds = settings.EMGSONAR_CONFIG.slurm.poll_seconds
    order = [job.pk for job in jobs]
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    last_counts: dict[str, int] | None = None
    while True:
        _close_stale_connections()
        by_pk = {job.pk: job for job in ClusterJob.objects.filter(pk__in=order)}
        live = [job for job in by_pk.values() if _is_live(job)]
        queries = [
            (job.job_id, JobSpec.model_validate(job.spec), _epoch(job.last_seen)) for job in live
        ]
        try:
            statuses = backend.status_many(queries) if queries else {}
        except ClusterBackendError as exc:
            logger.warning("could not poll the cluster: %s; trying again", exc)
            statuses = {}
        for job in live:
            if job.job_id in statuses:
                _apply_status_or_retry(job, statuses[job.job_id], backend, policy)
        counts = dict(Counter(str(job.state) for job in by_pk.values()))
        if on_progress is not None and counts != last_counts:
            on_progress(counts)
        last_counts = counts
        rows = [by_pk[pk] for pk in order]
        active = [job for job in rows if _is_live(job)]
        if not active or (until is not None and until(rows)):
            return rows
        if deadline is not None and time.monotonic() > deadline:
            raise ClusterJobError(
                f"{len(active)} cluster job(s) still pending or running after "
                f"{timeout_seconds:g} s, e.g. '{active[0].key}' ({active[0].backend} job "
                f"{active[0].job_id})",
                hint="Raise the timeout, or look at the queue (`./taskw slurm-status`)",
                job_keys=tuple(job.key for job in active),
            )
        _close_stale_connections()
        time.sleep(poll_seconds)


def run_jobs(
    specs: Iterable[JobSpec],
    backend: ClusterBackend,
    policy: ResubmitPolicy | None = None,
    *,
    import_run_id: int | None = None,
    poll_seconds: float | None = None,
    on_progress: ProgressCallback | None = None,
    timeout_seconds: float | None = None,
) -> list[ClusterJob]:
    """Attach to or submit every spec, then :func:`wait_for_jobs`; the one-call form for flows.

    :returns: the completed rows, in the order of ``specs``.
    :raises ClusterJobError: see :func:`wait_for_jobs`.
    """
    jobs = [attach_or_submit(spec, backend, import_run_id) for spec in specs]
    return wait_for_jobs(
        jobs,
        backend,
        policy,
        poll_seconds=poll_seconds,
        on_progress=on_progress,
        timeout_seconds=timeout_seconds,
    )
