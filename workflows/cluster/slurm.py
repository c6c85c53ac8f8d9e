"""The Slurm backend: ``sbatch``, ``scontrol`` and ``squeue`` through their commands."""

from __future__ import annotations

import logging
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from workflows.cluster.backend import (
    ClusterBackendError,
    JobSpec,
    JobState,
    JobStatus,
    finished_status,
    render_job_script,
    tail_file,
    unknown_status,
    write_script,
)

if TYPE_CHECKING:
    from emgsonar.config import SlurmConfig

logger = logging.getLogger(__name__)


class SlurmCliBackend:
    """Slurm through its commands: ``sbatch --parsable``, ``scontrol -o show job``, ``scancel``.

    The commands, not a library, because pyslurm does not build against every Slurm in use and
    ``sbatch``/``scontrol`` work the same on any version a site runs. ``sacct`` is not needed
    (it requires slurmdbd); finished jobs are read from ``scontrol`` while the controller keeps
    them (``MinJobAge``), and after that from the result file.

    Slurm states are mapped explicitly (:attr:`STATE_MAP`). ``CANCELLED``, ``PREEMPTED``,
    ``NODE_FAIL``, ``BOOT_FAIL`` and ``REVOKED`` are *lost*, not failed: the command did not fail,
    its work was taken away (an operator's ``scancel``, preemption, a node dying), which a
    resubmission fixes; *failed* means the command itself ran and failed (non-zero exit,
    timeout, out of memory), which a resubmission usually does not fix, so policies can treat
    the two apart.
    """

    name = "slurm"

    STATE_MAP: ClassVar[dict[str, JobState]] = {
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
        self.command_timeout = command_timeout
        self._unseen_since: dict[str, float] = {}

    @classmethod
    def from_config(cls, config: SlurmConfig) -> SlurmCliBackend:
        """A backend for the ``slurm`` section of the emgsonar config."""
        return cls(
            python=config.python,
            project_dir=config.project_dir,
            partition=config.partition,
            account=config.account,
            sbatch_args=config.sbatch_args,
            bin_dir=config.bin_dir,
            conf=config.slurm_conf(),
            lost_after_seconds=config.lost_after_seconds,
        )

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

    def render_script(self, spec: JobSpec) -> str:
        """The sbatch script for ``spec`` (partition, account and site options included)."""
        options = []
        if self.partition:
            options.append(f"--partition={self.partition}")
        if self.account:
            options.append(f"--account={self.account}")
        options.extend(self.sbatch_args)
        return render_job_script(
            spec, python=self.python, project_dir=self.project_dir, sbatch_options=options
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
        self._unseen_since.pop(job_id, None)
        fields = dict(re.findall(r"(\w+)=(\S*)", proc.stdout))
        raw = fields.get("JobState", "")
        reason = fields.get("Reason", "")
        reason = "" if reason == "None" else reason
        exit_code = _parse_exit_code(fields.get("ExitCode", ""))
        state = self.STATE_MAP.get(raw)
        if state is None:
            # a state this code does not know (a newer Slurm): wait, the grace period decides
            logger.warning("Slurm job %s is in unknown state %r", job_id, raw)
            first = self._unseen_since.setdefault(job_id, now)
            return unknown_status(spec, first, self.lost_after_seconds, raw, now)
        if raw == "COMPLETED":
            return finished_status(spec, exit_code, raw, reason)
        if state is JobState.FAILED or state is JobState.LOST:
            return JobStatus(state, exit_code, reason or raw.lower(), raw)
        return JobStatus(state, None, reason, raw)

    #: ``squeue`` reports these without an exit code worth reading: no ``scontrol`` call needed
    _LIVE_STATES: ClassVar[frozenset[JobState]] = frozenset({JobState.PENDING, JobState.RUNNING})

    def status_many(
        self, jobs: Sequence[tuple[str, JobSpec, float | None]], batch: int = 500
    ) -> dict[str, JobStatus]:
        """One ``squeue`` per ``batch`` jobs; ``scontrol`` only for jobs that have ended (their
        exit code) or that ``squeue`` does not list (the grace period and result file decide).

        :raises ClusterBackendError: squeue failed (controller unreachable).
        """
        listed: dict[str, tuple[str, str]] = {}
        for start in range(0, len(jobs), batch):
            ids = [job_id for job_id, _, _ in jobs[start : start + batch]]
            proc = self._run(
                "squeue", "-h", "-t", "all", "-j", ",".join(ids), "-o", "%i|%T|%r", check=False
            )
            if proc.returncode != 0 and "Invalid job id" not in proc.stderr:
                raise ClusterBackendError(f"squeue failed: {proc.stderr.strip()}")
            for line in proc.stdout.splitlines():
                job_id, raw, reason = [*line.split("|"), "", ""][:3]
                listed[job_id.strip()] = (raw.strip(), reason.strip())
        result: dict[str, JobStatus] = {}
        for job_id, spec, last_seen in jobs:
            raw, reason = listed.get(job_id, ("", ""))
            state = self.STATE_MAP.get(raw)
            if state in self._LIVE_STATES:
                self._unseen_since.pop(job_id, None)
                result[job_id] = JobStatus(state, None, "" if reason == "None" else reason, raw)
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
