"""References for tests that need real data in the database.

Import the fixtures you need into your ``conftest.py``::

    from tests.helpers.fixtures import sars_cov_2_reference  # noqa: F401

Each test imports the reference inside its own transaction (≈0.1 s), so it is rolled back
with everything else the test wrote: no suite can see another suite's rows, and tests that
count references stay exact whatever ran before them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SARS_COV_2_GENBANK = ("sars-cov-2/MN908947.nextclade.gb",)
H1N1_DIR = "influenza/influenza-A/H1N1PDM_California"


def _import(paths: list[Path]) -> int:
    from analyses.services.references import import_reference

    return import_reference(paths).reference_id


@pytest.fixture
def sars_cov_2_reference(db, shared_data: Path) -> int:
    """Id of the SARS-CoV-2 reference ``MN908947.3`` (Nextclade-style CDS, as sonar's tests)."""
    return _import([shared_data / p for p in SARS_COV_2_GENBANK])


@pytest.fixture
def influenza_h1n1_reference(db, shared_data: Path) -> int:
    """Id of the 8-segment influenza A/H1N1pdm reference ``NC_026438.1``."""
    paths = sorted(
        (shared_data / H1N1_DIR).glob("segment_*.gb"), key=lambda p: int(p.name.split("_")[1])
    )
    return _import(paths)
