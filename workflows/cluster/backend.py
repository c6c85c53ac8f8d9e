"""Run units of work (an import's chunks) on a cluster, behind one small interface.

Why an interface and not Slurm calls in the flows: emgapi-v2 switches to a fake Slurm under
pytest; we test the real one instead, and a site's own scheduler (another Slurm version, or
slurmrestd later) only needs another :class:`ClusterBackend`. This module knows neither Django
nor Prefect, so it can be used (and tested) from anywhere; recording jobs in the database is
:mod:`workflows.prefect_utils.cluster_jobs`.

The job contract, the same for every backend:

* a job is a command (``JobSpec.command``) run by ``bash`` from a generated script that ``cd``\\ s
  to the project directory, puts the project's Python first on ``PATH`` (and sets
  ``VIRTUAL_ENV``), exports ``JobSpec.env`` and appends stdout and stderr to
  ``<work_dir>/<name>.log``;
* the command writes its result to ``JobSpec.result_path`` *atomically* (a temporary file in the
  same directory, then :func:`os.replace`; :func:`write_result_atomically` does that), so a
  result file that exists is complete;
* a job is ``completed`` only if it exited 0 *and* its result file exists; a result file alone
  also proves a job the scheduler has forgotten finished.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from analyses.results_io import atomic_file
from emgsonar.errors import EmgsonarError

if TYPE_CHECKING:
    from emgsonar.config import SlurmConfig

logger = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class JobState(StrEnum):
    """The five states every backend's states are classified into."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    LOST = "lost"

    @property
    def terminal(self) -> bool:
        """True for states that will not change without a resubmission."""
        return self in (JobState.COMPLETED, JobState.FAILED, JobState.LOST)


class JobSpec(BaseModel):
    """What to run, where its files go, and what it needs; stored with the job so that a
    resubmission (possibly from another process) runs exactly the same thing.

    :param key: deterministic identity of the unit of work (e.g. ``align:<run>:<chunk>:<hash>``);
        unique in the database, so the same key never runs twice at the same time.
    :param name: file-name-safe short name: the job's name, and the stem of its script and log.
    :param command: argv of the command; a first element ``python`` means the project's Python.
    :param work_dir: shared directory for the script and the log (created on submission).
    :param result_path: the file the command writes atomically; its existence means done.
    :param cpus: CPUs for the job.
    :param memory_mb: memory for the job, in MiB.
    :param time_limit: Slurm time limit (``HH:MM:SS`` or ``D-HH:MM:SS``).
    :param env: extra environment variables for the command.
    :param input_hash: content hash of the job's input, recorded for provenance.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(min_length=1, max_length=255)
    name: str
    command: list[str] = Field(min_length=1)
    work_dir: Path
    result_path: Path
    cpus: int = Field(default=1, ge=1)
    memory_mb: int = Field(default=1024, ge=1)
    time_limit: str = "01:00:00"
    env: dict[str, str] = {}
    input_hash: str = ""

    @field_validator("name")
    @classmethod
    def _name_is_file_safe(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(
                "must be 1-128 characters of letters, digits, '.', '_' or '-' "
                "(it names the job's script and log files)"
            )
        return value

    @property
    def script_path(self) -> Path:
        """The generated job script."""
        return self.work_dir / f"{self.name}.sh"

    @property
    def log_path(self) -> Path:
        """The job's stdout+stderr; appended to by every attempt, each after a header line."""
        return self.work_dir / f"{self.name}.log"

    def result_exists(self) -> bool:
        """True when the result file is there (and so complete: it is written atomically)."""
        return self.result_path.is_file()


@dataclass(frozen=True)
class JobStatus:
    """A backend's view of one job.

    :param state: the classified state.
    :param exit_code: the command's exit status when known; negative ``-N``: killed by signal N
        (Python's convention, used for Slurm's ``ExitCode=0:N`` too, so both backends agree).
    :param reason: why, in words (scheduler reason, "result file missing", ...).
    :param raw: the scheduler's own state (``CANCELLED``, ``TIMEOUT``, ...), for the record.
    :param known: False when the scheduler does not know the job (any more).
    """

    state: JobState
    exit_code: int | None = None
    reason: str = ""
    raw: str = ""
    known: bool = True


class ClusterBackendError(EmgsonarError):
    """The scheduler could not be asked (sbatch failed, controller unreachable)."""

    code: ClassVar[str] = "cluster_backend_error"


@runtime_checkable
class ClusterBackend(Protocol):
    """Submit, watch and cancel jobs on one kind of cluster.

    ``status`` takes the spec because "completed" needs the result file, and ``last_seen``
    (epoch seconds when the job was last known to the scheduler, or submitted) so that the grace
    period before "lost" survives a restart of the watching process.
    """

    name: str

    def submit(self, spec: JobSpec) -> str:
        """Start the job; return its id."""
        ...

    def status(self, job_id: str, spec: JobSpec, *, last_seen: float | None = None) -> JobStatus:
        """Classify the job's state."""
        ...

    def status_many(
        self, jobs: Sequence[tuple[str, JobSpec, float | None]]
    ) -> dict[str, JobStatus]:
        """:meth:`status` of many ``(job_id, spec, last_seen)`` at once, by job id; one poll of
        thousands of chunk jobs must not be thousands of scheduler calls."""
        ...

    def cancel(self, job_id: str) -> None:
        """Stop the job if it is still queued or running."""
        ...

    def log_tail(self, spec: JobSpec, lines: int = 40) -> str:
        """The last lines of the job's log, for error messages."""
        ...

    def render_script(self, spec: JobSpec) -> str:
        """The job script the backend runs for ``spec`` (stored with the job)."""
        ...


def write_result_atomically(path: Path, data: bytes | str) -> None:
    """Write a job's result so that it appears complete or not at all.

    Writes a temporary file in the same directory (same file system), flushes it to disk, then
    renames it over ``path``: a reader (or a re-run) never sees half a result, even if the job is
    killed mid-write.

    :param path: the job's ``result_path``.
    :param data: the result; ``str`` is written as UTF-8.
    """
    payload = data.encode() if isinstance(data, str) else data
    with atomic_file(path, "wb") as handle:
        handle.write(payload)


def tail_file(path: Path, lines: int = 40, max_bytes: int = 64 * 1024) -> str:
    """The last ``lines`` lines of a text file (reading at most ``max_bytes`` from its end).

    :returns: the lines, or ``""`` if the file does not exist.
    """
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except FileNotFoundError:
        return ""
    text = data.decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def _project_env_lines(python: Path, env: Mapping[str, str]) -> list[str]:
    """Shell lines that make ``python``'s environment the job's (venv activation, by hand)."""
    python_bin = python.parent
    out = [f'export PATH={shlex.quote(str(python_bin))}:"$PATH"']
    venv = python_bin.parent
    if (venv / "pyvenv.cfg").is_file():
        out.append(f"export VIRTUAL_ENV={shlex.quote(str(venv))}")
        out.append("unset PYTHONHOME")
    for name, value in sorted(env.items()):
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            raise ClusterBackendError("invalid environment variable name in a job spec", value=name)
        out.append(f"export {name}={shlex.quote(value)}")
    return out


def render_job_script(
    spec: JobSpec,
    *,
    python: Path,
    project_dir: Path,
    sbatch_options: Sequence[str] = (),
) -> str:
    """The bash script both backends run for ``spec``.

    Slurm reads the ``#SBATCH`` lines; for the local backend they are comments, so the command
    runs in exactly the same environment either way.
    """
    command = list(spec.command)
    if command[0] == "python":
        command[0] = str(python)
    header = [
        "#!/bin/bash",
        f"#SBATCH --job-name={spec.name}",
        f"#SBATCH --output={spec.log_path}",
        "#SBATCH --open-mode=append",
        f"#SBATCH --chdir={project_dir}",
        f"#SBATCH --cpus-per-task={spec.cpus}",
        f"#SBATCH --mem={spec.memory_mb}M",
        f"#SBATCH --time={spec.time_limit}",
        *(f"#SBATCH {option}" for option in sbatch_options),
        f"# emgsonar job {spec.key}",
        "# generated by workflows/prefect_utils/cluster.py; the command must write its result",
        f"# atomically to {spec.result_path}",
        "set -euo pipefail",
        f'echo "=== emgsonar job {spec.name}: id ${{SLURM_JOB_ID:-${{EMGSONAR_LOCAL_JOB_ID:-?}}}}'
        f' on $(hostname) at $(date -Iseconds)"',
        f"cd {shlex.quote(str(project_dir))}",
        *_project_env_lines(python, spec.env),
        f"mkdir -p {shlex.quote(str(spec.result_path.parent))}",
        "exec " + shlex.join(command),
    ]
    return "\n".join(header) + "\n"


def _write_script(spec: JobSpec, script: str) -> None:
    spec.work_dir.mkdir(parents=True, exist_ok=True)
    write_result_atomically(spec.script_path, script)
    spec.script_path.chmod(0o755)


def _finished_status(spec: JobSpec, exit_code: int | None, raw: str, reason: str = "") -> JobStatus:
    """Classify a job that ran to its end: completed needs exit 0 *and* the result file."""
    if exit_code == 0:
        if spec.result_exists():
            return JobStatus(JobState.COMPLETED, 0, reason, raw)
        return JobStatus(
            JobState.FAILED, 0, f"exited 0 but wrote no result file {spec.result_path}", raw
        )
    return JobStatus(JobState.FAILED, exit_code, reason or f"exit code {exit_code}", raw)


def _unknown_status(
    spec: JobSpec, first_unseen: float, grace: float, raw: str, now: float
) -> JobStatus:
    """A job the backend does not know: done if its result is there, else lost after ``grace``."""
    if spec.result_exists():
        return JobStatus(JobState.COMPLETED, None, "result file present", raw, known=False)
    if now - first_unseen < grace:
        return JobStatus(
            JobState.PENDING, None, "not known to the scheduler (yet)", raw, known=False
        )
    return JobStatus(
        JobState.LOST,
        None,
        f"unknown to the scheduler for {now - first_unseen:.0f} s and no result file",
        raw,
        known=False,
    )


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
        # completed only with exit 0 and the result file (see _finished_status)
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
            conf=config.conf,
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
        _write_script(spec, self.render_script(spec))
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
            return _unknown_status(spec, first, self.lost_after_seconds, "UNKNOWN", now)
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
            return _unknown_status(spec, first, self.lost_after_seconds, raw, now)
        if raw == "COMPLETED":
            return _finished_status(spec, exit_code, raw, reason)
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


@dataclass
class _LocalJob:
    spec: JobSpec
    started: bool = False
    cancelled: bool = False
    returncode: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class LocalBackend:
    """Runs jobs as subprocesses of this process, at most ``max_workers`` at a time.

    The local executor's process pool: the same generated script as on Slurm, run by ``bash``
    (``#SBATCH`` lines are comments), so both executors run identical code in an identical
    environment and the database ends up the same. Jobs live as long as this process; a job id
    of another process is classified like a job Slurm forgot (result file → completed, else
    lost), and a cancelled job is lost, as on Slurm.
    """

    name = "local"
    _ids = itertools.count(1)

    def __init__(
        self,
        *,
        max_workers: int,
        python: Path | None = None,
        project_dir: Path,
        lost_after_seconds: float = 0.0,
    ) -> None:
        self.max_workers = max_workers
        self.python = python or Path(sys.executable)
        self.project_dir = project_dir
        self.lost_after_seconds = lost_after_seconds
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="emgsonar-local-job")
        self._jobs: dict[str, _LocalJob] = {}
        self._lock = threading.Lock()

    def render_script(self, spec: JobSpec) -> str:
        """The same script Slurm would get."""
        return render_job_script(spec, python=self.python, project_dir=self.project_dir)

    def submit(self, spec: JobSpec) -> str:
        """Queue the job in the pool; returns ``local-<pid>-<n>``."""
        _write_script(spec, self.render_script(spec))
        job_id = f"local-{os.getpid()}-{next(self._ids)}"
        job = _LocalJob(spec)
        with self._lock:
            self._jobs[job_id] = job
        self._pool.submit(self._run, job_id, job)
        logger.info("submitted %s as local job %s", spec.key, job_id)
        return job_id

    def _run(self, job_id: str, job: _LocalJob) -> None:
        with job.lock:
            if job.cancelled:
                return
            job.started = True
            env = {**os.environ, "EMGSONAR_LOCAL_JOB_ID": job_id}
            job.spec.log_path.parent.mkdir(parents=True, exist_ok=True)
            with job.spec.log_path.open("ab") as log:
                try:
                    job.proc = subprocess.Popen(
                        ["bash", str(job.spec.script_path)],
                        cwd=self.project_dir,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                except OSError as exc:
                    log.write(f"emgsonar: could not start the job: {exc}\n".encode())
                    job.returncode = 127
                    return
        job.returncode = job.proc.wait()

    def status(self, job_id: str, spec: JobSpec, *, last_seen: float | None = None) -> JobStatus:
        """Classify from the subprocess; unknown ids by their result file."""
        with self._lock:
            job = self._jobs.get(job_id)
        now = time.time()
        if job is None:
            first = last_seen if last_seen is not None else now
            return _unknown_status(spec, first, self.lost_after_seconds, "UNKNOWN", now)
        if job.cancelled and (job.returncode is not None or not job.started):
            return JobStatus(JobState.LOST, job.returncode, "cancelled", "CANCELLED")
        if not job.started:
            return JobStatus(JobState.PENDING, None, "waiting for a free worker", "PENDING")
        if job.returncode is None:
            return JobStatus(JobState.RUNNING, None, "", "RUNNING")
        if job.returncode == 0:
            return _finished_status(spec, 0, "COMPLETED")
        # Slurm's words for the same outcome, so both executors record identical rows
        return _finished_status(spec, job.returncode, "FAILED", "NonZeroExitCode")

    def status_many(
        self, jobs: Sequence[tuple[str, JobSpec, float | None]]
    ) -> dict[str, JobStatus]:
        """:meth:`status` of each job (all in memory: nothing to batch)."""
        return {
            job_id: self.status(job_id, spec, last_seen=last_seen)
            for job_id, spec, last_seen in jobs
        }

    def cancel(self, job_id: str) -> None:
        """Terminate the job's process group, or drop it from the queue."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            return
        with job.lock:  # not while _run is between "not cancelled" and Popen
            job.cancelled = True
            proc = job.proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def log_tail(self, spec: JobSpec, lines: int = 40) -> str:
        """The end of ``<work_dir>/<name>.log``."""
        return tail_file(spec.log_path, lines)

    def shutdown(self) -> None:
        """Cancel queued and running jobs and stop the pool (tests, process exit)."""
        with self._lock:
            ids = list(self._jobs)
        for job_id in ids:
            self.cancel(job_id)
        self._pool.shutdown(wait=True, cancel_futures=True)
