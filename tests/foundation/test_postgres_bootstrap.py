"""scripts/postgres.sh starts a project-local cluster when nothing answers, and is idempotent."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import psycopg

from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "postgres.sh"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_local_cluster_start_reuse_stop() -> None:
    """The fresh-machine path: no server answers, so the script (installing Debian's server
    binaries itself when root) initialises and starts a cluster, reuses it, and stops it."""
    base = Path("/var/tmp") / f"emgsonar-pgtest-{os.getpid()}"  # reachable by the postgres user
    base.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = {
        **os.environ,
        "EMGSONAR_PGPORT": str(port),
        "EMGSONAR_PGDATA": str(base / "postgres"),
    }
    env.pop("DATABASE_URL", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, check=True
        )

    try:
        first = run("ensure")
        assert "initialising a project-local cluster" in first.stderr
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres") as c:
            assert c.execute("SELECT 1").fetchone() == (1,)
            # the settings the query targets are measured with (deployment/postgres/emgsonar.conf)
            shown = {
                name: c.execute(f"SHOW {name}").fetchone()[0]
                for name in ("jit", "work_mem", "random_page_cost")
            }
            assert shown == {"jit": "off", "work_mem": "32MB", "random_page_cost": "1.1"}
            # shared_buffers a quarter of RAM (128 MB .. 8 GB), in MB
            mem_kb = next(
                int(line.split()[1])
                for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal:")
            )
            buffers_mb = c.execute(
                "SELECT setting::bigint * 8 / 1024 FROM pg_settings WHERE name = 'shared_buffers'"
            ).fetchone()[0]
            assert buffers_mb == min(max(mem_kb // 4 // 1024, 128), 8192)
        assert f"using the server on 127.0.0.1:{port}" in run("ensure").stderr
        assert "stopped" in run("stop").stderr
        assert f"nothing on 127.0.0.1:{port}" in run("status").stderr
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
