"""The local backend: jobs as subprocesses of this process, the same script as on Slurm."""

from __future__ import annotations

import itertools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from workflows.cluster.backend import (
    ArraySpec,
    JobSpec,
    JobState,
    JobStatus,
    ResultGrace,
    finished_status,
    render_job_script,
    tail_file,
    unknown_status,
    write_script,
)

logger = logging.getLogger(__name__)


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
        result_grace_seconds: float = 0.0,
    ) -> None:
        self.max_workers = max_workers
        self.python = python or Path(sys.executable)
        self.project_dir = project_dir
        self.lost_after_seconds = lost_after_seconds
        self.result_grace = ResultGrace(result_grace_seconds)
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="emgsonar-local-job")
        self._jobs: dict[str, _LocalJob] = {}
        self._lock = threading.Lock()

    def render_script(self, spec: JobSpec) -> str:
        """The same script Slurm would get."""
        return render_job_script(spec, python=self.python, project_dir=self.project_dir)

    def submit(self, spec: JobSpec) -> str:
        """Queue the job in the pool; returns ``local-<pid>-<n>``."""
        write_script(spec, self.render_script(spec))
        job_id = f"local-{os.getpid()}-{next(self._ids)}"
        job = _LocalJob(spec)
        with self._lock:
            self._jobs[job_id] = job
        self._pool.submit(self._run, job_id, job)
        logger.info("submitted %s as local job %s", spec.key, job_id)
        return job_id

    def submit_array(self, array: ArraySpec) -> list[str]:
        """Queue every task; the pool (``max_workers``) is the throttle here.

        No array job exists locally; the tasks' logs and results are where Slurm's would be.
        """
        return [self.submit(task) for task in array.tasks]

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
            return unknown_status(spec, first, self.lost_after_seconds, "UNKNOWN", now)
        if job.cancelled and (job.returncode is not None or not job.started):
            return JobStatus(JobState.LOST, job.returncode, "cancelled", "CANCELLED")
        if not job.started:
            return JobStatus(JobState.PENDING, None, "waiting for a free worker", "PENDING")
        if job.returncode is None:
            return JobStatus(JobState.RUNNING, None, "", "RUNNING")
        if job.returncode == 0:
            return self.result_grace.status(job_id, spec, 0, "COMPLETED")
        # Slurm's words for the same outcome, so both executors record identical rows
        return finished_status(spec, job.returncode, "FAILED", "NonZeroExitCode")

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
