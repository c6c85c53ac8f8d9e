"""Fixtures of the flow tests: one Prefect test server per session, per-test work directories.

Flows are called as plain functions (as the commands do); each call creates a real flow run on
the session's Prefect test server, so artifacts and states can be read back with the client.
The database is real Postgres; tests that run flows use ``transaction=True`` because a flow
commits (bulk COPY, ``select_for_update``) like it does in production.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture(autouse=True)
def _flows_use_the_harness(prefect_harness: None) -> None:
    """Every flow test runs against the session's Prefect test server (tests/conftest.py)."""


@pytest.fixture
def import_dirs(settings, tmp_path: Path) -> Path:
    """Fresh download and work directories for this test (chunks and results start empty)."""
    cfg = settings.EMGSONAR_CONFIG
    settings.EMGSONAR_CONFIG = cfg.model_copy(
        update={
            "imports": cfg.imports.model_copy(
                update={"work_dir": tmp_path / "work", "download_dir": tmp_path / "downloads"}
            ),
            "slurm": cfg.slurm.model_copy(update={"work_dir": tmp_path / "slurm-work"}),
        }
    )
    return tmp_path


@pytest.fixture
def sars_cov_2_reference(shared_data: Path) -> str:
    """MN908947.3 imported through the import_reference flow; returns its accession."""
    from workflows.flows.import_reference import import_reference

    gb = shared_data / "sars-cov-2" / "MN908947.nextclade.gb"
    import_reference(genbank=[str(gb)])
    return "MN908947.3"
