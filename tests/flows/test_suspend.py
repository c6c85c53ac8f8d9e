"""A deployment's run waiting for confirmation is suspended: its process exits (the worker's
slot is free) and it resumes, in a new process, with the operator's answer.

A real worker (``manage.py run_worker``, i.e. ``prefect worker start`` on a ``process`` pool)
runs the ``import_samples`` deployment against the session's Prefect test server and this
test's database. The import would replace one sample's sequence, so the run asks; then:

* ``replace: false`` → the run is cancelled and nothing is written;
* ``replace: true`` → the run starts again from the top in a new process, continues the same
  ImportRun (by its id from the API, or by its flow run id), is answered at once and completes;
  the summary counts each record once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect import get_client
from prefect.deployments import run_deployment
from prefect.flow_runs import resume_flow_run
from prefect.states import Cancelling

from emgsonar.models import ImportRun
from ena_like.models import SampleSequence
from tests.conftest import REPO_ROOT
from tests.flows.helpers import artifacts_by_key, flow_run
from tests.flows.test_faults import descendants, subprocess_env
from tests.flows.test_import_samples import _with_one_changed_sequence
from tests.flows.test_imports_api import deploy_import_samples
from workflows import services
from workflows.flows.import_samples import import_samples

pytestmark = [pytest.mark.prefect, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(settings, import_dirs: Path) -> Iterator[subprocess.Popen]:
    """A worker on the deployment's pool, polling every second; stopped (SIGTERM, then
    SIGKILL) with everything it started, and the deployment removed."""
    deploy_import_samples()
    env = {**subprocess_env(settings), "PREFECT_WORKER_QUERY_SECONDS": "1"}
    log = import_dirs / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "manage.py"), "run_worker", "--name", "test"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    proc.log = log  # type: ignore[attr-defined]
    try:
        yield proc
    finally:
        victims = descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        with get_client(sync_client=True) as client:  # test_imports_api expects none
            client.delete_deployment(client.read_deployment_by_name("import_samples/emgsonar").id)


def wait_for(what: str, check: Callable[[], Any], worker: subprocess.Popen, seconds=180) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        assert worker.poll() is None, worker.log.read_text()[-4000:]
        time.sleep(0.5)
    raise AssertionError(f"{what} not within {seconds} s:\n{worker.log.read_text()[-4000:]}")


def suspended(flow_run_id: UUID) -> bool:
    state = flow_run(flow_run_id).state
    return state.is_paused() and state.name == "Suspended"


def import_run_of(flow_run_id: UUID) -> ImportRun | None:
    return ImportRun.objects.filter(flow_run_id=flow_run_id).first()


def test_a_run_awaiting_confirmation_is_suspended_and_resumes_with_the_answer(
    shared_data: Path, sars_cov_2_reference: str, import_dirs: Path, worker
) -> None:
    fasta = str(shared_data / "sars-cov-2" / "SARS-CoV-2_12.fasta.xz")
    import_samples(reference=sars_cov_2_reference, fasta=fasta)
    changed, name = _with_one_changed_sequence(shared_data, import_dirs)
    old_hash = SampleSequence.objects.get(name=name).sequence.seqhash
    params = {"reference": sars_cov_2_reference, "fasta": str(changed), "chunk_size": 4}
    before = ImportRun.objects.count()

    # 1. started like `prefect deployment run`: the flow records the ImportRun; the answer is no
    declined = run_deployment("import_samples/emgsonar", parameters=params, timeout=0)
    wait_for("suspension", lambda: suspended(declined.id), worker)
    run = import_run_of(declined.id)
    assert run is not None and run.state == "awaiting_confirmation"
    # the run's process has exited: nothing below the worker, the recorded pid gone
    wait_for("the flow process to exit", lambda: not descendants(worker.pid), worker, 30)
    assert not services.process_alive(run.pid, run.pid_start_ticks)
    assert services.reconcile_import_runs() == []  # a suspended run is not "interrupted"
    (note,) = artifacts_by_key(f"samples-import-{run.pk}-replace", declined.id)
    assert name in note.data

    resume_flow_run(declined.id, run_input={"replace": False})
    wait_for("the end of the run", lambda: flow_run(declined.id).state.is_final(), worker)
    assert flow_run(declined.id).state.is_cancelled()
    run.refresh_from_db()
    assert run.state == "cancelled" and run.error == "the operator declined to replace"
    assert SampleSequence.objects.get(name=name).sequence.seqhash == old_hash
    assert ImportRun.objects.count() == before + 1

    # cancelled in Prefect while suspended (no process of ours to see it): the sweep ends the
    # ImportRun as its flow run ended
    dropped = run_deployment("import_samples/emgsonar", parameters=params, timeout=0)
    wait_for("suspension", lambda: suspended(dropped.id), worker)
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(dropped.id, Cancelling())
    assert flow_run(dropped.id).state.is_cancelled()  # nothing to stop: Cancelled at once
    ended = services.reconcile_import_runs()
    assert ended == [
        (
            import_run_of(dropped.id).pk,
            "cancelled",
            "the flow run was cancelled while awaiting confirmation",
        )
    ]
    before += 1

    # 2. started over the API's service (the ImportRun exists first); the answer is yes
    started = services.start_import_via_deployment("samples", "import_samples", params)
    wait_for("suspension", lambda: suspended(started.flow_run_id), worker)
    started.refresh_from_db()
    assert started.state == "awaiting_confirmation"
    first_pid = started.pid
    wait_for("the flow process to exit", lambda: not descendants(worker.pid), worker, 30)

    resume_flow_run(started.flow_run_id, run_input={"replace": True})
    wait_for("the end of the run", lambda: flow_run(started.flow_run_id).state.is_final(), worker)
    assert flow_run(started.flow_run_id).state.is_completed()
    started.refresh_from_db()
    assert started.state == "completed", started.error
    assert started.pid != first_pid  # resumed in a new process, the same ImportRun
    assert ImportRun.objects.count() == before + 2
    assert SampleSequence.objects.get(name=name).sequence.seqhash != old_hash
    counts = started.summary["counts"]
    assert counts["records_read"] == 1 and counts["records_replaced"] == 1  # counted once
    assert started.summary["plan"]["replaced_samples"] == [name]
    # the question was asked once: one artifact, though the flow ran twice
    assert len(artifacts_by_key(f"samples-import-{started.pk}-replace", started.flow_run_id)) == 1
