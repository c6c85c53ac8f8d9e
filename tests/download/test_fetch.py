"""fetch(): local paths, file:// and http(s):// with resume, retries and checksums."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from emgsonar.errors import InputFormatError, NotFoundError
from ena_like.download import FetchedFile, download_name, fetch
from ena_like.http import DownloadError
from tests.download.localserver import LocalServer, part_files, part_path

FAST = {"backoff": (0,), "timeout": 5}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------ local sources


def test_local_path_is_used_in_place_and_hashed(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "sars-cov-2" / "SARS-CoV-2_6.fasta.gz"
    data = source.read_bytes()

    fetched = fetch(str(source), tmp_path / "dl", sha256=sha(data).upper())

    assert fetched == FetchedFile(path=source, sha256=sha(data), size=len(data), source=str(source))
    assert not (tmp_path / "dl").exists()  # nothing copied, not even the directory


def test_file_url_is_used_in_place(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "sars-cov-2" / "SARS-CoV-2_12.fasta.xz"
    url = source.as_uri()

    fetched = fetch(url, tmp_path)

    assert fetched.path == source
    assert fetched.sha256 == sha(source.read_bytes())
    assert fetched.source == url


def test_missing_local_file_and_local_checksum_mismatch(tmp_path: Path) -> None:
    missing = tmp_path / "nope.fasta"
    with pytest.raises(NotFoundError) as info:
        fetch(str(missing), tmp_path)
    assert str(info.value) == f"{missing}: no such file. Check the path of the source."

    local = tmp_path / "mine.fasta"
    local.write_bytes(b">a\nACGT\n")
    with pytest.raises(DownloadError) as info:
        fetch(str(local), tmp_path, sha256="0" * 64)
    assert str(info.value) == (
        f"{local}: SHA-256 mismatch: expected {'0' * 64}, got {sha(local.read_bytes())}. "
        "Check the file and the expected checksum."
    )
    assert local.exists()  # a user's own file is never deleted


def test_parameters_are_validated_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError) as info:
        fetch("http://127.0.0.1:9/x", tmp_path, sha256="abc")
    assert str(info.value) == (
        "expected SHA-256 is not 64 hexadecimal digits (got 'abc'). "
        "Pass the hex digest printed by sha256sum."
    )
    with pytest.raises(DownloadError) as info:
        fetch("ftp://example.org/x.fasta", tmp_path)
    assert str(info.value) == (
        "ftp://example.org/x.fasta: unsupported URL scheme 'ftp'. "
        "Use a local path, a file://, http(s):// URL or ena:ACC1,ACC2."
    )


# ------------------------------------------------------------------------------ HTTP


def test_http_download_is_streamed_to_a_deterministic_name(
    server: LocalServer, genome_bytes: bytes, tmp_path: Path
) -> None:
    server.state.files["rsv.fasta"] = genome_bytes
    url = server.file_url("files", "rsv.fasta")

    fetched = fetch(url, tmp_path, sha256=sha(genome_bytes), **FAST)

    assert fetched.path == tmp_path / download_name(url)
    assert fetched.path.name == f"{hashlib.sha256(url.encode()).hexdigest()[:16]}-rsv.fasta"
    assert fetched.path.read_bytes() == genome_bytes
    assert (fetched.sha256, fetched.size) == (sha(genome_bytes), len(genome_bytes))
    assert sorted(p.name for p in tmp_path.iterdir()) == [fetched.path.name]  # no .part left

    # a second fetch with a matching checksum reuses the file without asking the server
    assert fetch(url, tmp_path, sha256=sha(genome_bytes), **FAST) == fetched
    assert server.state.paths() == ["/files/rsv.fasta"]


def test_dropped_connection_is_resumed_with_a_range_request(
    server: LocalServer, genome_bytes: bytes, tmp_path: Path
) -> None:
    server.state.files["rsv.fasta"] = genome_bytes
    server.state.drop_after = 40_000
    url = server.file_url("drop-once", "rsv.fasta")

    fetched = fetch(url, tmp_path, sha256=sha(genome_bytes), **FAST)

    assert fetched.path.read_bytes() == genome_bytes
    first, second = server.state.requests
    assert "Range" not in first.headers
    assert second.headers["Range"] == "bytes=40000-"
    assert second.headers["If-Range"] == f'"{len(genome_bytes)}-{hash(genome_bytes) & 0xFFFF:x}"'
    assert sorted(p.name for p in tmp_path.iterdir()) == [fetched.path.name]


@pytest.mark.parametrize("older_name", [False, True], ids=["own-part", "plain-part"])
def test_part_file_from_an_earlier_run_is_resumed(
    server: LocalServer, genome_bytes: bytes, tmp_path: Path, older_name: bool
) -> None:
    server.state.files["rsv.fasta"] = genome_bytes
    url = server.file_url("files", "rsv.fasta")
    # <name>.part is what downloads wrote before each had a part file of its own
    part = tmp_path / (download_name(url) + ".part") if older_name else part_path(tmp_path, url)
    part.write_bytes(genome_bytes[:12345])
    older = tmp_path / (download_name(url) + ".older.part")
    older.write_bytes(b"an earlier attempt, superseded")
    os.utime(older, ns=(0, 0))  # the oldest: not resumed, but removed

    fetched = fetch(url, tmp_path, **FAST)

    assert fetched.path.read_bytes() == genome_bytes
    assert [r.headers.get("Range") for r in server.state.requests] == ["bytes=12345-"]
    assert part_files(tmp_path) == []


def test_server_without_range_support_restarts_cleanly(
    server: LocalServer, genome_bytes: bytes, tmp_path: Path
) -> None:
    server.state.files["rsv.fasta"] = genome_bytes
    server.state.ignore_range = True
    url = server.file_url("files", "rsv.fasta")
    part_path(tmp_path, url).write_bytes(b"stale bytes of another version")

    fetched = fetch(url, tmp_path, sha256=sha(genome_bytes), **FAST)

    assert fetched.path.read_bytes() == genome_bytes  # 200 answer: not appended to stale bytes
    assert len(server.state.requests) == 1


def test_part_file_as_long_as_the_remote_restarts_after_416(
    server: LocalServer, genome_bytes: bytes, tmp_path: Path
) -> None:
    server.state.files["rsv.fasta"] = genome_bytes
    url = server.file_url("files", "rsv.fasta")
    part_path(tmp_path, url).write_bytes(b"x" * len(genome_bytes))

    fetched = fetch(url, tmp_path, retries=0, **FAST)

    assert fetched.path.read_bytes() == genome_bytes
    assert [r.headers.get("Range") for r in server.state.requests] == [
        f"bytes={len(genome_bytes)}-",
        None,
    ]


def test_503_is_retried_then_succeeds(
    server: LocalServer, genome_bytes: bytes, tmp_path: Path
) -> None:
    server.state.files["rsv.fasta"] = genome_bytes
    server.state.failures_before_success = 2
    url = server.file_url("fail/files", "rsv.fasta")

    fetched = fetch(url, tmp_path, retries=2, **FAST)

    assert fetched.path.read_bytes() == genome_bytes
    assert server.state.paths() == ["/fail/files/rsv.fasta"] * 3


def test_retries_used_up_names_url_attempts_and_last_error(
    server: LocalServer, genome_bytes: bytes, tmp_path: Path
) -> None:
    server.state.files["rsv.fasta"] = genome_bytes
    server.state.failures_before_success = 10
    url = server.file_url("fail/files", "rsv.fasta")

    with pytest.raises(DownloadError) as info:
        fetch(url, tmp_path, retries=2, **FAST)

    assert str(info.value) == (
        f"{url}: GET failed after 3 attempts, last: HTTP 503 Service Unavailable. "
        "Check that the server is reachable, or retry later."
    )
    assert len(server.state.requests) == 3


def test_404_is_not_retried_and_names_url_and_status(server: LocalServer, tmp_path: Path) -> None:
    url = server.file_url("files", "absent.fasta.xz")

    with pytest.raises(DownloadError) as info:
        fetch(url, tmp_path, retries=3, **FAST)

    assert str(info.value) == (
        f"{url}: GET failed with HTTP 404 Not Found. "
        "Check the URL; the server does not have this resource."
    )
    assert info.value.code == "download_failed"
    assert len(server.state.requests) == 1


def test_connection_refused_is_retried_then_reported(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x.fasta"

    with pytest.raises(DownloadError) as info:
        fetch(url, tmp_path, retries=1, **FAST)

    assert str(info.value) == (
        f"{url}: GET failed after 2 attempts, last: connection failed "
        "([Errno 111] Connection refused). Check that the server is reachable, or retry later."
    )


def test_checksum_mismatch_deletes_the_download(
    server: LocalServer, genome_bytes: bytes, tmp_path: Path
) -> None:
    server.state.files["rsv.fasta"] = genome_bytes
    url = server.file_url("files", "rsv.fasta")
    wrong = sha(b"something else")

    with pytest.raises(DownloadError) as info:
        fetch(url, tmp_path, sha256=wrong, **FAST)

    assert str(info.value) == (
        f"{url}: SHA-256 mismatch: expected {wrong}, got {sha(genome_bytes)}. "
        "The downloaded file was deleted; check the source and the expected checksum."
    )
    assert list(tmp_path.iterdir()) == []


def test_real_archive_over_http_round_trips(
    server: LocalServer, shared_data: Path, tmp_path: Path
) -> None:
    source = shared_data / "sars-cov-2" / "180.sars-cov-2.zip"
    server.state.files["180.sars-cov-2.zip"] = source.read_bytes()
    url = server.file_url("files", "180.sars-cov-2.zip")

    fetched = fetch(url, tmp_path / "new" / "dir", **FAST)

    assert fetched.sha256 == sha(source.read_bytes())
    shutil.rmtree(tmp_path / "new")
