"""Downloads of one URL by processes at the same time, or after one was killed (issue 11).

The downloads run in real processes (``python -c`` calling :func:`fetch`), against the local
server's ``/held/`` route, which stops mid-body until the test releases it, so the second
download provably starts while the first is under way.
"""

from __future__ import annotations

import hashlib
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ena_like.download import download_name, fetch
from tests.download.localserver import LocalServer, part_files

REPO = Path(__file__).resolve().parents[2]
CHILD = """
import sys
from pathlib import Path
from ena_like.download import fetch
fetched = fetch(sys.argv[1], Path(sys.argv[2]), retries=0, backoff=(0,), timeout=60)
print(fetched.path, fetched.sha256)
"""
WAIT_SECONDS = 60  # a safety net for a broken build, not a timing assertion


def start_download(url: str, dest_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, url, str(dest_dir)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], what: str, *watched: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        for process in watched:
            if process.poll() is not None:
                pytest.fail(f"{what}: download exited early: {process.communicate()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {WAIT_SECONDS} s")
        time.sleep(0.02)


def waiting_for_flock(pid: int) -> bool:
    """Whether process ``pid`` is blocked waiting for a ``flock`` (a ``->`` line of
    /proc/locks)."""
    text = Path("/proc/locks").read_text()
    return any(
        int(match.group(1)) == pid
        for match in re.finditer(r"-> FLOCK\s+ADVISORY\s+WRITE\s+(\d+)", text)
    )


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_two_processes_downloading_one_url_share_no_file(
    server: LocalServer, genome_bytes: bytes, tmp_path: Path
) -> None:
    server.state.files["rsv.fasta"] = genome_bytes
    url = server.file_url("held", "rsv.fasta")
    final = tmp_path / download_name(url)

    first = start_download(url, tmp_path)
    wait_for(lambda: bool(server.state.requests) and bool(part_files(tmp_path)), "1st GET", first)
    # the first one writes a part file of its own, not <name>.part
    [part] = part_files(tmp_path)
    assert re.fullmatch(re.escape(final.name) + r"\.[^.]+\.part", part.name)

    second = start_download(url, tmp_path)
    wait_for(lambda: waiting_for_flock(second.pid), "2nd waiting for the lock", first, second)
    server.state.release.set()
    outputs = [process.communicate(timeout=WAIT_SECONDS) for process in (first, second)]

    assert [process.returncode for process in (first, second)] == [0, 0], outputs
    assert [out.split() for out, _ in outputs] == [[str(final), sha(genome_bytes)]] * 2
    assert final.read_bytes() == genome_bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == [final.name]  # no part, no lock file
    assert server.state.paths() == ["/held/rsv.fasta"]  # the second used the first one's file


def test_download_killed_mid_body_is_resumed_by_the_next(
    server: LocalServer, shared_data: Path, tmp_path: Path
) -> None:
    data = (shared_data / "streptococcus-pyogenes" / "GCA_900475035.1.gb").read_bytes()  # 1.7 MB
    server.state.files["big.gb"] = data
    server.state.hold_after = len(data) - 100_000
    url = server.file_url("held", "big.gb")

    killed = start_download(url, tmp_path)
    wait_for(lambda: any(p.stat().st_size for p in part_files(tmp_path)), "bytes written", killed)
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=WAIT_SECONDS)
    [left] = part_files(tmp_path)
    left_size = left.stat().st_size
    assert 0 < left_size < len(data)

    fetched = fetch(url, tmp_path, sha256=sha(data), backoff=(0,), timeout=30)

    assert fetched.path.read_bytes() == data
    assert [r.headers.get("Range") for r in server.state.requests] == [None, f"bytes={left_size}-"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [fetched.path.name]
