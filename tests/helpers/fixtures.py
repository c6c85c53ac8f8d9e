"""Session-scoped references for tests that need real data in the database.

Import the fixtures you need into your ``conftest.py``::

    from tests.helpers.fixtures import sars_cov_2_reference  # noqa: F401

The reference is imported once per test session, outside the per-test transactions, so every
test sees it and none can roll it back; data a test loads with
:func:`tests.helpers.load.load_dataset` is rolled back with the test (``django_db``). Do not
use these with ``transactional_db``: its flush would delete the reference for later tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SARS_COV_2_GENBANK = ("sars-cov-2/MN908947.nextclade.gb",)
H1N1_DIR = "influenza/influenza-A/H1N1PDM_California"


def _import(paths: list[Path]) -> int:
    from analyses.services.references import import_reference

    return import_reference(paths).reference_id


@pytest.fixture(scope="session")
def sars_cov_2_reference(django_db_setup, django_db_blocker, shared_data: Path) -> int:
    """Id of the SARS-CoV-2 reference ``MN908947.3`` (Nextclade-style CDS, as sonar's tests)."""
    with django_db_blocker.unblock():
        return _import([shared_data / p for p in SARS_COV_2_GENBANK])


@pytest.fixture(scope="session")
def influenza_h1n1_reference(django_db_setup, django_db_blocker, shared_data: Path) -> int:
    """Id of the 8-segment influenza A/H1N1pdm reference ``NC_026438.1``."""
    paths = sorted(
        (shared_data / H1N1_DIR).glob("segment_*.gb"), key=lambda p: int(p.name.split("_")[1])
    )
    with django_db_blocker.unblock():
        return _import(paths)
