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
        assert f"using the server on 127.0.0.1:{port}" in run("ensure").stderr
        assert "stopped" in run("stop").stderr
        assert f"nothing on 127.0.0.1:{port}" in run("status").stderr
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
