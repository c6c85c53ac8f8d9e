"""``./taskw bench-load`` works on a clean machine: into a database the server does not have yet
it creates and migrates it, calls real genomes (a handful, ``--genomes``), loads ``--n``
synthetic samples, reports time, size and peak memory — and the query suite answers on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from psycopg import sql

from tests.conftest import REPO_ROOT

N = 400


def _server() -> dict[str, object]:
    db = settings.DATABASES["default"]
    return {
        "host": db["HOST"] or "127.0.0.1",
        "port": db["PORT"] or 5432,
        "user": db["USER"] or "postgres",
        "password": db["PASSWORD"] or None,
    }


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """A database name the server does not have (dropped again afterwards), as a URL."""
    server = _server()
    name = f"emgsonar_bench_clean_{os.getpid()}"
    params = {k: v for k, v in server.items() if v is not None}

    def drop() -> None:
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))  # fmt: skip

    drop()
    password = f":{server['password']}" if server["password"] else ""
    yield f"postgresql://{server['user']}{password}@{server['host']}:{server['port']}/{name}"
    drop()


def test_bench_load_on_a_clean_machine(fresh_database: str, tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": fresh_database}
    load = subprocess.run(
        [str(REPO_ROOT / "taskw"), "bench-load", "--", "--n", str(N), "--genomes", "4",
         "--database-url", fresh_database, "--out-dir", str(tmp_path)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert load.returncode == 0, load.stderr[-3000:]
    assert "created database" in load.stderr
    summary = json.loads((tmp_path / f"load-{N}.json").read_text())
    assert summary["n"] == N
    assert summary["database_bytes"] > 0 and summary["peak_rss_bytes"] > 0
    assert "create and migrate the database" in summary["phases"]
    # both real sets were called: GenBank genomes (and variants) and 2024 German genomes
    profiles = json.loads((tmp_path / "profiles-4.json").read_text())
    dates = sorted(g["date"] for g in profiles["genomes"] if g["date"])
    assert dates[0] < "2024" <= dates[-1]
    assert len(profiles["genomes"]) == 4 + 4 * 4 + 4

    with psycopg.connect(fresh_database) as conn:
        assert conn.execute("SELECT count(*) FROM ena_like_sample").fetchone() == (N,)
        # the maintained counts equal a recount of the loaded arrays
        rows = conn.execute(
            "SELECT nt_mutation_ids, aa_mutation_ids FROM ena_like_sample"
        ).fetchall()
        expected: Counter[tuple[str, int]] = Counter()
        for nt, aa in rows:
            expected.update(("nt", m) for m in nt)
            expected.update(("aa", m) for m in aa)
        stored = dict(
            ((level, m), n)
            for level, m, n in conn.execute(
                "SELECT level, mutation_id, samples FROM analyses_mutationcount"
            ).fetchall()
        )
        assert stored == dict(expected)
        weekly = conn.execute("SELECT count(*) FROM ena_like_mutationweekcount").fetchone()[0]
        assert weekly > 0

    queries = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "scale" / "queries.py"), "--database-url",
         fresh_database, "--repeat", "1", "--no-results", "--out-dir", str(tmp_path)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert queries.returncode == 0, queries.stderr[-3000:]
    raw = json.loads((tmp_path / f"queries-{N}.json").read_text())
    answers = {case["key"]: case["answer"] for case in raw["cases"]}
    assert answers["statistics"] == f"{N} samples"
    assert answers["genomes_page"] == f"count {N}, 10 results"
