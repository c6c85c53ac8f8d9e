"""Fixtures of the documentation tests: the demo's data set, built once per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import transaction

from tests.docs.demo_data import build_demo_data


@pytest.fixture(scope="module")
def demo_data(django_db_setup, django_db_blocker, shared_data: Path) -> Iterator[None]:
    """The data of ``./taskw demo`` for MN908947.3 (about 12 s with 2 alignment jobs).

    Built inside one transaction that is rolled back after the module, so no other test sees
    these rows; each test's own transaction (pytest-django's ``db``) is a savepoint inside it.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        build_demo_data(shared_data, jobs=2)
        yield
        transaction.set_rollback(True)
