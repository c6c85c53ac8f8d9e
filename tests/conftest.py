"""Shared fixtures: paths to the real data in ../shared/data and small helpers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

SHARED_DATA = Path(os.environ.get("EMGSONAR_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real test data (sonar's test-data and peers/); skip nothing: its absence is an error."""
    if not SHARED_DATA.is_dir():
        raise RuntimeError(
            f"test data not found at {SHARED_DATA}; set EMGSONAR_SHARED_DATA to shared/data"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect server for the whole session (~8 s to start), shared by every
    test that runs a flow, so no test starts an ephemeral server of its own."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield
