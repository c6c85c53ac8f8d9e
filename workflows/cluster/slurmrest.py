"""The slurmrestd backend: Slurm's REST API (OpenAPI ``v0.0.38`` of Slurm 22.05) over HTTP.

Why a second Slurm backend: a worker in a container or on a host without Slurm's client
commands and munge key can still submit, as long as it reaches slurmrestd and holds a JWT.
Only the transport differs from :class:`~workflows.cluster.slurm.SlurmCliBackend`: the same
job scripts, the same job ids (so both are ``name = "slurm"`` and a job submitted by one can be
re-attached by the other), the same classification of Slurm's states
(:func:`~workflows.cluster.slurm.classify`), hence the same test suite.

HTTP with :mod:`urllib.request` (no new dependency). Authentication: ``X-SLURM-USER-NAME`` and
``X-SLURM-USER-TOKEN``; the token is the configured one, or made with ``scontrol token`` (which
needs ``AuthAltTypes=auth/jwt`` on the controller) and renewed a minute before it expires.
"""

from __future__ import annotations

import base64
import getpass
import json
import logging
import math
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from workflows.cluster.backend import (
    ArraySpec,
    ClusterBackendError,
    JobSpec,
    JobStatus,
    unknown_status,
    write_script,
)
from workflows.cluster.slurm import SlurmCliBackend, wait_status_code

if TYPE_CHECKING:
    from emgsonar.config import SlurmConfig

logger = logging.getLogger(__name__)

#: Slurm's error number for an unknown job id (``ESLURM_INVALID_JOB_ID``)
INVALID_JOB_ID = 2017
#: a token is renewed when it has less than this many seconds left
TOKEN_RENEW_SECONDS = 60.0


class SlurmRestBackend(SlurmCliBackend):
    """Submit, poll and cancel through slurmrestd; scripts and states as the CLI backend's.

    Inherits the job scripts, the log tail and the classification from
    :class:`SlurmCliBackend` and replaces every scheduler call with an HTTP request:
    ``POST job/submit``, one ``GET jobs`` per poll (every task of every array in one answer),
    ``DELETE job/{id}``. ``scontrol`` is run only to make a token when none is configured.
    """

    #: site options of ``sbatch_args`` that have a field in the REST job description
    SBATCH_FIELDS: ClassVar[dict[str, str]] = {
        "--qos": "qos",
        "--constraint": "constraints",
        "--reservation": "reservation",
        "--nice": "nice",
        "--exclusive": "exclusive",
    }

    def __init__(
        self,
        *,
        url: str,
        api_version: str = "v0.0.38",
        user: str | None = None,
        token: str | None = None,
        token_lifespan_seconds: int = 3600,
        timeout: float = 30.0,
        **cli: Any,
    ) -> None:
        super().__init__(**cli)
        self.base = f"{url.rstrip('/')}/slurm/{api_version}"
        self.user = user or getpass.getuser()
        self.timeout = timeout
        self.token_lifespan_seconds = token_lifespan_seconds
        self._static_token = token
        self._token: tuple[str, float] | None = None
        self._site_fields = self._fields_of_sbatch_args()

    @classmethod
    def from_config(cls, config: SlurmConfig) -> SlurmRestBackend:
        """A backend for the ``slurm`` section of the emgsonar config (``api = rest``)."""
        return cls(
            url=config.rest_url,
            api_version=config.rest_api_version,
            user=config.rest_user,
            token=config.rest_token.get_secret_value() if config.rest_token else None,
            token_lifespan_seconds=config.rest_token_lifespan_seconds,
            timeout=config.rest_timeout_seconds,
            **SlurmCliBackend.config_kwargs(config),
        )

    def _fields_of_sbatch_args(self) -> dict[str, str | bool]:
        """``--qos=x`` and friends as REST fields; an option without one is refused up front
        rather than silently dropped."""
        fields: dict[str, str | bool] = {}
        for arg in self.sbatch_args:
            option, _, value = arg.partition("=")
            if option not in self.SBATCH_FIELDS:
                raise ClusterBackendError(
                    f"sbatch option {arg!r} has no equivalent in slurmrestd's job description",
                    hint=f"Use one of {', '.join(self.SBATCH_FIELDS)}, or EMGSONAR_SLURM__API=cli",
                )
            fields[self.SBATCH_FIELDS[option]] = value if value else True
        return fields

    # --- HTTP ------------------------------------------------------------------------------

    def token(self) -> str:
        """The JWT for the requests: configured, or made by ``scontrol token`` and cached."""
        if self._static_token:
            return self._static_token
        now = time.time()
        if self._token is not None and self._token[1] - now > TOKEN_RENEW_SECONDS:
            return self._token[0]
        args = ["scontrol", "token", f"lifespan={self.token_lifespan_seconds}"]
        if self.user != getpass.getuser():
            args.append(f"username={self.user}")
        proc = self._run(*args)
        match = re.search(r"SLURM_JWT=(\S+)", proc.stdout)
        if match is None:
            raise ClusterBackendError("scontrol token printed no token", value=proc.stdout)
        token = match.group(1)
        self._token = (token, _jwt_expiry(token) or now + self.token_lifespan_seconds)
        return token

    def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        missing_ok: bool = False,
        submitted_ok: bool = False,
    ) -> dict[str, Any]:
        """One request; the answer's JSON. Slurm's ``errors`` raise, except an unknown job id
        when ``missing_ok``, and any error of an answer that carries a job id when
        ``submitted_ok`` (the answer is returned, for the caller to look at).

        :raises ClusterBackendError: slurmrestd unreachable, or an error answer.
        """
        request = urllib.request.Request(
            f"{self.base}/{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "X-SLURM-USER-NAME": self.user,
                "X-SLURM-USER-TOKEN": self.token(),
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                data = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            try:
                data = json.loads(text)
            except ValueError:
                raise ClusterBackendError(
                    f"slurmrestd: {method} {path} answered HTTP {exc.code}: {text.strip()[:300]}",
                    hint="Is the token valid? (`./taskw slurm-status` checks slurmrestd)",
                ) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ClusterBackendError(
                f"could not reach slurmrestd at {self.base}: {exc}",
                hint="Is slurmrestd running? (`./taskw slurm-up` starts the dev one)",
            ) from exc
        errors = [error for error in data.get("errors", []) if error]
        if not errors:
            return data
        described = "; ".join(
            f"{e.get('error', '')} {e.get('description', '')}".strip() for e in errors
        )
        if missing_ok and all(_error_number(e) == INVALID_JOB_ID for e in errors):
            return data
        if submitted_ok and isinstance(data.get("job_id"), int):
            logger.warning(
                "slurmrestd: %s %s queued job %s: %s", method, path, data["job_id"], described
            )
            return data
        raise ClusterBackendError(f"slurmrestd: {method} {path} failed: {described}")

    # --- jobs ------------------------------------------------------------------------------

    def _job_fields(self, spec: JobSpec, name: str, output: str) -> dict[str, Any]:
        """The REST job description of what the ``#SBATCH`` lines say for the CLI (slurmrestd
        does not read them); the environment is the submitter's, as ``sbatch`` exports it."""
        fields: dict[str, Any] = {
            "name": name,
            "current_working_directory": str(self.project_dir),
            "standard_output": output,
            "open_mode": "append",
            "cpus_per_task": spec.cpus,
            "memory_per_node": spec.memory_mb,
            "time_limit": time_limit_minutes(spec.time_limit),
            # as the scripts' --no-requeue (backend.NO_REQUEUE); v0.0.38 ignores it, so a
            # requeued job is taken for lost by its restart count (slurm.classify)
            "requeue": False,
            "environment": {
                key: value for key, value in os.environ.items() if re.fullmatch(r"\w+", key)
            },
            **self._site_fields,
        }
        if self.partition:
            fields["partition"] = self.partition
        if self.account:
            fields["account"] = self.account
        return fields

    def _submit(self, script: str, fields: dict[str, Any], path: Path) -> str:
        """``POST job/submit``; the job id. An answer with a job id *and* errors is a queued
        job the controller cannot start yet (its node is down or drained: "Required node not
        available"); ``sbatch`` queues such a job silently, so it is no failure here either
        (raising would leave the queued job unrecorded, and it would run twice)."""
        body = {"script": script, "job": fields}
        data = self._request("POST", "job/submit", body, submitted_ok=True)
        job_id = str(data.get("job_id", ""))
        if not job_id.isdigit():
            raise ClusterBackendError("slurmrestd returned no job id", value=data, path=path)
        return job_id

    def submit(self, spec: JobSpec) -> str:
        """Write the script into the work directory and submit it.

        :returns: the Slurm job id.
        """
        script = self.render_script(spec)
        write_script(spec, script)
        fields = self._job_fields(spec, spec.name, str(spec.log_path))
        if spec.comment:
            fields["comment"] = spec.comment
        job_id = self._submit(script, fields, spec.script_path)
        logger.info("submitted %s as Slurm job %s (slurmrestd)", spec.key, job_id)
        return job_id

    def submit_array(self, array: ArraySpec) -> list[str]:
        """Write every task's script and the dispatcher; submit the array in one request.

        :returns: the tasks' job ids (``<array job id>_<index>``), in the order of the tasks.
        """
        for task in array.tasks:
            write_script(task, self.render_script(task))
        script = self.render_array_script(array)
        write_script(array, script)
        fields = self._job_fields(array.tasks[0], array.name, array.output_pattern)
        fields["array"] = array.array_option()
        if array.comment:
            fields["comment"] = array.comment
        job_id = self._submit(script, fields, array.script_path)
        logger.info(
            "submitted %d task(s) of %s as Slurm job array %s (slurmrestd)",
            len(array.tasks),
            array.name,
            job_id,
        )
        return array.task_job_ids(job_id)

    def status(self, job_id: str, spec: JobSpec, *, last_seen: float | None = None) -> JobStatus:
        """:meth:`status_many` of one job."""
        return self.status_many([(job_id, spec, last_seen)])[job_id]

    def status_many(
        self, jobs: Sequence[tuple[str, JobSpec, float | None]]
    ) -> dict[str, JobStatus]:
        """One ``GET jobs`` for all of them: slurmrestd answers with every job the controller
        holds, array tasks one by one (still pending ones folded into their array's record).

        :raises ClusterBackendError: slurmrestd unreachable or failing.
        """
        listed = _index_jobs(self._request("GET", "jobs").get("jobs", []))
        now = time.time()
        result: dict[str, JobStatus] = {}
        for job_id, spec, last_seen in jobs:
            if job_id in listed:
                result[job_id] = self._known(job_id, spec, *listed[job_id])
                continue
            first = self._unseen_since.setdefault(job_id, now)
            if last_seen is not None:
                first = last_seen
            result[job_id] = unknown_status(spec, first, self.lost_after_seconds, "UNKNOWN", now)
        return result

    def cancel(self, job_id: str) -> None:
        """``DELETE job/{id}``; cancelling a finished or unknown job is not an error."""
        self._request("DELETE", f"job/{job_id}", missing_ok=True)


def _error_number(error: dict[str, Any]) -> int | None:
    """Slurm's error number of an entry of ``errors`` (``error_number`` in some answers of
    ``v0.0.38``, ``error_code`` in others)."""
    number = error.get("error_number", error.get("error_code"))
    return number if isinstance(number, int) else None


def _index_jobs(records: list[dict[str, Any]]) -> dict[str, tuple[str, str, int | None, int]]:
    """slurmrestd's job records by job id (``<array>_<index>`` for array tasks): state, reason,
    exit code and how often Slurm requeued it. A record of an array's not yet started tasks
    (``array_task_string`` ``2-9%2``) stands for each of them."""
    listed: dict[str, tuple[str, str, int | None, int]] = {}
    for record in records:
        raw = str(record.get("job_state", ""))
        reason = str(record.get("state_reason", ""))
        code = record.get("exit_code")
        exit_code = wait_status_code(code) if isinstance(code, int) else None
        restarts = record.get("restart_cnt")
        restarts = restarts if isinstance(restarts, int) else 0
        array_id = record.get("array_job_id") or 0
        task_id = record.get("array_task_id")
        pending = str(record.get("array_task_string") or "")
        if array_id and task_id is not None:
            listed[f"{array_id}_{task_id}"] = (raw, reason, exit_code, restarts)
        elif array_id and pending:
            for index in expand_indices(pending):
                listed[f"{array_id}_{index}"] = (raw, reason, exit_code, restarts)
        else:
            listed[str(record.get("job_id"))] = (raw, reason, exit_code, restarts)
    return listed


def expand_indices(text: str) -> list[int]:
    """Slurm's array index expression (``1-3,7,9-13:2%4``) as the list of indices.

    >>> expand_indices("1-3,7,9-13:2%4")
    [1, 2, 3, 7, 9, 11, 13]
    """
    indices: list[int] = []
    for part in text.split("%")[0].split(","):
        if not part:
            continue
        span, _, step = part.partition(":")
        first, _, last = span.partition("-")
        indices.extend(range(int(first), int(last or first) + 1, int(step or 1)))
    return indices


def time_limit_minutes(limit: str) -> int:
    """A Slurm time limit (``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH[:MM[:SS]]``) in whole
    minutes, rounded up, as slurmrestd takes it (and as Slurm rounds ``--time`` itself).

    >>> [time_limit_minutes(t) for t in ("5", "00:02:00", "1:30", "1-00:00:01", "2-3")]
    [5, 2, 2, 1441, 3060]
    """
    days, _, rest = limit.rpartition("-")
    parts = [int(part) for part in rest.split(":")]
    if days:
        hours, minutes, seconds = [*parts, 0, 0][:3]
    elif len(parts) == 3:
        hours, minutes, seconds = parts
    elif len(parts) == 2:
        hours, (minutes, seconds) = 0, parts
    else:
        hours, minutes, seconds = 0, parts[0], 0
    total = ((int(days or 0) * 24 + hours) * 60 + minutes) * 60 + seconds
    return max(1, math.ceil(total / 60))


def _jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (its payload is base64url JSON), None if it has none."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    exp = claims.get("exp")
    return float(exp) if isinstance(exp, int | float) else None
