"""The state machine of an import (:class:`~emgsonar.models.ImportRun`), written in one place.

Flows, commands and the API never set ``ImportRun.state`` themselves; they call these functions,
which refuse transitions that make no sense (a completed import cannot start running again), so
the admin, the ``/api/imports/`` endpoint and the Prefect artifacts always agree.

::

    pending ──► running ──► completed
                  │  ▲
                  ▼  │
        awaiting_confirmation ──► cancelled
                  │
    (any unfinished state) ──► failed ──► running (a retry of the same flow run)

A run records the process that runs it (host, pid and the pid's start time) and a heartbeat
that process refreshes (:func:`start_heartbeat`). A process killed with SIGKILL runs no hook,
so its run would stay ``running`` for ever; :func:`reconcile_import_runs` (called by the next
import, by ``GET /api/imports/{id}/`` and by ``manage.py reconcile_import_runs``) marks such a
run failed: on the same host when its process is gone, on another host when its heartbeat is
older than ``EMGSONAR_IMPORTS__STALE_AFTER_SECONDS``. A run awaiting confirmation has no
process on purpose (a suspended flow run): it ends when nobody answered within
:data:`CONFIRMATION_TIMEOUT_SECONDS`, or as its flow run when that was cancelled or failed in
Prefect meanwhile.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, NamedTuple
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from emgsonar.errors import ConflictError, EmgsonarError, NotFoundError, ServiceUnavailableError
from emgsonar.models import ImportRun
from emgsonar.versions import tool_versions

logger = logging.getLogger(__name__)

State = ImportRun.State

#: allowed state changes; anything else is a bug in the caller
TRANSITIONS: dict[str, set[str]] = {
    State.PENDING: {State.RUNNING, State.FAILED, State.CANCELLED},
    State.RUNNING: {State.AWAITING_CONFIRMATION, State.COMPLETED, State.FAILED, State.CANCELLED},
    State.AWAITING_CONFIRMATION: {State.RUNNING, State.FAILED, State.CANCELLED},
    State.FAILED: {State.RUNNING},
    State.COMPLETED: set(),
    State.CANCELLED: set(),
}
FINISHED = {State.COMPLETED, State.FAILED, State.CANCELLED}
#: how long a run waits for the operator's answer to a confirmation before it fails
CONFIRMATION_TIMEOUT_SECONDS = 24 * 3600
#: dashboard address when PREFECT_UI_URL/PREFECT_API_URL say nothing
DEFAULT_DASHBOARD = "http://127.0.0.1:4200"


def create_import_run(
    kind: str,
    parameters: Mapping[str, Any],
    created_by_id: int | None = None,
    *,
    sandboxed: bool = False,
) -> ImportRun:
    """Record an import that is about to be started (state ``pending``).

    :param sandboxed: started over HTTP; its downloads keep to the web sandbox.
    """
    return ImportRun.objects.create(
        kind=kind,
        parameters=dict(parameters),
        tool_versions=tool_versions(),
        created_by_id=created_by_id,
        sandboxed=sandboxed,
    )


def is_sandboxed(import_run_id: int) -> bool:
    """Whether the run's downloads must keep to the web sandbox (it was started over HTTP)."""
    return ImportRun.objects.filter(pk=import_run_id, sandboxed=True).exists()


def start_import_run(
    kind: str,
    parameters: Mapping[str, Any],
    flow_run_id: UUID | str | None,
    import_run_id: int | None = None,
) -> int:
    """Mark an import as running in this process and return its id.

    The row is found by, in order: ``import_run_id`` (created by the API before the flow run
    existed), the flow run id (a Prefect retry of the same flow run, or a suspended flow run
    resumed after the operator's answer, continues its row), or made new. Runs whose process is
    gone are reconciled first (:func:`reconcile_import_runs`).

    A run resumed after a suspension starts with an empty summary: the flow runs again from
    its start, and the steps before the question (download, metadata check, split, plan) write
    their counts again; nothing after them had run.
    """
    reconcile_import_runs()
    with transaction.atomic():
        run = None
        if import_run_id is not None:
            run = ImportRun.objects.select_for_update().filter(pk=import_run_id).first()
            if run is None:
                raise NotFoundError(f"import run #{import_run_id} does not exist")
        elif flow_run_id is not None:
            run = ImportRun.objects.select_for_update().filter(flow_run_id=flow_run_id).first()
        if run is None:
            run = ImportRun(kind=kind, parameters=dict(parameters))
        if run.state != State.RUNNING and run.pk is not None:
            _check(run, State.RUNNING)
        if run.state == State.AWAITING_CONFIRMATION:
            logger.info("import #%s resumed after the operator's answer", run.pk)
            run.summary = {}
        me = ProcessIdentity.current()
        run.state = State.RUNNING
        run.flow_run_id = flow_run_id or run.flow_run_id
        run.tool_versions = tool_versions()
        run.started = run.started or timezone.now()
        run.finished = None
        run.error = ""
        run.host, run.pid, run.pid_start_ticks = me.host, me.pid, me.start_ticks
        run.heartbeat = timezone.now()
        run.save()
    start_heartbeat(run.pk)
    logger.info("%s import #%s running (flow run %s)", kind, run.pk, flow_run_id)
    return run.pk


# --- the process of a run: heartbeat, and reconciling runs whose process is gone -------------


@dataclasses.dataclass(frozen=True)
class ProcessIdentity:
    """A process, told apart from a later one that got the same pid: host, pid and the
    process's start time (clock ticks since boot, ``/proc/<pid>/stat`` field 22)."""

    host: str
    pid: int
    start_ticks: int | None

    @classmethod
    def current(cls) -> ProcessIdentity:
        return cls(socket.gethostname(), os.getpid(), pid_start_ticks(os.getpid()))


def pid_start_ticks(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), None if there is no such process
    or no ``/proc`` to tell."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])  # field 22; fields 1-2 are before ")"


def process_alive(pid: int, start_ticks: int | None) -> bool:
    """Whether the process recorded as ``pid`` (started at ``start_ticks``) still runs here;
    a zombie counts as gone, a process with that pid but another start time too."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return False
    return start_ticks is None or int(fields[19]) == start_ticks


class _Heartbeat(threading.Thread):
    """Refreshes one run's ``heartbeat`` every ``interval`` seconds while the run is unfinished
    (stops by itself once it is finished or gone; dies with the process, which is the point)."""

    def __init__(self, import_run_id: int, interval: float) -> None:
        super().__init__(name=f"import-run-{import_run_id}-heartbeat", daemon=True)
        self.import_run_id, self.interval = import_run_id, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                alive = self.beat()
            except Exception:  # the database may be briefly away; the next beat retries
                logger.warning("heartbeat of import #%s failed", self.import_run_id, exc_info=True)
                alive = 1
            finally:
                connection.close()  # one short connection per beat, none held in between
            if not alive:
                break
        _HEARTBEATS.pop(self.import_run_id, None)

    def beat(self) -> int:
        """Refresh the heartbeat; 0 when the run is no longer this process's to run.

        A run marked interrupted while this process lives (judged from another host when its
        beats could not reach the database for longer than the limit) is taken back: running
        again, the reason cleared, so the flow can still finish it.
        """
        now = timezone.now()
        mine = ImportRun.objects.filter(pk=self.import_run_id, pid=os.getpid())
        alive = mine.filter(state__in=[State.RUNNING, State.AWAITING_CONFIRMATION]).update(
            heartbeat=now
        )
        if not alive:
            alive = mine.filter(state=State.FAILED, error__startswith=INTERRUPTED).update(
                state=State.RUNNING, error="", finished=None, heartbeat=now
            )
            if alive:
                logger.warning(
                    "import #%s was marked interrupted although its process lives; running again",
                    self.import_run_id,
                )
        return alive


_HEARTBEATS: dict[int, _Heartbeat] = {}


def start_heartbeat(import_run_id: int) -> None:
    """Keep the run's heartbeat fresh from this process (once per run and process)."""
    beat = _HEARTBEATS.get(import_run_id)
    if beat is not None and beat.is_alive():
        return
    beat = _Heartbeat(import_run_id, settings.EMGSONAR_CONFIG.imports.heartbeat_seconds)
    _HEARTBEATS[import_run_id] = beat
    beat.start()


def stop_heartbeat(import_run_id: int) -> None:
    """Stop this process's heartbeat of the run (it finished)."""
    beat = _HEARTBEATS.pop(import_run_id, None)
    if beat is not None:
        beat.stopped.set()


#: how the reason of a run whose process is gone starts (see :func:`interrupted_reason`)
INTERRUPTED = "interrupted:"


def interrupted_reason(run: ImportRun, now: datetime.datetime | None = None) -> str | None:
    """Why a ``running`` run can no longer finish (its process is gone), or None.

    Same host: the recorded process no longer exists (a live process is never judged, however
    old its heartbeat). Another host, or no process recorded: the last heartbeat (else the
    last change) is older than ``stale_after_seconds``.
    """
    limit = settings.EMGSONAR_CONFIG.imports.stale_after_seconds
    if _on_this_host(run):
        if process_alive(run.pid, run.pid_start_ticks):
            return None
        return (
            f"{INTERRUPTED} its process is gone (pid {run.pid} on {run.host} ended without "
            "finishing the run, e.g. killed); re-run the import"
        )
    last = run.heartbeat or run.updated
    age = ((now or timezone.now()) - last).total_seconds()
    if age <= limit:
        return None
    where = f"pid {run.pid} on {run.host}" if run.host else "its process"
    return (
        f"{INTERRUPTED} no heartbeat from {where} for {age:.0f} s (limit "
        f"EMGSONAR_IMPORTS__STALE_AFTER_SECONDS={limit:g}), its process is gone; "
        "re-run the import"
    )


def unanswered_reason(run: ImportRun, now: datetime.datetime | None = None) -> str | None:
    """Why a run ``awaiting_confirmation`` is over: nobody answered within
    :data:`CONFIRMATION_TIMEOUT_SECONDS` (Prefect fails the suspended flow run then, but no
    process of ours is left to record it)."""
    age = ((now or timezone.now()) - run.updated).total_seconds()
    if age <= CONFIRMATION_TIMEOUT_SECONDS:
        return None
    return (
        f"no answer to the confirmation within {CONFIRMATION_TIMEOUT_SECONDS // 3600} h; "
        "start the import again"
    )


class Ended(NamedTuple):
    """An import the sweep ended: its id, new state and why."""

    pk: int
    state: str
    reason: str


def _over(run: ImportRun, prefect_states: Mapping[UUID, Any]) -> tuple[str, str] | None:
    """The state an unfinished run must now take and why, or None (it is fine)."""
    if run.state == State.RUNNING:
        reason = interrupted_reason(run)
        return (State.FAILED, reason) if reason else None
    if run.state != State.AWAITING_CONFIRMATION:
        return None
    reason = unanswered_reason(run)
    if reason:
        return State.FAILED, reason
    flow_state = prefect_states.get(run.flow_run_id)
    if flow_state is None or not flow_state.is_final():
        return None
    if flow_state.is_cancelled():
        return State.CANCELLED, "the flow run was cancelled while awaiting confirmation"
    why = flow_state.message or flow_state.name
    return State.FAILED, f"the flow run ended {flow_state.name} while awaiting confirmation: {why}"


def reconcile_import_runs(ids: Sequence[int] | None = None) -> list[Ended]:
    """End every unfinished import (of ``ids``, else all) that can no longer go on: failed
    when ``running`` with its process gone or ``awaiting_confirmation`` unanswered for
    :data:`CONFIRMATION_TIMEOUT_SECONDS`; as its suspended flow run when that was cancelled or
    failed in Prefect meanwhile (no process of ours was there to record it).

    :returns: each run ended, with its new state and the reason.
    """
    candidates = ImportRun.objects.filter(state__in=[State.RUNNING, State.AWAITING_CONFIRMATION])
    if ids is not None:
        candidates = candidates.filter(pk__in=list(ids))
    fields = ("pk", "state", "host", "pid", "pid_start_ticks", "heartbeat", "updated")
    runs = list(candidates.only(*fields, "flow_run_id"))
    waiting = [r.flow_run_id for r in runs if r.state == State.AWAITING_CONFIRMATION]
    prefect_states = flow_run_states([i for i in waiting if i is not None])
    ended = []
    for run in runs:
        if _over(run, prefect_states) is None:
            continue
        with transaction.atomic():  # judged again under the row lock: it may have finished
            run = ImportRun.objects.select_for_update().get(pk=run.pk)
            over = _over(run, prefect_states)
            if over is None:
                continue
            certain = run.state == State.RUNNING and _on_this_host(run)
            (run.state, reason), run.finished = over, timezone.now()
            run.error = reason
            run.save(update_fields=["state", "error", "finished", "updated"])
        logger.warning("import run #%s: %s (%s)", run.pk, run.state, reason)
        if certain and run.flow_run_id is not None:
            crash_flow_run(run.flow_run_id, reason)
        ended.append(Ended(run.pk, run.state, reason))
    return ended


def flow_run_states(flow_run_ids: Sequence[UUID]) -> dict[UUID, Any]:
    """The Prefect states of these flow runs (one request); empty without a configured
    Prefect API or when it does not answer (best effort, like :func:`crash_flow_run`)."""
    from prefect.settings import PREFECT_API_URL

    if not flow_run_ids or not PREFECT_API_URL.value():
        return {}
    try:
        from prefect import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        with get_client(sync_client=True) as client:
            found = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(flow_run_ids)))
            )
    except Exception:
        logger.warning(
            "could not read the states of %d flow run(s)", len(flow_run_ids), exc_info=True
        )
        return {}
    return {flow_run.id: flow_run.state for flow_run in found if flow_run.state is not None}


def _on_this_host(run: ImportRun) -> bool:
    return run.host == socket.gethostname() and run.pid is not None


def crash_flow_run(flow_run_id: UUID, reason: str) -> None:
    """Mark the Prefect flow run of an import whose process is known to be gone ``Crashed``
    with ``reason``, so the dashboard does not show it running for ever either.

    Only for a process seen gone on this host (certain); a run judged by its heartbeat's age
    may still live, and a crashed flow run could not be finished by it. Best effort: without
    a configured Prefect API (no temporary server is started for this) or when it does not
    answer, the ImportRun alone says it.
    """
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        return
    try:
        from prefect import get_client
        from prefect.states import Crashed

        with get_client(sync_client=True) as client:
            flow_run = client.read_flow_run(flow_run_id)
            if flow_run.state is None or not flow_run.state.is_final():
                client.set_flow_run_state(flow_run_id, Crashed(message=reason), force=True)
    except Exception:  # the ImportRun is already right; Prefect is only told when it can be
        logger.warning("could not mark flow run %s crashed", flow_run_id, exc_info=True)


def _check(run: ImportRun, new: str) -> None:
    if new not in TRANSITIONS[run.state]:
        raise ConflictError(
            f"import run #{run.pk} is {run.state} and cannot become {new}",
            hint="start a new import instead",
        )


def set_state(import_run_id: int, new: str, error: str = "") -> None:
    """Move an import to ``new`` (checked against :data:`TRANSITIONS`)."""
    with transaction.atomic():
        run = ImportRun.objects.select_for_update().get(pk=import_run_id)
        if run.state == new:
            return
        _check(run, new)
        run.state = new
        if error:
            run.error = error
        if new in FINISHED:
            run.finished = timezone.now()
        run.save(update_fields=["state", "error", "finished", "updated"])
    if new in FINISHED:
        stop_heartbeat(import_run_id)


def update_summary(import_run_id: int, **parts: Any) -> dict[str, Any]:
    """Merge ``parts`` into the run's summary (dicts are merged one level deep).

    :returns: the new summary.
    """
    with transaction.atomic():
        run = ImportRun.objects.select_for_update().get(pk=import_run_id)
        summary = dict(run.summary or {})
        for key, value in parts.items():
            if isinstance(value, dict) and isinstance(summary.get(key), dict):
                summary[key] = {**summary[key], **value}
            else:
                summary[key] = value
        run.summary = summary
        run.save(update_fields=["summary", "updated"])
    return summary


def record_step(import_run_id: int, step: str, seconds: float, **figures: Any) -> None:
    """Record how long a step took (and what it counted) in the run's summary."""
    update_summary(import_run_id, steps={step: {"seconds": round(seconds, 3), **figures}})


def get_summary(import_run_id: int) -> dict[str, Any]:
    """The run's current summary."""
    return dict(ImportRun.objects.values_list("summary", flat=True).get(pk=import_run_id) or {})


class OrchestratorUnavailableError(ServiceUnavailableError):
    """Prefect could not start a flow run (server down, deployment missing)."""

    code: ClassVar[str] = "orchestrator_unavailable"


def deployment_name(flow_name: str) -> str:
    """``flow/deployment`` of a flow's deployment (deployment/prefect.yaml)."""
    return f"{flow_name}/{settings.EMGSONAR_CONFIG.prefect.deployment_suffix}"


def dashboard_url(flow_run_id: UUID | str | None) -> str | None:
    """Link to a flow run in the Prefect dashboard."""
    if flow_run_id is None:
        return None
    from prefect.utilities.urls import url_for

    return url_for("flow-run", obj_id=str(flow_run_id), default_base_url=DEFAULT_DASHBOARD)


def start_import_via_deployment(
    kind: str,
    flow_name: str,
    parameters: Mapping[str, Any],
    created_by_id: int | None = None,
    *,
    sandboxed: bool = False,
) -> ImportRun:
    """Record a pending import and create a flow run of its deployment for a worker to pick up.

    The ImportRun exists before the flow run, so the caller can report on it at once; the flow
    receives its id and takes it over (``pending`` → ``running``).

    :raises OrchestratorUnavailableError: Prefect is down or the deployment does not exist (the
        ImportRun is then marked failed with the reason).
    """
    import httpx
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    run = create_import_run(kind, parameters, created_by_id, sandboxed=sandboxed)
    name = deployment_name(flow_name)
    try:
        flow_run = run_deployment(
            name,
            parameters={
                **{k: v for k, v in parameters.items() if v is not None},
                "import_run_id": run.pk,
            },
            timeout=0,
            as_subflow=False,
            tags=["emgsonar", "api"],
        )
    except (httpx.HTTPError, ObjectNotFound) as exc:
        # the server cannot be reached or answers with an error; 404: no such deployment
        reason = f"could not start a run of deployment {name}: {exc}"
        set_state(run.pk, State.FAILED, error=reason)
        raise OrchestratorUnavailableError(
            reason,
            hint="Check that the Prefect server runs and the flows are deployed "
            "(./taskw run; ./taskw deploy-flows)",
        ) from exc
    ImportRun.objects.filter(pk=run.pk, flow_run_id__isnull=True).update(flow_run_id=flow_run.id)
    run.refresh_from_db()
    logger.info("import run #%s: started flow run %s of %s", run.pk, flow_run.id, name)
    return run


#: failed records kept in the summary (all are counted; the first ones are listed with reasons)
MAX_LISTED_FAILURES = 1000


def add_to_summary(
    import_run_id: int,
    counts: Mapping[str, int] | None = None,
    failures: Sequence[tuple[str, str]] = (),
    **values: Any,
) -> dict[str, Any]:
    """Add ``counts`` to the summary's counts, append ``failures``, set ``values``.

    Chunks report what they did one by one; summing here (under a row lock) keeps the totals
    right when a flow is resumed or two tasks report at once.

    :param failures: ``(record, reason)`` pairs; only the first :data:`MAX_LISTED_FAILURES`
        are listed, ``counts["failed"]`` counts all.
    """
    with transaction.atomic():
        run = ImportRun.objects.select_for_update().get(pk=import_run_id)
        summary = dict(run.summary or {})
        total = dict(summary.get("counts") or {})
        for name, value in (counts or {}).items():
            total[name] = total.get(name, 0) + int(value)
        listed = list(summary.get("failures") or [])
        room = max(0, MAX_LISTED_FAILURES - len(listed))
        listed += [{"record": r, "reason": why} for r, why in list(failures)[:room]]
        summary.update(values)
        summary["counts"] = total
        if failures or listed:
            summary["failures"] = listed
        run.summary = summary
        run.save(update_fields=["summary", "updated"])
    return summary


@contextmanager
def timed_step(
    import_run_id: int, step: str, records: int | None = None, *, accumulate: bool = True
) -> Iterator[dict[str, Any]]:
    """Time a step and add the seconds (and records) to ``summary["steps"][step]``.

    Yields a dict in which the step may set ``records`` once it knows them. Steps that run once
    per chunk (annotate, load) accumulate; a step given ``accumulate=False`` overwrites.
    """
    figures: dict[str, Any] = {"records": records}
    start = time.perf_counter()
    try:
        yield figures
    finally:
        seconds = time.perf_counter() - start
        with transaction.atomic():
            run = ImportRun.objects.select_for_update().get(pk=import_run_id)
            summary = dict(run.summary or {})
            steps = dict(summary.get("steps") or {})
            old = dict(steps.get(step) or {}) if accumulate else {}
            entry = {"seconds": round(old.get("seconds", 0.0) + seconds, 3)}
            if figures.get("records") is not None:
                entry["records"] = old.get("records", 0) + int(figures["records"])
            steps[step] = entry
            summary["steps"] = steps
            run.summary = summary
            run.save(update_fields=["summary", "updated"])


class ConfirmationRequiredError(EmgsonarError):
    """An import would replace the sequences of existing samples and nobody confirmed it."""

    code: ClassVar[str] = "confirmation_required"


def describe_replacement(samples: Sequence[str], shown: int = 20) -> str:
    """``3 sample(s) would have their sequences replaced: A, B, C`` (the first ``shown``)."""
    listed = ", ".join(samples[:shown])
    more = f" and {len(samples) - shown} more" if len(samples) > shown else ""
    return f"{len(samples)} sample(s) would have their sequences replaced: {listed}{more}"
