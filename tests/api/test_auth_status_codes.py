"""Every operation of the OpenAPI answers 401 without credentials or with a bad token, and every
write answers 403 to a user without its permission; CSRF never turns those into a 403.

The operations come from the generated schema, so a new endpoint is covered without editing
this file. Clients enforce CSRF checks as a browser-facing server does (Django's test client
skips them by default, which hid the 403 "CSRF check Failed" an anonymous POST used to get).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.test import Client, override_settings

from emgsonar.api import api
from emgsonar.auth import PublicReads
from emgsonar.models import ApiToken

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    #: the JSON request body's schema, ``None`` when the operation takes no body
    body_schema: dict | None

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


SCHEMA = api.get_openapi_schema(path_prefix="/api/")


def _operations() -> list[Operation]:
    """Every operation of the generated OpenAPI that declares a security requirement."""
    found = []
    for path, methods in SCHEMA["paths"].items():
        for method, spec in methods.items():
            if spec.get("security"):
                content = spec.get("requestBody", {}).get("content", {})
                body = content.get("application/json", {}).get("schema")
                found.append(Operation(method, path, spec["operationId"], body))
    return found


def _public_read_ids() -> set[str]:
    """Ids of the operations anyone may call while reads are public.

    Read from the bound operations, as Ninja's own schema generator does: the OpenAPI document
    names the security schemes but not the public-reads switch.
    """
    return {
        api.get_openapi_operation_id(op)
        for bound in api._get_bound_routers()
        for path_view in bound.path_operations.values()
        for op in path_view.operations
        if any(isinstance(auth, PublicReads) for auth in op.auth_callbacks)
    }


OPERATIONS = _operations()
PUBLIC = _public_read_ids()
#: operations that need a user with a permission: every write, and reading an import's
#: state; a POST may be a read (bulk lookups), then it is public like the GETs
GUARDED = [op for op in OPERATIONS if op.operation_id not in PUBLIC]


def test_the_schema_has_the_writes_we_know_of() -> None:
    """Guards the derivation: if it found nothing, every parametrised test would pass vacuously."""
    paths = {str(op) for op in GUARDED}
    assert {"POST /api/imports/", "POST /api/samples/delete_sample_data/"} <= paths
    assert "POST /api/samples/get_bulk_sequence_data/" not in paths
    assert len(OPERATIONS) > len(GUARDED) > 3


def _deref(schema: dict) -> dict:
    while "$ref" in schema:
        node: Any = SCHEMA
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def minimal_instance(schema: dict) -> Any:
    """The smallest value the JSON Schema accepts: required keys only, first alternatives."""
    schema = _deref(schema)
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [_deref(o) for o in schema[key]]
            return minimal_instance(next(o for o in options if o.get("type") != "null"))
    kind = schema.get("type", "object")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: minimal_instance(props[name]) for name in schema.get("required", ())}
    if kind == "array":
        return [minimal_instance(schema["items"])] * schema.get("minItems", 0)
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    return {"boolean": False, "null": None}.get(kind, "x" * max(1, schema.get("minLength", 1)))


#: bodies for rules the JSON Schema cannot state (an import needs a FASTA file or a table);
#: the permission is checked before the files are looked at, so the path need not exist
VALID_BODIES = {"workflows_api_start_import": {"reference": "MN908947.3", "fasta": "x.fasta"}}


def call(client: Client, op: Operation, authorization: str | None = None) -> HttpResponse:
    """Call ``op`` with path parameters filled in and its smallest valid body."""
    path = re.sub(r"{[^}]+}", "1", op.path)
    headers = {"Authorization": authorization} if authorization else {}
    if op.method == "get":
        return client.get(path, headers=headers)
    body = VALID_BODIES.get(op.operation_id) or (
        minimal_instance(op.body_schema) if op.body_schema else {}
    )
    return getattr(client, op.method)(
        path, json.dumps(body), content_type="application/json", headers=headers
    )


@contextmanager
def reads(public: bool) -> Iterator[None]:
    config = settings.EMGSONAR_CONFIG.model_copy(deep=True)
    config.api.public_reads = public
    with override_settings(EMGSONAR_CONFIG=config):
        yield


def csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)


def assert_401(response: HttpResponse, code: str) -> None:
    assert response.status_code == 401, response.content
    assert response.json()["code"] == code
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("public_reads", [True, False], ids=["public-reads", "private-reads"])
@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_missing_or_bad_credentials_are_401(op: Operation, public_reads: bool) -> None:
    client = csrf_client()
    with reads(public_reads):
        anonymous = call(client, op)
        unknown = call(client, op, "Bearer not-a-token")
    if public_reads and op.operation_id in PUBLIC:
        assert anonymous.status_code not in (401, 403), anonymous.content
        return
    assert_401(anonymous, "not_authenticated")
    assert "create_user NAME --token" in anonymous.json()["detail"]
    assert_401(unknown, "invalid_token")


@pytest.mark.parametrize("op", GUARDED, ids=str)
def test_a_user_without_the_permission_gets_403(op: Operation) -> None:
    """A token is not CSRF-checked: the 403 names the missing permission, not CSRF."""
    _, key = ApiToken.issue(User.objects.create_user("nobody"))
    for scheme in ("Bearer", "Token"):
        response = call(csrf_client(), op, f"{scheme} {key}")
        assert response.status_code == 403, response.content
        body = response.json()
        assert body["code"] == "permission_denied"
        assert "user 'nobody' lacks the permission" in body["detail"]


@pytest.mark.parametrize("op", [op for op in OPERATIONS if op not in GUARDED], ids=str)
def test_reads_need_no_permission(op: Operation) -> None:
    _, key = ApiToken.issue(User.objects.create_user("nobody"))
    with reads(public=False):
        response = call(csrf_client(), op, f"Bearer {key}")
    assert response.status_code not in (401, 403), response.content


DELETE_PROPERTY = "/api/properties/delete_property/"


def test_a_logged_in_session_must_send_the_csrf_token() -> None:
    """Decision: a browser session still needs CSRF on writes (another site's page could send
    the cookie); the 403 says which header to send."""
    User.objects.create_superuser("admin", password="pw")
    client = csrf_client()
    assert client.login(username="admin", password="pw")
    forged = client.post(DELETE_PROPERTY, {"name": "nothing"}, content_type="application/json")
    assert forged.status_code == 403
    assert "X-CSRFToken" in forged.json()["detail"]
    client.get("/admin/")  # renders a form with {% csrf_token %}: sets the csrftoken cookie
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    allowed = client.post(
        DELETE_PROPERTY,
        {"name": "nothing"},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert allowed.status_code == 200, allowed.content
    # a bad token is refused even next to a valid session: the key is what is wrong
    stale = client.post(
        DELETE_PROPERTY,
        {"name": "nothing"},
        content_type="application/json",
        headers={"X-CSRFToken": token, "Authorization": "Bearer revoked"},
    )
    assert_401(stale, "invalid_token")


def test_an_inactive_users_token_is_refused() -> None:
    user = User.objects.create_user("gone")
    _, key = ApiToken.issue(user)
    user.is_active = False
    user.save()
    with reads(public=False):
        assert_401(
            csrf_client().get("/api/references/", headers={"Authorization": f"Bearer {key}"}),
            "invalid_token",
        )
