"""The Slurm backend: ``sbatch``, ``scontrol`` and ``squeue`` through their commands.

Also home of what every Slurm backend shares (the REST one too): the mapping of Slurm's job
states (:data:`STATE_MAP`) and :func:`classify`, which turns Slurm's state, reason and exit
code into a :class:`JobStatus`, naming a job that ran out of memory or time as such.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from workflows.cluster.backend import (
    ArraySpec,
    ClusterBackendError,
    JobSpec,
    JobState,
    JobStatus,
    ResultGrace,
    finished_status,
    render_array_script,
    render_job_script,
    tail_file,
    unknown_status,
    write_script,
)

if TYPE_CHECKING:
    from emgsonar.config import SlurmConfig

logger = logging.getLogger(__name__)


#: Slurm's job states, classified (see :class:`SlurmCliBackend` for why lost is not failed)
STATE_MAP: dict[str, JobState] = {
    "PENDING": JobState.PENDING,
    "CONFIGURING": JobState.PENDING,
    "REQUEUED": JobState.PENDING,
    "REQUEUE_FED": JobState.PENDING,
    "REQUEUE_HOLD": JobState.PENDING,
    "RESV_DEL_HOLD": JobState.PENDING,
    "RUNNING": JobState.RUNNING,
    "COMPLETING": JobState.RUNNING,
    "RESIZING": JobState.RUNNING,
    "SIGNALING": JobState.RUNNING,
    "STAGE_OUT": JobState.RUNNING,
    "STOPPED": JobState.RUNNING,
    "SUSPENDED": JobState.RUNNING,
    # completed only with exit 0 and the result file (see finished_status)
    "COMPLETED": JobState.COMPLETED,
    "FAILED": JobState.FAILED,
    "TIMEOUT": JobState.FAILED,
    "OUT_OF_MEMORY": JobState.FAILED,
    "DEADLINE": JobState.FAILED,
    "SPECIAL_EXIT": JobState.FAILED,
    "CANCELLED": JobState.LOST,
    "PREEMPTED": JobState.LOST,
    "NODE_FAIL": JobState.LOST,
    "BOOT_FAIL": JobState.LOST,
    "REVOKED": JobState.LOST,
}

#: a job's ``--output`` gets this line from slurmstepd when it kills the job over ``--mem``
#: (without cgroups, e.g. ``JobAcctGatherParams=OverMemoryKill``, Slurm records FAILED)
_OOM_LINE = "Exceeded job memory limit"


class SlurmCliBackend:
    """Slurm through its commands: ``sbatch --parsable``, ``scontrol -o show job``, ``scancel``.

    The commands, not a library, because pyslurm does not build against every Slurm in use and
    ``sbatch``/``squeue`` work the same on any version a site runs. ``sacct`` is not needed
    (it requires slurmdbd): one ``squeue -t all`` per poll lists every task of the watched
    arrays and jobs, finished ones too while the controller keeps them (``MinJobAge``), with
    their exit codes; after that the result file decides.

    Slurm states are mapped explicitly (:attr:`STATE_MAP`). ``CANCELLED``, ``PREEMPTED``,
    ``NODE_FAIL``, ``BOOT_FAIL`` and ``REVOKED`` are *lost*, not failed: the command did not fail,
    its work was taken away (an operator's ``scancel``, preemption, a node dying), which a
    resubmission fixes; *failed* means the command itself ran and failed (non-zero exit,
    timeout, out of memory), which a resubmission usually does not fix, so policies can treat
    the two apart.
    """

    name = "slurm"

    STATE_MAP: ClassVar[dict[str, JobState]] = STATE_MAP

    def __init__(
        self,
        *,
        python: Path | None = None,
        project_dir: Path,
        partition: str | None = None,
        account: str | None = None,
        sbatch_args: list[str] | None = None,
        bin_dir: Path | None = None,
        conf: Path | None = None,
        lost_after_seconds: float = 120.0,
        result_grace_seconds: float = 0.0,
        command_timeout: float = 60.0,
    ) -> None:
        self.python = python or Path(sys.executable)
        self.project_dir = project_dir
        self.partition = partition
        self.account = account
        self.sbatch_args = list(sbatch_args or [])
        self.bin_dir = bin_dir
        self.conf = conf
        self.lost_after_seconds = lost_after_seconds
        self.result_grace = ResultGrace(result_grace_seconds)
        self.command_timeout = command_timeout
        self._unseen_since: dict[str, float] = {}

    @classmethod
    def from_config(cls, config: SlurmConfig) -> SlurmCliBackend:
        """A backend for the ``slurm`` section of the emgsonar config."""
        return cls(**cls.config_kwargs(config))

    @staticmethod
    def config_kwargs(config: SlurmConfig) -> dict[str, Any]:
        """The constructor arguments the config gives every Slurm backend."""
        return {
            "python": config.python,
            "project_dir": config.project_dir,
            "partition": config.partition,
            "account": config.account,
            "sbatch_args": config.sbatch_args,
            "bin_dir": config.bin_dir,
            "conf": config.slurm_conf(),
            "lost_after_seconds": config.lost_after_seconds,
            "result_grace_seconds": config.result_grace_seconds,
        }

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        program = str(self.bin_dir / args[0]) if self.bin_dir else args[0]
        env = None
        if self.conf is not None:
            env = {**os.environ, "SLURM_CONF": str(self.conf)}
        try:
            proc = subprocess.run(
                [program, *args[1:]],
                capture_output=True,
                text=True,
                env=env,
                timeout=self.command_timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ClusterBackendError(
                f"could not run {args[0]}: {exc}",
                hint="Is Slurm installed and running? (`./taskw slurm-up` starts the dev one)",
            ) from exc
        if check and proc.returncode != 0:
            raise ClusterBackendError(
                f"{shlex.join(args)} failed with exit code {proc.returncode}: "
                f"{(proc.stderr or proc.stdout).strip()}",
                hint="Is the Slurm controller up? (`./taskw slurm-status`)",
            )
        return proc

    def _site_options(self) -> list[str]:
        options = []
        if self.partition:
            options.append(f"--partition={self.partition}")
        if self.account:
            options.append(f"--account={self.account}")
        options.extend(self.sbatch_args)
        return options

    def render_script(self, spec: JobSpec) -> str:
        """The sbatch script for ``spec`` (partition, account and site options included)."""
        return render_job_script(
            spec,
            python=self.python,
            project_dir=self.project_dir,
            sbatch_options=self._site_options(),
        )

    def submit(self, spec: JobSpec) -> str:
        """Write the script into the work directory and ``sbatch`` it.

        :returns: the Slurm job id.
        :raises ClusterBackendError: sbatch failed or printed no job id.
        """
        write_script(spec, self.render_script(spec))
        proc = self._run("sbatch", "--parsable", str(spec.script_path))
        job_id = proc.stdout.strip().split(";")[0]
        if not job_id.isdigit():
            raise ClusterBackendError(
                "sbatch printed no job id", value=proc.stdout.strip(), path=spec.script_path
            )
        logger.info("submitted %s as Slurm job %s", spec.key, job_id)
        return job_id

    def render_array_script(self, array: ArraySpec) -> str:
        """The array's dispatcher script (partition, account and site options included)."""
        return render_array_script(
            array, project_dir=self.project_dir, sbatch_options=self._site_options()
        )

    def submit_array(self, array: ArraySpec) -> list[str]:
        """Write every task's script and the dispatcher, and ``sbatch`` the array once.

        :returns: the tasks' job ids (``<array job id>_<index>``), in the order of the tasks.
        :raises ClusterBackendError: sbatch failed or printed no job id.
        """
        for task in array.tasks:
            write_script(task, self.render_script(task))
        write_script(array, self.render_array_script(array))
        proc = self._run("sbatch", "--parsable", str(array.script_path))
        job_id = proc.stdout.strip().split(";")[0]
        if not job_id.isdigit():
            raise ClusterBackendError(
                "sbatch printed no job id", value=proc.stdout.strip(), path=array.script_path
            )
        logger.info(
            "submitted %d task(s) of %s as Slurm job array %s", len(array.tasks), array.name, job_id
        )
        return array.task_job_ids(job_id)

    def status(self, job_id: str, spec: JobSpec, *, last_seen: float | None = None) -> JobStatus:
        """Classify from ``scontrol -o show job``; unknown jobs by their result file.

        :raises ClusterBackendError: scontrol failed for another reason than an unknown job id
            (controller down): that is not evidence the job is lost, so the caller retries.
        """
        proc = self._run("scontrol", "-o", "show", "job", job_id, check=False)
        now = time.time()
        if proc.returncode != 0 or not proc.stdout.strip():
            message = (proc.stderr or proc.stdout).strip()
            if "Invalid job id" not in message:
                raise ClusterBackendError(f"scontrol show job {job_id} failed: {message}")
            first = self._unseen_since.setdefault(job_id, now)
            if last_seen is not None:
                first = last_seen
            return unknown_status(spec, first, self.lost_after_seconds, "UNKNOWN", now)
        fields = dict(re.findall(r"(\w+)=(\S*)", proc.stdout))
        exit_code = _parse_exit_code(fields.get("ExitCode", ""))
        restarts = fields.get("Restarts", "")
        return self._known(
            job_id,
            spec,
            fields.get("JobState", ""),
            fields.get("Reason", ""),
            exit_code,
            int(restarts) if restarts.isdigit() else 0,
        )

    def _known(
        self,
        job_id: str,
        spec: JobSpec,
        raw: str,
        reason: str,
        exit_code: int | None,
        restarts: int = 0,
    ) -> JobStatus:
        """:func:`classify` a job Slurm listed; a state this code does not know (a newer
        Slurm) is waited on like an unknown job, and the grace period decides."""

        def finished(spec: JobSpec, code: int | None, raw: str, reason: str) -> JobStatus:
            return self.result_grace.status(job_id, spec, code, raw, reason)

        status = classify(spec, raw, reason, exit_code, restarts=restarts, finished=finished)
        if status is not None:
            self._unseen_since.pop(job_id, None)
            return status
        logger.warning("Slurm job %s is in unknown state %r", job_id, raw)
        now = time.time()
        first = self._unseen_since.setdefault(job_id, now)
        return unknown_status(spec, first, self.lost_after_seconds, raw, now)

    #: the ``squeue -O`` fields read per job: id (``<array>_<index>`` for array tasks), state,
    #: reason, the exit code as a wait status (what ``scontrol`` shows as ``X:S``), and how
    #: often Slurm requeued it
    _SQUEUE_FORMAT = "JobArrayID:0|,State:0|,Reason:0|,exit_code:0|,RestartCnt:0"

    def status_many(
        self, jobs: Sequence[tuple[str, JobSpec, float | None]], batch: int = 500
    ) -> dict[str, JobStatus]:
        """One ``squeue`` for all of them (per ``batch`` jobs or arrays): every task of an array
        is listed under its array's id, finished ones with their exit code, so a poll of an
        import's arrays is one call however many chunks it has. ``scontrol`` only for jobs
        ``squeue`` does not list (the grace period and result file decide).

        :raises ClusterBackendError: squeue failed (controller unreachable).
        """
        query = sorted({job_id.split("_")[0] for job_id, _, _ in jobs})
        listed: dict[str, tuple[str, str, int | None, int]] = {}
        for start in range(0, len(query), batch):
            ids = ",".join(query[start : start + batch])
            proc = self._run(
                "squeue", "-h", "-r", "-t", "all", "-j", ids, "-O", self._SQUEUE_FORMAT,
                check=False,
            )  # fmt: skip
            if proc.returncode != 0 and "Invalid job id" not in proc.stderr:
                raise ClusterBackendError(f"squeue failed: {proc.stderr.strip()}")
            for line in proc.stdout.splitlines():
                job_id, raw, reason, code, restarts = [*line.split("|"), "", "", "", ""][:5]
                code, restarts = code.strip(), restarts.strip()
                status = wait_status_code(int(code)) if code.isdigit() else None
                count = int(restarts) if restarts.isdigit() else 0
                listed[job_id.strip()] = (raw.strip(), reason.strip(), status, count)
        result: dict[str, JobStatus] = {}
        for job_id, spec, last_seen in jobs:
            if job_id in listed:
                result[job_id] = self._known(job_id, spec, *listed[job_id])
            else:
                result[job_id] = self.status(job_id, spec, last_seen=last_seen)
        return result

    def cancel(self, job_id: str) -> None:
        """``scancel`` the job; cancelling a finished or unknown job is not an error."""
        self._run("scancel", job_id, check=False)

    def log_tail(self, spec: JobSpec, lines: int = 40) -> str:
        """The end of ``<work_dir>/<name>.log`` (Slurm appends every attempt there)."""
        return tail_file(spec.log_path, lines)


def _parse_exit_code(text: str) -> int | None:
    """Slurm's ``ExitCode=X:S`` (status X, signal S) as one int: ``-S`` if S, else X."""
    match = re.match(r"^(\d+):(\d+)$", text)
    if not match:
        return None
    status, sig = int(match.group(1)), int(match.group(2))
    return -sig if sig else status


def wait_status_code(status: int) -> int:
    """A wait status (``squeue -O exit_code``, slurmrestd's ``exit_code``) in the convention
    of :class:`JobStatus`: ``-N`` if killed by signal N, else the exit status."""
    signal_number = status & 0x7F
    return -signal_number if signal_number else status >> 8


def _memory_exceeded(spec: JobSpec) -> bool:
    """slurmstepd's out-of-memory line in the log of the job's *last* attempt (the log is
    appended to by every attempt, each after a header line)."""
    text = tail_file(spec.log_path, lines=200)
    last_attempt = text.rsplit("=== emgsonar job ", 1)[-1]
    return _OOM_LINE in last_attempt


def classify(
    spec: JobSpec,
    raw: str,
    reason: str,
    exit_code: int | None,
    *,
    restarts: int = 0,
    finished: Callable[[JobSpec, int | None, str, str], JobStatus] = finished_status,
) -> JobStatus | None:
    """Slurm's view of a job as a :class:`JobStatus`; None for a state not in :data:`STATE_MAP`.

    ``finished`` classifies a ``COMPLETED`` job (by its result file, see
    :class:`~workflows.cluster.backend.ResultGrace` for the backends' grace period).

    A job Slurm requeued (``restarts`` > 0: its node failed, it was preempted, or an admin
    requeued it) that waits to start again is *lost*: Slurm holds it back until the old
    credential expires (``cred_expire``, 120 s by default) and retries without limit, while a
    resubmission starts now and counts against the policy. Jobs are submitted with
    ``--no-requeue`` (:data:`~workflows.cluster.backend.NO_REQUEUE`), but slurmrestd's
    ``v0.0.38`` ignores that field and a site may requeue anyway.

    A job over its limits says so: ``raw`` ``TIMEOUT`` or ``OUT_OF_MEMORY`` and a reason with
    the limit from the spec (the operator's next step is to raise it). Without cgroups Slurm
    records an out-of-memory kill as ``FAILED`` by signal 9; slurmstepd's line in the job's log
    tells it apart.
    """
    reason = "" if reason == "None" else reason
    state = STATE_MAP.get(raw)
    if state is None:
        return None
    if raw == "COMPLETED":
        return finished(spec, exit_code, raw, reason)
    if state is JobState.PENDING and restarts > 0:
        why = f" after {reason}" if reason and reason != "BeginTime" else ""
        return JobStatus(JobState.LOST, None, f"requeued by Slurm{why}", raw)
    if raw == "FAILED" and exit_code == -9 and _memory_exceeded(spec):
        raw = "OUT_OF_MEMORY"
    if raw == "OUT_OF_MEMORY":
        reason = f"OUT_OF_MEMORY: exceeded its memory limit of {spec.memory_mb} MiB"
    elif raw == "TIMEOUT":
        reason = f"TIMEOUT: reached its time limit of {spec.time_limit}"
    if state is JobState.FAILED or state is JobState.LOST:
        return JobStatus(state, exit_code, reason or raw.lower(), raw)
    return JobStatus(state, None, reason, raw)
