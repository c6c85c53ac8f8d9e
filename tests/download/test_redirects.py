"""fetch(allow_url=...): the policy is asked about the URL and every redirect hop, and a
refused hop is never requested (a sandboxed URL cannot hand the download to another host)."""

from __future__ import annotations

from pathlib import Path

import pytest

from emgsonar.errors import PermissionDeniedError
from ena_like.download import fetch
from ena_like.http import DownloadError
from tests.download.localserver import LocalServer, ServerState, serving

FAST = {"backoff": (0,), "timeout": 5}


class Policy:
    """Allows URLs of one server; records what it was asked."""

    def __init__(self, server: LocalServer) -> None:
        self.prefix = server.url + "/"
        self.asked: list[str] = []

    def __call__(self, url: str) -> bool:
        self.asked.append(url)
        return url.startswith(self.prefix)


def test_redirect_to_another_host_is_refused_before_it_is_requested(
    server: LocalServer, genome_bytes: bytes, tmp_path: Path
) -> None:
    with serving(ServerState(files={"rsv.fasta": genome_bytes})) as outside:
        target = outside.file_url("files", "rsv.fasta")
        server.state.redirects = {"/a/rsv.fasta": "/b/rsv.fasta", "/b/rsv.fasta": target}
        url = server.file_url("a", "rsv.fasta")
        policy = Policy(server)

        with pytest.raises(DownloadError) as info:
            fetch(url, tmp_path / "dl", allow_url=policy, retries=3, **FAST)

        assert str(info.value) == (
            f"{url}: redirected to {target}, not a URL this download may fetch. Only URLs "
            "under the allowed prefixes are fetched, redirect targets included; use the final "
            "URL if it is allowed, or ask the operator to allow its prefix."
        )
        assert policy.asked == [url, server.file_url("b", "rsv.fasta"), target]
        assert outside.state.requests == []
        assert server.state.paths() == ["/a/rsv.fasta", "/b/rsv.fasta"]  # no retry
        assert list((tmp_path / "dl").iterdir()) == []


def test_allowed_redirects_are_followed(
    server: LocalServer, genome_bytes: bytes, tmp_path: Path
) -> None:
    server.state.files["rsv.fasta"] = genome_bytes
    server.state.redirects = {"/moved/rsv.fasta": "/files/rsv.fasta"}
    url = server.file_url("moved", "rsv.fasta")
    policy = Policy(server)

    fetched = fetch(url, tmp_path, allow_url=policy, **FAST)

    assert fetched.path.read_bytes() == genome_bytes
    assert policy.asked == [url, server.file_url("files", "rsv.fasta")]


def test_a_refused_url_is_not_requested(server: LocalServer, tmp_path: Path) -> None:
    url = server.file_url("files", "rsv.fasta")

    with pytest.raises(DownloadError, match="not a URL this download may fetch"):
        fetch(url, tmp_path, allow_url=lambda _: False, **FAST)

    assert server.state.requests == []


def test_without_a_policy_redirects_are_followed_anywhere(
    server: LocalServer, genome_bytes: bytes, tmp_path: Path
) -> None:
    with serving(ServerState(files={"rsv.fasta": genome_bytes})) as outside:
        server.state.redirects = {"/a/rsv.fasta": outside.file_url("files", "rsv.fasta")}

        fetched = fetch(server.file_url("a", "rsv.fasta"), tmp_path, **FAST)

    assert fetched.path.read_bytes() == genome_bytes  # operators' imports are not sandboxed


def test_an_error_raised_by_the_policy_propagates_unchanged(
    server: LocalServer, tmp_path: Path
) -> None:
    server.state.redirects = {"/a/rsv.fasta": "http://198.51.100.1/rsv.fasta"}
    url = server.file_url("a", "rsv.fasta")

    def policy(candidate: str) -> bool:
        if candidate != url:
            raise PermissionDeniedError("outside the sandbox", path=candidate)
        return True

    with pytest.raises(PermissionDeniedError) as info:
        fetch(url, tmp_path, allow_url=policy, retries=3, **FAST)

    assert str(info.value) == "http://198.51.100.1/rsv.fasta: outside the sandbox."
    assert server.state.paths() == ["/a/rsv.fasta"]
