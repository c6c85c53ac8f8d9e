"""The contract every cluster backend keeps: job specs, job states, the job script.

Why an interface and not Slurm calls in the flows: emgapi-v2 switches to a fake Slurm under
pytest; we test the real one instead, and a site's own scheduler (another Slurm version, or
slurmrestd later) only needs another :class:`ClusterBackend`. The backends (:mod:`.slurm`,
:mod:`.local`) know neither Django nor Prefect, so they can be used (and tested) from anywhere;
recording jobs in the database is :mod:`workflows.cluster.jobs`.

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

import os
import re
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from analyses.results_io import atomic_file
from emgsonar.errors import EmgsonarError

#: every job is submitted without Slurm's own requeue. Why: a job killed with its node is
#: requeued by Slurm (same job id) only after the old credential expires (``cred_expire``,
#: 120 s by default), silently and without limit; without requeue it ends ``NODE_FAIL``, is
#: *lost*, and is resubmitted at once by the resubmission policy, counted in its attempts,
#: exactly like a cancelled or preempted one (:mod:`workflows.cluster.jobs`)
NO_REQUEUE = "--no-requeue"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _file_safe_name(value: str) -> str:
    """A job's (or array's) name is also the stem of its script and log files."""
    if not _NAME_RE.match(value):
        raise ValueError(
            "must be 1-128 characters of letters, digits, '.', '_' or '-' "
            "(it names the job's script and log files)"
        )
    return value


class JobState(StrEnum):
    """The five states every backend's states are classified into."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    LOST = "lost"


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
    :param comment: the job's ``--comment`` (``squeue -O comment``); a task of a job array
        gets the array's, so that it still names the import run when resubmitted alone.
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
    comment: str = ""

    _name_is_file_safe = field_validator("name")(_file_safe_name)

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


class ArraySpec(BaseModel):
    """Many tasks submitted as ONE job array (``sbatch --array``), e.g. every chunk of an import
    step: one submission and one line per task in ``squeue`` instead of thousands of jobs.

    Each task keeps its own :class:`JobSpec` (its own key, script, log and result), so it is
    recorded, polled, cancelled and resubmitted exactly like a single job; its job id is
    ``<array job id>_<index>``. Task *i* must be named ``<name>-<i>``: Slurm's own per-task
    output (``--output=<work_dir>/<name>-%a.log``, where it reports an exceeded memory limit)
    is then the task's log. An array may hold any indices (a re-run submits only the tasks
    still to do), and all tasks share ``work_dir`` and resources (one set of ``#SBATCH``
    options for the array).

    :param name: the array's job name (an admin sees it in ``squeue``), e.g.
        ``emgsonar-run42-align``.
    :param comment: the array's ``--comment`` (``squeue -O comment``), e.g. the import run.
    :param tasks: the tasks, in any order.
    :param max_running: at most this many tasks run at once (``%M``); 0: no limit.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    comment: str = ""
    tasks: list[JobSpec] = Field(min_length=1)
    max_running: int = Field(default=0, ge=0)

    _name_is_file_safe = field_validator("name")(_file_safe_name)

    @field_validator("tasks")
    @classmethod
    def _one_shape(cls, tasks: list[JobSpec]) -> list[JobSpec]:
        first = tasks[0]
        for task in tasks:
            shape = (task.work_dir, task.cpus, task.memory_mb, task.time_limit)
            if shape != (first.work_dir, first.cpus, first.memory_mb, first.time_limit):
                raise ValueError(
                    "every task of a job array needs the same work_dir, cpus, memory_mb and "
                    f"time_limit ('{task.key}' differs from '{first.key}')"
                )
        return tasks

    def model_post_init(self, _context: object) -> None:
        """Check that task names are ``<name>-<index>`` (the index Slurm gives the task)."""
        indices = [self.index_of(task) for task in self.tasks]
        if len(set(indices)) != len(indices):
            raise ValueError(f"job array '{self.name}' has two tasks with the same index")

    def index_of(self, task: JobSpec) -> int:
        """The array index of ``task`` (from its name ``<name>-<index>``)."""
        prefix = f"{self.name}-"
        suffix = task.name.removeprefix(prefix)
        # unpadded: Slurm's %a in the output pattern is, so task 5's log is <name>-5.log
        index = int(suffix) if suffix.isdigit() else 0
        if not task.name.startswith(prefix) or index < 1 or suffix != str(index):
            raise ValueError(
                f"task '{task.name}' of job array '{self.name}' must be named '{prefix}<index>'"
                " (index >= 1, no leading zeros)"
            )
        return index

    @property
    def work_dir(self) -> Path:
        return self.tasks[0].work_dir

    @property
    def script_path(self) -> Path:
        """The array's dispatcher script (runs task ``$SLURM_ARRAY_TASK_ID``'s own script)."""
        return self.work_dir / f"{self.name}.array.sh"

    @property
    def output_pattern(self) -> str:
        """Slurm's ``--output`` for the array: task *i*'s output goes to task *i*'s log."""
        return str(self.work_dir / f"{self.name}-%a.log")

    def array_option(self) -> str:
        """The ``--array`` value: the indices as ranges, then the throttle (``1-5,9%2``)."""
        indices = sorted(self.index_of(task) for task in self.tasks)
        ranges: list[str] = []
        start = prev = indices[0]
        for index in [*indices[1:], None]:
            if index is not None and index == prev + 1:
                prev = index
                continue
            ranges.append(str(start) if start == prev else f"{start}-{prev}")
            if index is not None:
                start = prev = index
        throttle = f"%{self.max_running}" if self.max_running else ""
        return ",".join(ranges) + throttle

    def task_job_ids(self, array_job_id: str) -> list[str]:
        """The job id of every task (``<array job id>_<index>``), in the order of ``tasks``."""
        return [f"{array_job_id}_{self.index_of(task)}" for task in self.tasks]


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

    def submit_array(self, array: ArraySpec) -> list[str]:
        """Start every task of ``array`` (one job array where the scheduler has them); return
        the tasks' job ids in the order of ``array.tasks``. Each id then works with every other
        method here, like a single job's."""
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
        f"#SBATCH {NO_REQUEUE}",
        *([f"#SBATCH --comment={shlex.quote(spec.comment)}"] if spec.comment else []),
        *(f"#SBATCH {option}" for option in sbatch_options),
        f"# emgsonar job {spec.key}",
        "# generated by workflows/cluster/backend.py; the command must write its result",
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


def render_array_script(
    array: ArraySpec, *, project_dir: Path, sbatch_options: Sequence[str] = ()
) -> str:
    """The dispatcher script of a job array: Slurm runs it once per task with
    ``SLURM_ARRAY_TASK_ID`` set, and it runs that task's own script (written beside it), so a
    task runs exactly what it would run as a single job (or when resubmitted alone)."""
    first = array.tasks[0]
    header = [
        "#!/bin/bash",
        f"#SBATCH --job-name={array.name}",
        f"#SBATCH --array={array.array_option()}",
        f"#SBATCH --output={array.output_pattern}",
        "#SBATCH --open-mode=append",
        f"#SBATCH --chdir={project_dir}",
        f"#SBATCH --cpus-per-task={first.cpus}",
        f"#SBATCH --mem={first.memory_mb}M",
        f"#SBATCH --time={first.time_limit}",
        f"#SBATCH {NO_REQUEUE}",
        *([f"#SBATCH --comment={shlex.quote(array.comment)}"] if array.comment else []),
        *(f"#SBATCH {option}" for option in sbatch_options),
        f"# emgsonar job array {array.name}: {len(array.tasks)} task(s)",
        "# generated by workflows/cluster/backend.py; task i runs <name>-i.sh",
        "set -euo pipefail",
        f'exec bash {shlex.quote(str(array.work_dir))}/{array.name}-"$SLURM_ARRAY_TASK_ID".sh',
    ]
    return "\n".join(header) + "\n"


def write_script(spec: JobSpec | ArraySpec, script: str) -> None:
    """Write ``script`` as the executable script of a job or job array (atomically)."""
    spec.work_dir.mkdir(parents=True, exist_ok=True)
    write_result_atomically(spec.script_path, script)
    spec.script_path.chmod(0o755)


def finished_status(
    spec: JobSpec,
    exit_code: int | None,
    raw: str,
    reason: str = "",
    *,
    waited: float = 0.0,
    grace: float = 0.0,
) -> JobStatus:
    """Classify a job that ran to its end: completed needs exit 0 *and* the result file.

    :param waited: seconds since the job was first seen finished (see :class:`ResultGrace`).
    :param grace: how long a job that exited 0 may wait for its result file to show up (a
        shared file system can show another node's rename late); running until then.
    """
    if exit_code == 0:
        if spec.result_exists():
            return JobStatus(JobState.COMPLETED, 0, reason, raw)
        if waited < grace:
            return JobStatus(JobState.RUNNING, None, "exited 0, waiting for its result file", raw)
        return JobStatus(
            JobState.FAILED, 0, f"exited 0 but wrote no result file {spec.result_path}", raw
        )
    return JobStatus(JobState.FAILED, exit_code, reason or f"exit code {exit_code}", raw)


class ResultGrace:
    """:func:`finished_status` with a grace period for the result file, per job id.

    Why: on a shared file system the rename a job made on its node can become visible here
    seconds later, and judging "exited 0 but no result file" at once would resubmit work that
    is done. The period starts when this process first sees the job finished (a restarted
    watcher starts it again: at worst one more period of waiting).

    :param seconds: the grace (``EMGSONAR_SLURM__RESULT_GRACE_SECONDS``); 0: none.
    """

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self._finished_since: dict[str, float] = {}

    def status(
        self, job_id: str, spec: JobSpec, exit_code: int | None, raw: str, reason: str = ""
    ) -> JobStatus:
        """The :func:`finished_status` of job ``job_id``, running while within the grace."""
        now = time.time()
        since = self._finished_since.setdefault(job_id, now)
        status = finished_status(
            spec, exit_code, raw, reason, waited=now - since, grace=self.seconds
        )
        if status.state is not JobState.RUNNING:
            self._finished_since.pop(job_id, None)
        return status


def unknown_status(
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
