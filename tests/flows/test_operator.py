"""Prefect for operators: commands use the running server, the worker checks the schema, the
deployment's form is flat and ``prefect deployment run -p`` works."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
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


def test_prefect_deployment_run_takes_each_parameter_with_p(settings, shared_data) -> None:
    from tests.flows.helpers import flow_run
    from tests.flows.test_imports_api import deploy_import_samples

    deploy_import_samples()
    fasta = str(shared_data / "sars-cov-2" / "SARS-CoV-2_12.fasta.xz")
    env = subprocess_env(settings)
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "prefect"),
            "deployment",
            "run",
            "import_samples/emgsonar",
            "-p",
            "reference=MN908947.3",
            "-p",
            f"fasta={fasta}",
            "-p",
            "chunk_size=4",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (run_id,) = re.findall(r"UUID: ([0-9a-f-]{36})", done.stdout)
    run = flow_run(run_id)
    assert run.parameters == {"reference": "MN908947.3", "fasta": fasta, "chunk_size": 4}
    assert run.state.is_scheduled()


def test_the_worker_refuses_to_start_against_an_unmigrated_database(settings) -> None:
    db = connection.settings_dict
    name = f"{db['NAME']}_unmigrated"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        env = subprocess_env(settings)
        env["DATABASE_URL"] = env["DATABASE_URL"].rsplit("/", 1)[0] + f"/{name}"
        refused = manage("run_worker", env=env)
        assert refused.returncode == 2
        assert f"database '{name}' is not migrated" in refused.stderr
        assert "contenttypes.0001_initial" in refused.stderr
        assert "manage.py migrate" in refused.stderr
        assert "Traceback" not in refused.stderr

        # the test database is migrated: the check passes (and --check-only stops there)
        ok = manage("run_worker", "--check-only", env=subprocess_env(settings))
        assert ok.returncode == 0 and "schema is current" in ok.stderr, ok.stderr
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
