"""POST/GET /api/imports/: a real deployment on the Prefect test server, no worker.

The POST must create a flow run of the ``import_samples`` deployment with the request's
parameters and the ImportRun's id; without a worker the run stays scheduled and the ImportRun
pending, which is exactly what a client sees until a worker picks the run up. What the POST
refuses before that (sandbox, bad input) is in test_import_preflight.py.
"""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import pytest
from django.contrib.auth.models import Permission, User
from ninja.testing import TestClient
from prefect import get_client
from prefect.client.schemas.actions import WorkPoolCreate

from emgsonar.api import api
from emgsonar.models import ApiToken, ImportRun
from tests.conftest import REPO_ROOT, SHARED_DATA
from tests.flows.helpers import flow_run

pytestmark = [pytest.mark.prefect, pytest.mark.django_db(transaction=True)]

BODY = {
    "reference": "MN908947.3",
    "fasta": str(SHARED_DATA / "sars-cov-2" / "SARS-CoV-2_12.fasta.xz"),
    "cols": {"name": "name"},
    "auto_link": True,
    "chunk_size": 4,
}


@pytest.fixture
def sandbox(settings, import_dirs: Path, shared_data: Path) -> Path:
    """Imports over HTTP may read ``inbox/`` (made here) and the shared data; no URL.

    Returns the inbox. Set explicitly, so the tests do not depend on where the checkout and
    the shared data are (the defaults are ``.data/imports`` and ``../shared/data``).
    """
    inbox = import_dirs / "inbox"
    inbox.mkdir()
    cfg = settings.EMGSONAR_CONFIG
    settings.EMGSONAR_CONFIG = cfg.model_copy(
        update={
            "imports": cfg.imports.model_copy(
                update={"allowed_roots": [inbox, shared_data], "allowed_url_prefixes": []}
            )
        }
    )
    return inbox


def deploy_import_samples() -> None:
    """The deployment of deployment/prefect.yaml, registered the way `prefect deploy` does."""
    from prefect import Flow

    with get_client(sync_client=True) as client:
        names = {pool.name for pool in client.read_work_pools()}
        if "emgsonar-pool" not in names:
            client.create_work_pool(WorkPoolCreate(name="emgsonar-pool", type="process"))
    flow = Flow.from_source(
        source=str(REPO_ROOT), entrypoint="workflows/flows/import_samples.py:import_samples"
    )
    flow.deploy(name="emgsonar", work_pool_name="emgsonar-pool", print_next_steps=False)


def user_with(*codenames: str) -> tuple[User, str]:
    user = User.objects.create_user("operator")
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    _, key = ApiToken.issue(user, "test")
    return user, key


def test_post_starts_a_run_of_the_deployment_and_get_reports_it(
    sandbox: Path, sars_cov_2_reference: str
) -> None:
    client = TestClient(api)
    user, key = user_with("add_importrun", "view_importrun")
    auth = {"Authorization": f"Bearer {key}"}

    # anonymous, no permission, invalid body
    assert client.post("/imports/", json=BODY).status_code == 401
    _, weak_key = ApiToken.issue(User.objects.create_user("reader"), "weak")
    denied = client.post("/imports/", json=BODY, headers={"Authorization": f"Bearer {weak_key}"})
    assert denied.status_code == 403
    assert "emgsonar.add_importrun" in denied.json()["detail"]
    bad = client.post("/imports/", json={**BODY, "fasta": None}, headers=auth)
    assert bad.status_code == 422
    assert client.post("/imports/", json={**BODY, "bogus": 1}, headers=auth).status_code == 422

    # no deployment yet: 503, and the ImportRun says why
    missing = client.post("/imports/", json=BODY, headers=auth)
    assert missing.status_code == 503
    assert missing.json()["code"] == "orchestrator_unavailable"
    assert "import_samples/emgsonar" in missing.json()["detail"]
    assert ImportRun.objects.get(kind="samples").state == "failed"

    deploy_import_samples()
    started = client.post("/imports/", json=BODY, headers=auth)

    assert started.status_code == 202, started.json()
    body = started.json()
    assert body["state"] == "pending" and body["kind"] == "samples"
    assert body["parameters"]["reference"] == "MN908947.3"
    assert body["dashboard_url"].endswith(f"/runs/flow-run/{body['flow_run_id']}")
    run = ImportRun.objects.get(pk=body["id"])
    assert run.created_by == user and str(run.flow_run_id) == body["flow_run_id"]
    fr = flow_run(body["flow_run_id"])
    assert fr.state.is_scheduled()
    assert fr.parameters["import_run_id"] == run.pk
    assert fr.parameters["fasta"] == BODY["fasta"] and fr.parameters["chunk_size"] == 4
    assert "params" not in fr.parameters  # flat: one parameter per field
    with get_client(sync_client=True) as prefect:
        deployment = prefect.read_deployment(fr.deployment_id)
    assert deployment.name == "emgsonar" and deployment.work_pool_name == "emgsonar-pool"
    form = deployment.parameter_openapi_schema
    # the run form: one typed field per parameter, with its default and help text, and no
    # "null" branch (the dashboard shows those as "Property is type 'None'")
    fields = form["properties"]
    assert form["required"] == ["reference"]
    assert fields["chunk_size"]["type"] == "integer" and fields["chunk_size"]["minimum"] == 1
    assert fields["executor"]["enum"] == ["local", "slurm"]
    assert fields["auto_link"] == {**fields["auto_link"], "type": "boolean", "default": False}
    assert all(field.get("description") for field in fields.values())
    assert "anyOf" not in str(form) and "null" not in str(form).replace("None", "")

    got = client.get(f"/imports/{run.pk}/", headers=auth)
    assert got.status_code == 200
    assert (
        got.json() == {**body, "updated": got.json().get("updated")} or got.json()["id"] == run.pk
    )
    assert got.json()["state"] == "pending"
    assert UUID(got.json()["flow_run_id"]) == run.flow_run_id
    assert client.get("/imports/999999/", headers=auth).status_code == 404
    assert client.get(f"/imports/{run.pk}/").status_code == 401


def test_post_while_prefect_is_down_is_a_503_naming_the_cause(
    sandbox: Path, sars_cov_2_reference: str
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    _, key = user_with("add_importrun")
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):  # nothing listens
        down = TestClient(api).post(
            "/imports/", json=BODY, headers={"Authorization": f"Bearer {key}"}
        )
    assert down.status_code == 503
    assert down.json() == {
        "detail": "could not start a run of deployment import_samples/emgsonar: [Errno 111] "
        "Connection refused. Check that the Prefect server runs and the flows are deployed "
        "(./taskw run; ./taskw deploy-flows).",
        "code": "orchestrator_unavailable",
    }
    run = ImportRun.objects.get(kind="samples")
    assert run.state == "failed" and "Connection refused" in run.error
