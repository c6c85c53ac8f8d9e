"""Tasks and hooks shared by every import flow: the ImportRun lifecycle and downloads.

Each task is a thin wrapper around :mod:`workflows.services` or :mod:`ena_like.download`; the
flow-state hooks keep the ImportRun's state in step with the flow run's when a run fails,
crashes or is cancelled, so the flows themselves need no ``try``/``except``.
"""

import workflows.prefect_utils.django_setup  # noqa: F401

# isort: split
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from prefect import runtime
from prefect.client.schemas.objects import Flow, FlowRun, TaskRun
from prefect.states import State

from emgsonar.errors import EmgsonarError
from emgsonar.models import ImportRun
from ena_like.download import FetchedFile, fetch
from workflows import services, sources
from workflows.prefect_utils.artifacts import admin_url, publish_summary
from workflows.prefect_utils.tasks import django_task

logger = logging.getLogger(__name__)


def retry_unless_user_error(task: Any, task_run: TaskRun, state: State) -> bool:
    """Retry condition for I/O tasks: retry transient failures, never a user's mistake.

    A missing file, a 404 or a bad checksum (an :class:`EmgsonarError`) fails the same way on
    every attempt; a dropped connection or a full disk may not.
    """
    try:
        state.result()
    except EmgsonarError:
        return False
    except Exception:
        return True
    return False


def run_parameter(name: str) -> Any:
    """A parameter of the current flow run (for run names); the flows' parameters are flat
    (:func:`workflows.flows.params.flat_parameters`)."""
    return runtime.flow_run.parameters.get(name)


def current_flow_run_id() -> str | None:
    """The id of the flow run we are in (``None`` when a task's ``.fn`` is called directly)."""
    return runtime.flow_run.id


@django_task(name="start-import-run")
def start_import_run(kind: str, parameters: Mapping[str, Any], import_run_id: int | None) -> int:
    """Create or resume the ImportRun of this flow run and mark it running."""
    return services.start_import_run(kind, parameters, current_flow_run_id(), import_run_id)


@django_task(
    name="download",
    retries=2,
    retry_delay_seconds=[5, 30],
    retry_condition_fn=retry_unless_user_error,
)
def download(
    source: str, sha256: str | None = None, import_run_id: int | None = None
) -> FetchedFile:
    """Make an input available on local disk (URL, path or ``ena:ACC``), verified by SHA-256.

    An import started over HTTP (its ImportRun is ``sandboxed``) reads only what the web
    sandbox allows, checked again here (the file or URL may have changed since the request):
    paths under the allowed roots, URLs under the allowed prefixes, every redirect target too.
    """
    cfg = settings.EMGSONAR_CONFIG
    sandboxed = import_run_id is not None and services.is_sandboxed(import_run_id)
    if sandboxed:
        sources.check_sandbox(source)
    return fetch(
        source,
        Path(cfg.imports.download_dir),
        sha256=sha256,
        retries=cfg.ena.retries,
        timeout=cfg.ena.timeout_seconds,
        ena_base_url=cfg.ena.browser_api_url,
        allow_url=sources.sandboxed_url if sandboxed else None,
    )


@django_task(name="finish-import-run")
def finish_import_run(
    kind: str, import_run_id: int, title: str, links: Mapping[str, str]
) -> dict[str, Any]:
    """Mark the import completed and publish its summary artifact; return the summary."""
    services.set_state(import_run_id, ImportRun.State.COMPLETED)
    summary = services.get_summary(import_run_id)
    publish_summary(kind, import_run_id, title, summary, links)
    return summary


def _import_run_of(flow_run: FlowRun) -> ImportRun | None:
    run = ImportRun.objects.filter(flow_run_id=flow_run.id).first()
    if run is None and (pk := (flow_run.parameters or {}).get("import_run_id")):
        run = ImportRun.objects.filter(pk=pk).first()
    return run


def _finish_from_hook(flow_run: FlowRun, state: State, new: str) -> None:
    services_state = None
    try:
        run = _import_run_of(flow_run)
        if run is None or run.state in services.FINISHED:
            return
        services_state = run.state
        services.set_state(run.pk, new, error=state.message or new)
        publish_failure_summary(run, new, state.message or new)
    except Exception:  # a hook must never hide the flow's own error
        logger.exception("could not mark the import of flow run %s as %s", flow_run.id, new)
    else:
        logger.info("import of flow run %s: %s -> %s", flow_run.id, services_state, new)


def publish_failure_summary(run: ImportRun, new: str, error: str) -> None:
    """The summary artifact of an import that did not complete (state ``new``): how far it
    got and why it stopped (e.g. a cluster job's OUT_OF_MEMORY), where an operator looks."""
    summary = {**services.get_summary(run.pk), "error": error}
    title = f"{run.kind.capitalize()} import #{run.pk}: {new}"
    links = {f"import run #{run.pk} (admin)": admin_url("emgsonar", "importrun", run.pk)}
    publish_summary(run.kind, run.pk, title, summary, links)


def on_failure(flow: Flow, flow_run: FlowRun, state: State) -> None:
    """Flow hook: a failed or crashed flow run fails its ImportRun (with the error message)."""
    _finish_from_hook(flow_run, state, ImportRun.State.FAILED)


def on_cancellation(flow: Flow, flow_run: FlowRun, state: State) -> None:
    """Flow hook: a cancelled flow run cancels its ImportRun."""
    _finish_from_hook(flow_run, state, ImportRun.State.CANCELLED)


HOOKS: dict[str, Any] = {
    "on_failure": [on_failure],
    "on_crashed": [on_failure],
    "on_cancellation": [on_cancellation],
}
