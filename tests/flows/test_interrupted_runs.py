"""An import whose process was killed (SIGKILL: no hook runs) does not stay ``running`` for ever.

The run records its process (host, pid, the pid's start time) and a heartbeat its process
refreshes; ``manage.py reconcile_import_runs``, ``GET /api/imports/{id}/`` and the next import
mark it failed once the process is gone (same host) or its heartbeat is too old (a run of
another host). A real ``manage.py import_samples`` is SIGKILLed after its split
(tests/flows/test_faults.py's helpers); the next import is in test_faults.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from ninja.testing import TestClient

from emgsonar.api import api
from emgsonar.models import ImportRun
from tests.conftest import REPO_ROOT
from tests.flows.helpers import flow_run
from tests.flows.test_faults import _split_done, import_args, run_and_kill, subprocess_env
from tests.flows.test_imports_api import user_with
from workflows import services

pytestmark = [pytest.mark.prefect, pytest.mark.django_db(transaction=True)]


def heartbeat_advanced() -> bool:
    """The split is done and the run's heartbeat is newer than its start (it beats)."""
    run = ImportRun.objects.filter(kind="samples").first()
    return _split_done() and run.heartbeat is not None and run.heartbeat > run.started


def with_imports(settings, **values: object) -> None:
    cfg = settings.EMGSONAR_CONFIG
    settings.EMGSONAR_CONFIG = cfg.model_copy(
        update={"imports": cfg.imports.model_copy(update=values)}
    )


def test_a_killed_imports_run_is_marked_failed_once_its_process_is_gone(
    shared_data: Path, sars_cov_2_reference: str, import_dirs: Path, settings
) -> None:
    env = {**subprocess_env(settings), "EMGSONAR_IMPORTS__HEARTBEAT_SECONDS": "0.3"}
    output = run_and_kill(
        import_args(shared_data), env, import_dirs / "killed.log", heartbeat_advanced
    )
    killed = ImportRun.objects.get(kind="samples")
    assert killed.state == "running", output  # SIGKILL: no hook could record anything
    assert killed.host == os.uname().nodename and killed.pid is not None
    assert not services.process_alive(killed.pid, killed.pid_start_ticks)
    last_beat = killed.heartbeat
    time.sleep(1)
    killed.refresh_from_db()
    assert killed.heartbeat == last_beat  # the beat died with the process

    # a run of another host (its process cannot be looked up here) is judged by its
    # heartbeat: recent, it is left running; older than the limit, it is failed
    ImportRun.objects.filter(pk=killed.pk).update(host="worker-on-another-host")
    with_imports(settings, stale_after_seconds=60)
    assert services.reconcile_import_runs() == []
    with_imports(settings, stale_after_seconds=0.5)
    (marked,) = services.reconcile_import_runs()
    assert marked.pk == killed.pk and marked.state == "failed"
    assert marked.reason.startswith("interrupted: no heartbeat from pid ")
    assert "EMGSONAR_IMPORTS__STALE_AFTER_SECONDS=0.5" in marked.reason
    assert marked.reason.endswith("re-run the import")
    # judged by age only (it might live): its flow run is left as it is
    assert flow_run(killed.flow_run_id).state.is_running()

    # the same host: the process is looked up, the heartbeat's age does not matter
    with_imports(settings, stale_after_seconds=3600)
    ImportRun.objects.filter(pk=killed.pk).update(
        state="running", error="", finished=None, host=killed.host
    )
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "manage.py"), "reconcile_import_runs"],
        cwd=REPO_ROOT,
        env=subprocess_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    reason = (
        f"interrupted: its process is gone (pid {killed.pid} on {killed.host} ended without "
        "finishing the run, e.g. killed); re-run the import"
    )
    assert done.stdout == f"import run #{killed.pk}: failed ({reason})\n"
    killed.refresh_from_db()
    assert killed.state == "failed" and killed.error == reason and killed.finished is not None
    # seen gone: the dashboard says so too
    crashed = flow_run(killed.flow_run_id).state
    assert crashed.is_crashed() and crashed.message == reason

    # GET /api/imports/{id}/ answers the reconciled state (here: reconciles it itself)
    ImportRun.objects.filter(pk=killed.pk).update(state="running", error="", finished=None)
    _, key = user_with("view_importrun")
    got = TestClient(api).get(f"/imports/{killed.pk}/", headers={"Authorization": f"Bearer {key}"})
    assert got.status_code == 200
    assert got.json()["state"] == "failed" and got.json()["error"] == reason


def test_a_live_process_is_never_judged_by_its_heartbeat(settings) -> None:
    """This process is alive: its run stays running however old its heartbeat; the same pid
    with another start time is another process (the recorded one is gone)."""
    me = services.ProcessIdentity.current()
    old = timezone.now() - timedelta(hours=2)
    run = ImportRun.objects.create(
        kind="samples",
        state="running",
        host=me.host,
        pid=me.pid,
        pid_start_ticks=me.start_ticks,
        heartbeat=old,
    )
    with_imports(settings, stale_after_seconds=1)
    assert services.reconcile_import_runs() == []
    assert services.process_alive(me.pid, me.start_ticks)

    ImportRun.objects.filter(pk=run.pk).update(pid_start_ticks=me.start_ticks + 1)  # pid reused
    assert not services.process_alive(me.pid, me.start_ticks + 1)
    assert [ended.pk for ended in services.reconcile_import_runs()] == [run.pk]
    # a run awaiting confirmation (a suspended flow run) has no process on purpose
    waiting = ImportRun.objects.create(
        kind="samples", state="awaiting_confirmation", host="gone-host", heartbeat=old
    )
    assert services.reconcile_import_runs() == []
    waiting.refresh_from_db()
    assert waiting.state == "awaiting_confirmation"
    # ... unless nobody answered in time (Prefect fails the flow run; no process of ours can)
    day = timedelta(seconds=services.CONFIRMATION_TIMEOUT_SECONDS)
    ImportRun.objects.filter(pk=waiting.pk).update(
        updated=timezone.now() - day + timedelta(minutes=1)
    )
    assert services.reconcile_import_runs() == []
    ImportRun.objects.filter(pk=waiting.pk).update(
        updated=timezone.now() - day - timedelta(minutes=1)
    )
    assert services.reconcile_import_runs() == [
        (waiting.pk, "failed", "no answer to the confirmation within 24 h; start the import again")
    ]


def test_a_run_marked_interrupted_while_its_process_lives_is_taken_back(settings) -> None:
    """A worker whose beats could not reach the database for longer than the limit is judged
    gone from another host; its next beat takes the run back, so the flow can finish it."""
    me = services.ProcessIdentity.current()
    with_imports(settings, heartbeat_seconds=0.2)
    old = timezone.now() - timedelta(hours=1)
    run = ImportRun.objects.create(
        kind="samples",
        state="running",
        host=me.host,
        pid=me.pid,
        pid_start_ticks=me.start_ticks,
        heartbeat=old,
    )
    services.start_heartbeat(run.pk)
    try:
        deadline = time.monotonic() + 30
        while ImportRun.objects.get(pk=run.pk).heartbeat == old:
            assert time.monotonic() < deadline, "no heartbeat"
            time.sleep(0.1)
        reason = f"{services.INTERRUPTED} no heartbeat from pid {me.pid} on {me.host} for 400 s"
        ImportRun.objects.filter(pk=run.pk).update(
            state="failed", error=reason, finished=timezone.now()
        )
        while ImportRun.objects.get(pk=run.pk).state != "running":
            assert time.monotonic() < deadline, "the run was not taken back"
            time.sleep(0.1)
        run.refresh_from_db()
        assert run.error == "" and run.finished is None
        # a run that failed for its own reason is not taken back; the beat stops
        ImportRun.objects.filter(pk=run.pk).update(state="failed", error="bad FASTA")
        time.sleep(1)
        run.refresh_from_db()
        assert run.state == "failed" and run.error == "bad FASTA"
    finally:
        services.stop_heartbeat(run.pk)
