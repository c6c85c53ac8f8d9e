"""Prefect for operators: commands use the running server, the worker checks the schema, the
deployment's form is flat and ``prefect deployment run -p`` works."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

from tests.conftest import REPO_ROOT
from tests.flows.test_faults import subprocess_env

pytestmark = [pytest.mark.prefect, pytest.mark.django_db(transaction=True)]


def manage(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "manage.py"), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_a_command_uses_the_configured_prefect_server_when_it_answers(
    shared_data, import_dirs, settings
) -> None:
    env = subprocess_env(settings)
    server = env.pop("PREFECT_API_URL")  # only the emgsonar setting names the server now
    env["EMGSONAR_PREFECT__API_URL"] = server
    gb = shared_data / "sars-cov-2" / "MN908947.nextclade.gb"

    done = manage("import_reference", "--genbank", str(gb), env=env)

    assert done.returncode == 0, done.stderr
    assert "temporary server" not in done.stderr
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                name=FlowRunFilterName(any_=["reference MN908947.nextclade.gb"])
            )
        )
    assert runs, "the command's flow run is not on the configured server"

    env["EMGSONAR_PREFECT__API_URL"] = "http://127.0.0.1:9/api"  # nothing answers there
    env["PREFECT_HOME"] = str(import_dirs / "prefect-home")
    fallback = manage("import_reference", "--genbank", str(gb), env=env)
    assert fallback.returncode == 0, fallback.stderr
    assert "Starting temporary server" in fallback.stderr
    assert (import_dirs / "prefect-home").is_dir() and os.listdir(import_dirs / "prefect-home")
