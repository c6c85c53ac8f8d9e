"""Fixtures of the API tests: the synthetic dataset and authenticated clients."""

from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from analyses.services.references import import_reference
from emgsonar.models import ApiToken
from tests.api.synthetic import Synthetic, build


@pytest.fixture
def sars_cov_2_reference(db, shared_data: Path) -> int:
    """``MN908947.3`` imported inside the test's transaction (rolled back with it, so other
    test modules never see it; the session fixtures of tests.helpers commit theirs)."""
    return import_reference([shared_data / "sars-cov-2/MN908947.nextclade.gb"]).reference_id


@pytest.fixture
def influenza_h1n1_reference(db, shared_data: Path) -> int:
    """The 8-segment ``NC_026438.1``, in segment order, inside the test's transaction."""
    folder = shared_data / "influenza/influenza-A/H1N1PDM_California"
    paths = sorted(folder.glob("segment_*.gb"), key=lambda p: int(p.name.split("_")[1]))
    return import_reference(paths).reference_id


@pytest.fixture
def synthetic(db, shared_data: Path) -> Synthetic:
    return build(shared_data)


@pytest.fixture
def writer_token(db) -> str:
    """A token of a user allowed to delete samples and sequences and to add properties."""
    user = User.objects.create_user("writer")
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="ena_like",
            codename__in=["delete_sample", "delete_samplesequence", "add_property"],
        )
    )
    return ApiToken.issue(user, "tests")[1]


@pytest.fixture
def reader_token(db) -> str:
    """A token of a user without any permission."""
    return ApiToken.issue(User.objects.create_user("reader"), "tests")[1]


@pytest.fixture
def api(client: Client) -> Client:
    return client
