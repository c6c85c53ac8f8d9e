"""Faults an import survives: the flow process SIGKILLed at several points, then run again.

The import runs as ``manage.py import_samples`` in a subprocess of its own session (against the
test database and the session's Prefect test server), is killed with SIGKILL together with
every process it started (the local executor's chunk jobs live in sessions of their own), and
is run again to the end. The database must then equal, row by row
(:func:`tests.helpers.db_dump.dump_database`), that of one uninterrupted import of the same
file. The uninterrupted import is made once per module and compared with every variant.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from emgsonar.models import ImportRun
from ena_like.models import Sample
from tests.conftest import REPO_ROOT
from tests.helpers.db_dump import differences, dump_database
from workflows.models import ClusterJob

pytestmark = [pytest.mark.prefect, pytest.mark.django_db(transaction=True)]

FASTA = "SARS-CoV-2_1000.fasta.xz"
CHUNK_SIZE = 100
#: an uninterrupted import's dump, made by the first test that needs it
_CLEAN: dict[str, object] = {}


def import_args(shared_data: Path, executor: str = "local") -> list[str]:
    return [
        "import_samples",
        "-r",
        "MN908947.3",
        "-f",
        str(shared_data / "sars-cov-2" / FASTA),
        "--chunk-size",
        str(CHUNK_SIZE),
        "--executor",
        executor,
    ]


def subprocess_env(settings) -> dict[str, str]:
    """The environment of a ``manage.py`` subprocess that works on this test's database, work
    directories and Prefect server (so no temporary server is started)."""
    from prefect.settings import PREFECT_API_URL

    db = connection.settings_dict
    cfg = settings.EMGSONAR_CONFIG
    return {
        **os.environ,
        "DATABASE_URL": f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "EMGSONAR_IMPORTS__WORK_DIR": str(cfg.imports.work_dir),
        "EMGSONAR_IMPORTS__DOWNLOAD_DIR": str(cfg.imports.download_dir),
        "EMGSONAR_SLURM__WORK_DIR": str(cfg.slurm.work_dir),
        "PYTHONUNBUFFERED": "1",
    }


def descendants(pid: int) -> set[int]:
    """Every living process below ``pid`` (by parent pid, through /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def kill_hard(proc: subprocess.Popen) -> None:
    """SIGKILL the command's process group and every process it started, as an OOM killer or a
    node reboot would: no handler, hook or ``finally`` runs."""
    victims = descendants(proc.pid)
    os.killpg(proc.pid, signal.SIGKILL)
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)


def run_and_kill(args: list[str], env: dict[str, str], log: Path, when: Callable[[], bool]) -> str:
    """Start ``manage.py args``, SIGKILL it once ``when()`` holds; returns its output."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "manage.py"), *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 300
            while not when():
                assert proc.poll() is None, (
                    f"the import ended before the kill point:\n{log.read_text()}"
                )
                assert time.monotonic() < deadline, "the kill point was never reached"
                time.sleep(0.05)
        finally:
            kill_hard(proc)
    return log.read_text()


def fresh_database(shared_data: Path) -> None:
    """An empty database with only the reference (the rows the import starts from)."""
    from workflows.flows.import_reference import import_reference

    call_command("flush", interactive=False, verbosity=0)
    gb = shared_data / "sars-cov-2" / "MN908947.nextclade.gb"
    import_reference(genbank=[str(gb)])


def clean_dump(shared_data: Path) -> dict[str, object]:
    """The database after one uninterrupted import (made once per module)."""
    if not _CLEAN:
        fresh_database(shared_data)
        call_command(*import_args(shared_data), stdout=StringIO())
        _CLEAN.update(dump_database())
        assert len(_CLEAN["ena_like.sample"]) == 1000
    return dict(_CLEAN)


def _split_done() -> bool:
    run = ImportRun.objects.filter(kind="samples").first()
    return run is not None and "chunks" in (run.summary or {}).get("counts", {})


def _aligning() -> bool:
    return ClusterJob.objects.exists() and not Sample.objects.exists()


def _mid_load() -> bool:
    return 2 * CHUNK_SIZE <= Sample.objects.count() < 1000


KILL_POINTS = {"after split": _split_done, "while aligning": _aligning, "mid-load": _mid_load}


@pytest.mark.parametrize(
    ("point", "executor"),
    [
        ("after split", "local"),
        pytest.param("while aligning", "slurm", marks=pytest.mark.slurm),
        ("mid-load", "local"),
    ],
)
def test_an_import_killed_and_run_again_equals_one_uninterrupted_import(
    point: str,
    executor: str,
    shared_data: Path,
    import_dirs: Path,
    settings,
    request: pytest.FixtureRequest,
) -> None:
    if executor == "slurm":
        request.getfixturevalue("slurm_cluster")
    expected = clean_dump(shared_data)
    fresh_database(shared_data)

    output = run_and_kill(
        import_args(shared_data, executor),
        subprocess_env(settings),
        import_dirs / "killed.log",
        KILL_POINTS[point],
    )
    killed = ImportRun.objects.get(kind="samples")
    assert killed.state == "running", output  # SIGKILL: no hook could record anything
    written = Sample.objects.count()

    call_command(*import_args(shared_data, executor), stdout=StringIO())

    rerun = ImportRun.objects.filter(kind="samples").latest("created")
    assert rerun.pk != killed.pk and rerun.state == "completed"
    killed.refresh_from_db()  # the re-run's start reconciled it: its process is gone
    assert killed.state == "failed" and "its process is gone" in killed.error
    if point == "mid-load":
        assert 0 < written < 1000
        assert rerun.summary["counts"]["sequences_already_aligned"] > 0
    diff = differences(expected, dump_database())
    assert not diff, "\n".join(diff)


def start_import(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "manage.py"), *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def test_two_imports_into_one_reference_at_once_equal_one_import(
    shared_data: Path, import_dirs: Path, settings
) -> None:
    expected = clean_dump(shared_data)
    fresh_database(shared_data)
    env = subprocess_env(settings)

    logs = [import_dirs / "first.log", import_dirs / "second.log"]
    procs = [start_import(import_args(shared_data), env, log) for log in logs]
    for proc, log in zip(procs, logs, strict=True):
        assert proc.wait(timeout=600) == 0, log.read_text()[-3000:]

    runs = ImportRun.objects.filter(kind="samples")
    assert [r.state for r in runs] == ["completed", "completed"]
    # between them, every record was loaded once (the second found the first's sequences)
    assert sum(r.summary["counts"]["records_new"] for r in runs) == 1000
    diff = differences(expected, dump_database())
    assert not diff, "\n".join(diff)
