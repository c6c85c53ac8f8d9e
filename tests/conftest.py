"""Shared fixtures: paths to the real data in ../shared/data and small helpers."""

from __future__ import annotations

import os
import subprocess
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


@pytest.fixture(scope="session")
def slurm_cluster() -> Path:
    """The one-node Slurm of slurm-dev-environment, started if it is not running (idempotent).

    Tests of the Slurm path submit real jobs; the script installs and starts what is missing.
    Its config is found through ``SLURM_CONF`` only (up.sh never writes /etc/slurm), so this
    sets ``SLURM_CONF`` for the session: the backends and the tests' own ``scancel`` then talk
    to this cluster and no other one on the machine.

    :returns: the cluster's slurm.conf.
    """
    proc = subprocess.run(
        ["bash", str(REPO_ROOT / "slurm-dev-environment" / "up.sh")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"slurm-dev-environment/up.sh failed:\n{proc.stdout}\n{proc.stderr}")
    conf = Path(proc.stdout.rsplit("SLURM_CONF=", 1)[1].rstrip().rstrip(")"))
    os.environ["SLURM_CONF"] = str(conf)
    return conf
