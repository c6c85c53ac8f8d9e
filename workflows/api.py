"""``/api/imports/``: start a sample import through its Prefect deployment, and follow it.

For clients that never open the dashboard: ``POST`` takes the same parameter model as the
``import_samples`` flow (and its dashboard form and command line), checks it first
(:mod:`workflows.sources`: the sandbox, the reference, each file's existence and start), then
records a pending ImportRun and creates a flow run of the deployment for a worker to pick up;
``GET`` reports the ImportRun's state and summary with a link to the flow run.
"""

from django.http import HttpRequest
from ninja import Router, Status

from emgsonar.auth import WRITE_AUTH, request_user, require_permission
from emgsonar.models import ImportRun
from emgsonar.schemas import ErrorOut
from workflows import queries, services, sources
from workflows.flows.params import ImportSamplesParams
from workflows.schemas import ImportRunOut

router = Router(tags=["imports"])

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


def _out(run: ImportRun) -> ImportRun:
    run.dashboard_url = services.dashboard_url(run.flow_run_id)
    return run


@router.post("imports/", response={202: ImportRunOut, 503: ErrorOut, **ERRORS}, auth=WRITE_AUTH)
def start_import(request: HttpRequest, params: ImportSamplesParams) -> Status:
    """Start an ``import_samples`` run of the deployment; answer at once with the pending import.

    Needs the permission ``emgsonar.add_importrun``. Before anything is recorded, the request
    is refused with **403** when a path lies outside ``EMGSONAR_IMPORTS__ALLOWED_ROOTS`` (after
    resolving symlinks and ``..``) or a URL outside ``EMGSONAR_IMPORTS__ALLOWED_URL_PREFIXES``,
    and with **400** and the command line's message when the reference is unknown, a file is
    missing or does not start as its kind should (FASTA record, metadata header).

    Poll ``GET /api/imports/{id}/`` for the state; ``awaiting_confirmation`` means samples would
    have their sequences replaced and an operator must confirm in the dashboard (or send
    ``confirm_replace: true`` next time).
    """
    require_permission(request, "emgsonar.add_importrun")
    sources.check_samples_import(params)
    user = request_user(request)
    run = services.start_import_via_deployment(
        ImportRun.Kind.SAMPLES,
        "import_samples",
        params.model_dump(mode="json"),
        created_by_id=user.pk if user else None,
        sandboxed=True,
    )
    return Status(202, _out(run))


@router.get("imports/{int:pk}/", response={200: ImportRunOut, **ERRORS}, auth=WRITE_AUTH)
def get_import(request: HttpRequest, pk: int) -> ImportRun:
    """State, summary and flow run of one import (permission ``emgsonar.view_importrun``).

    A ``running`` import whose process is gone (killed, its node rebooted) is marked and
    answered ``failed``, its ``error`` saying why (``interrupted: ...; re-run the import``).
    """
    require_permission(request, "emgsonar.view_importrun")
    services.reconcile_import_runs(ids=[pk])  # a run whose process is gone reads as failed
    return _out(queries.get_import_run(pk))
