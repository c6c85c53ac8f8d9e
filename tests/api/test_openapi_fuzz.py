"""Property-based: no request a client can send makes the API answer 5xx ("never a 500").

Schemathesis generates requests from the OpenAPI document, valid ones and ones that break the
schema (wrong types, out-of-range numbers, NUL bytes, missing or extra fields), and sends them
in-process through the real WSGI stack (middleware, auth, Ninja, Postgres) on the synthetic
dataset, with a token of a user holding every permission so that the writes run too.

Bounded and reproducible: a fixed seed, no example database, and a small number of examples
per operation. ``/api/imports/`` is left out: it starts Prefect flow runs (tests/flows covers
it). Only ``not_a_server_error`` is checked; the conformance checks (response schema, status
code, content type) are not part of this property.
"""

import os
from collections.abc import Iterator

import pytest
import schemathesis
from django.contrib.auth.models import Permission, User
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from emgsonar.models import ApiToken
from emgsonar.wsgi import application

#: examples per operation and generation mode; ~45 operations stay well under a minute.
#: A deeper local hunt: EMGSONAR_FUZZ_EXAMPLES=200 EMGSONAR_FUZZ_SEED=7 pytest this file
MAX_EXAMPLES = int(os.environ.get("EMGSONAR_FUZZ_EXAMPLES", "12"))

#: fixed, so every run sends the same requests (each operation derives its own seed from it)
SEED = int(os.environ.get("EMGSONAR_FUZZ_SEED", "20260101"))

schema = schemathesis.openapi.from_wsgi(
    "/api/openapi.json", application, config=schemathesis.Config(seed=SEED)
).exclude(path_regex=r"^/api/imports/")


@pytest.fixture
def in_process_requests(db) -> Iterator[None]:
    """Let requests through the WSGI handler see the test's transaction, as Django's test
    client does: the handler would otherwise close the connection (and the transaction) at
    the start and end of every request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def all_permissions_token(db) -> str:
    user = User.objects.create_user("fuzzer")
    user.user_permissions.add(*Permission.objects.all())
    return ApiToken.issue(user, "fuzz")[1]


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_makes_a_server_error(
    case, synthetic, all_permissions_token, in_process_requests
):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {all_permissions_token}"},
        checks=[not_a_server_error],
    )
