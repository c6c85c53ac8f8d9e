"""Download layer of the import pipeline: get an input file onto local disk, verified and readable.

Framework-free on purpose (no Django, no Prefect): the Prefect tasks wrap these functions and pass
plain arguments read from the config object, so the logic is testable against a local HTTP server.

Sources understood by :func:`fetch`:

- a local path or a ``file://`` URL: used in place (never copied), but hashed;
- an ``http://`` or ``https://`` URL: streamed into ``dest_dir`` through a temporary file of its
  own (``<name>.<random>.part``), resumed with an HTTP ``Range`` request after an interruption
  and renamed atomically when complete; one process at a time downloads a given URL into a
  directory (``flock`` on ``<name>.lock``), a second one waits and uses the file the first
  completed; connection errors, 5xx and 429 answers are retried with back-off, other 4xx are
  not; an optional ``allow_url`` policy is asked about the URL and every redirect target;
- ``ena:ACC1,ACC2`` (or ``ena://ACC1,ACC2``): sequences fetched by accession from an
  ENA-Browser-API-compatible endpoint, see :mod:`ena_like.ena_client`.

Requests go through :mod:`ena_like.http` (retries, back-off, error messages), shared with the
ENA client.

Compressed inputs (gzip, xz, zstd, zip) are read through
:func:`analyses.calling.compression.open_text`, the one implementation for every input file.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import logging
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from analyses.calling.compression import CHUNK_SIZE
from emgsonar.errors import InputFormatError, NotFoundError
from ena_like.ena_client import ENA_PREFIXES, fetch_ena_source
from ena_like.http import DownloadError, TransientError, http_get, with_retries

logger = logging.getLogger(__name__)

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_CONTENT_RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


@dataclass(frozen=True)
class FetchedFile:
    """A source available on local disk.

    :param path: where the bytes are (the original file for local sources).
    :param sha256: lower-case hex SHA-256 of the file as stored (compressed bytes).
    :param size: size in bytes.
    :param source: the source string given to :func:`fetch`.
    """

    path: Path
    sha256: str
    size: int
    source: str


# --------------------------------------------------------------------------------------------
# fetch


def fetch(
    source: str,
    dest_dir: Path,
    *,
    sha256: str | None = None,
    retries: int = 3,
    backoff: Sequence[float] = (1, 2, 5),
    timeout: float = 60,
    ena_base_url: str | None = None,
    allow_url: Callable[[str], bool] | None = None,
) -> FetchedFile:
    """Make ``source`` available as a local file, optionally verifying its SHA-256.

    :param source: local path, ``file://``, ``http(s)://`` URL or ``ena:ACC1,ACC2``.
    :param dest_dir: directory for downloaded files (created if missing); unused for local files.
    :param sha256: expected SHA-256 (hex, any case); a mismatch raises and a downloaded file is
        deleted (a local file is never deleted).
    :param retries: retries after the first attempt on connection errors, 5xx and 429.
    :param backoff: seconds to wait before the 1st, 2nd, ... retry; the last value repeats.
        Tests pass ``(0,)``.
    :param timeout: socket timeout in seconds for each request.
    :param ena_base_url: ENA Browser API base URL (``EMGSONAR_CONFIG.ena.browser_api_url``),
        required for ``ena:`` sources only.
    :param allow_url: for ``http(s)`` sources: a policy asked about the URL and every redirect
        target before it is requested (e.g. the web API's sandbox of URL prefixes); None allows
        every URL.
    :returns: the local file, its hash and size.
    :raises DownloadError: HTTP error, retries used up, checksum mismatch, unsupported scheme,
        a URL or redirect target ``allow_url`` refuses.
    :raises NotFoundError: a local file does not exist, or ENA accessions are unknown.
    :raises InputFormatError: malformed ``sha256`` or accession.
    """
    expected = validate_sha256(sha256)
    _validate_retry_policy(retries, backoff)
    dest_dir = Path(dest_dir)
    kind = source_kind(source)

    if kind is SourceKind.ENA:
        if not ena_base_url:
            raise DownloadError(
                "an ENA source needs the ENA Browser API base URL",
                path=source,
                hint="Pass ena_base_url (config: EMGSONAR_ENA__BROWSER_API_URL)",
            )
        path = fetch_ena_source(
            source,
            dest_dir,
            base_url=ena_base_url,
            retries=retries,
            backoff=backoff,
            timeout=timeout,
        )
        return _verified(path, source, expected, delete_on_mismatch=True)
    if kind is SourceKind.HTTP:
        return download_http(
            source,
            dest_dir,
            expected_sha256=expected,
            retries=retries,
            backoff=backoff,
            timeout=timeout,
            allow_url=allow_url,
        )
    return _verified(local_path(source), source, expected, delete_on_mismatch=False)


class SourceKind(StrEnum):
    """What a source string names: sequences at ENA, a file on a web server, or a local file."""

    ENA = "ena"
    HTTP = "http"
    LOCAL = "local"


def source_kind(source: str) -> SourceKind:
    """Tell what ``source`` names, the one reading of a source string: :func:`fetch` and the
    checks made before an import is accepted (``POST /api/imports/``) must agree on it.

    :raises DownloadError: an unsupported URL scheme.
    """
    if source.lower().startswith(ENA_PREFIXES):
        return SourceKind.ENA
    scheme = urllib.parse.urlsplit(source).scheme.lower()
    if scheme in ("http", "https"):
        return SourceKind.HTTP
    if scheme == "file" or len(scheme) <= 1:  # one letter would be a Windows drive
        return SourceKind.LOCAL
    raise DownloadError(
        f"unsupported URL scheme '{scheme}'",
        path=source,
        hint="Use a local path, a file://, http(s):// URL or ena:ACC1,ACC2",
    )


def local_path(source: str) -> Path:
    """The file a local source (a path or ``file://`` URL) names, as :func:`fetch` reads it.

    :raises DownloadError: a ``file://`` URL naming a remote host.
    """
    if urllib.parse.urlsplit(source).scheme.lower() == "file":
        return _file_url_to_path(source)
    return Path(source).expanduser()


def require_file(path: Path) -> None:
    """Refuse a source path that is not a file, with the message every import gives.

    :raises NotFoundError: ``path`` is missing (or a directory).
    """
    if not path.is_file():
        raise NotFoundError("no such file", path=path, hint="Check the path of the source")


def sha256_file(path: Path) -> tuple[str, int]:
    """Hash a file in blocks.

    :returns: lower-case hex SHA-256 and size in bytes.
    """
    digest = hashlib.sha256()
    size = 0
    with Path(path).open("rb") as handle:
        while block := handle.read(CHUNK_SIZE):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def download_name(url: str) -> str:
    """Deterministic file name for a URL: 16 hex digits of its SHA-256, then its basename.

    The same URL always lands in the same file (so an interrupted download can be resumed by a
    re-run), while different URLs with the same basename do not collide.
    """
    base = urllib.parse.unquote(Path(urllib.parse.urlsplit(url).path).name)
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".") or "download"
    return f"{hashlib.sha256(url.encode()).hexdigest()[:16]}-{base}"


def validate_sha256(sha256: str | None) -> str | None:
    """The expected SHA-256, normalised to lower-case hex (None: no check).

    :raises InputFormatError: not 64 hexadecimal digits.
    """
    if sha256 is None:
        return None
    normalised = sha256.strip().lower()
    if not _SHA256_RE.match(normalised):
        raise InputFormatError(
            "expected SHA-256 is not 64 hexadecimal digits",
            value=sha256,
            hint="Pass the hex digest printed by sha256sum",
        )
    return normalised


def _validate_retry_policy(retries: int, backoff: Sequence[float]) -> None:
    if retries < 0:
        raise InputFormatError("retries must be 0 or more", value=retries)
    if retries and not backoff:
        raise InputFormatError("backoff needs at least one delay when retries > 0")
    if any(delay < 0 for delay in backoff):
        raise InputFormatError("back-off delays must not be negative", value=tuple(backoff))


def _file_url_to_path(url: str) -> Path:
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise DownloadError(
            f"file:// URL names the remote host '{parts.netloc}'",
            path=url,
            hint="Use file:///absolute/path or a plain local path",
        )
    return Path(urllib.request.url2pathname(urllib.parse.unquote(parts.path)))


def _verified(
    path: Path, source: str, expected: str | None, *, delete_on_mismatch: bool
) -> FetchedFile:
    require_file(path)
    actual, size = sha256_file(path)
    if expected is not None and actual != expected:
        if delete_on_mismatch:
            path.unlink(missing_ok=True)
            logger.warning("deleted %s: SHA-256 %s, expected %s", path, actual, expected)
        raise DownloadError(
            f"SHA-256 mismatch: expected {expected}, got {actual}",
            path=source,
            hint=(
                "The downloaded file was deleted; check the source and the expected checksum"
                if delete_on_mismatch
                else "Check the file and the expected checksum"
            ),
        )
    logger.info("fetched %s -> %s (%d bytes, sha256 %s)", source, path, size, actual)
    return FetchedFile(path=path, sha256=actual, size=size, source=source)


# --------------------------------------------------------------------------------------------
# HTTP with resume


def download_http(
    url: str,
    dest_dir: Path,
    *,
    expected_sha256: str | None = None,
    retries: int = 3,
    backoff: Sequence[float] = (1, 2, 5),
    timeout: float = 60,
    allow_url: Callable[[str], bool] | None = None,
) -> FetchedFile:
    """Stream ``url`` into ``dest_dir / download_name(url)``, verified, resuming a partial download.

    Two imports of the same URL may run at once (two flow runs, a re-run next to a run not yet
    dead). They must not write one file, and the second has no reason to fetch the bytes again:
    so the download holds an exclusive ``flock`` on ``<name>.lock`` from the reuse check to the
    checksum check. A download that waited for the lock uses the file if the other one completed
    it meanwhile (it is as fresh as a download of its own would be).

    A complete file found before waiting is reused only when ``expected_sha256`` is given and
    matches; without a checksum nothing proves it is current, so it is downloaded again.

    Bytes go to a temporary file of this download's own, ``<name>.<random>.part``, renamed
    atomically when complete, so a file under the final name is always whole, and two writers
    never share a file even where the lock does not reach (a network filesystem mounted without
    lock support). Resume is kept (a genome set can be gigabytes): a part file left in the
    directory can only belong to a download that has ended (the lock holder is the only writer),
    so the lock holder adopts the newest one (a killed run's, or an earlier attempt's) and asks
    for the rest, see :func:`_Download.attempt`.

    :returns: the verified file.
    :raises DownloadError: see :func:`with_retries` and :func:`fetch`.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / download_name(url)
    seen = _identity(final)
    with _exclusive_lock(final.with_name(final.name + ".lock")):
        if _reusable(final, url, expected_sha256, seen):
            return _verified(final, url, expected_sha256, delete_on_mismatch=True)
        download = _Download(url, final, timeout=timeout, allow_url=allow_url)
        try:
            with_retries(url, download.attempt, retries=retries, backoff=backoff)
        finally:
            download.release()
        return _verified(final, url, expected_sha256, delete_on_mismatch=True)


def _identity(path: Path) -> tuple[int, int, int] | None:
    """Device, inode and mtime of ``path``: which file is there (None: none)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino, stat.st_mtime_ns


def _reusable(
    final: Path, url: str, expected_sha256: str | None, seen: tuple[int, int, int] | None
) -> bool:
    """Whether the file under the final name can serve this download (the lock is held).

    :param seen: the file's identity before the lock was awaited; a different one now means a
        concurrent download of the same URL replaced it while this one waited.
    """
    if not final.is_file():
        return False
    if expected_sha256 is not None:
        if sha256_file(final)[0] == expected_sha256:
            logger.info("reusing %s for %s (checksum matches)", final, url)
            return True
        logger.info("%s does not match the expected checksum; downloading again", final)
        return False
    if _identity(final) != seen:
        logger.info("reusing %s for %s (downloaded by a concurrent import)", final, url)
        return True
    return False


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """Hold ``flock(LOCK_EX)`` on ``path``, waiting for it; the file is removed on release.

    Removing the lock file keeps the download directory clean, at a cost: a waiter may get the
    lock on a file that was unlinked meanwhile while a newcomer locks a fresh one. So the lock
    counts only if the file locked is still the one under ``path``; otherwise lock again. The
    kernel drops a ``flock`` when its holder dies, so a killed download blocks nobody.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held = os.fstat(fd)
            current = os.stat(path)
        except FileNotFoundError:
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            raise
        if (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino):
            break
        os.close(fd)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # before unlocking: a waiter then sees it is stale
        os.close(fd)


class _Download:
    """One download of ``url`` into ``final`` through a part file of its own (lock held)."""

    def __init__(
        self,
        url: str,
        final: Path,
        *,
        timeout: float,
        allow_url: Callable[[str], bool] | None,
    ) -> None:
        self.url = url
        self.final = final
        self.timeout = timeout
        self.allow_url = allow_url
        self.validator_file = final.with_name(final.name + ".part.validator")
        self.part = self._adopt_part() or self._new_part()

    def _adopt_part(self) -> Path | None:
        """The newest part file an ended download of this URL left (others are deleted)."""
        pattern = glob.escape(self.final.name) + ".*part"  # <name>.part (older) or <name>.*.part
        parts = sorted(self.final.parent.glob(pattern), key=lambda p: p.stat().st_mtime_ns)
        for stale in parts[:-1]:
            stale.unlink(missing_ok=True)
        return parts[-1] if parts else None

    def _new_part(self) -> Path:
        with tempfile.NamedTemporaryFile(
            dir=self.final.parent, prefix=self.final.name + ".", suffix=".part", delete=False
        ) as handle:
            return Path(handle.name)

    def release(self) -> None:
        """After the last attempt: an empty part file is removed, a partial one kept for the
        next download of the URL to resume."""
        with contextlib.suppress(FileNotFoundError):
            if self.part.stat().st_size == 0:
                self.part.unlink()

    def _restart(self) -> None:
        self.part.write_bytes(b"")

    def attempt(self) -> Path:
        """One request; appends to the part file and renames it when complete.

        If the part file holds bytes, the request asks for the rest with ``Range:
        bytes=<size>-`` and ``If-Range`` (the ETag or Last-Modified recorded when the download
        started, so a changed file is not spliced). A ``206`` answer is appended, a ``200``
        answer restarts cleanly.
        """
        url = self.url
        offset = self.part.stat().st_size
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if self.validator_file.is_file():
                headers["If-Range"] = self.validator_file.read_text().strip()
        try:
            response = http_get(
                url, headers=headers, timeout=self.timeout, allow_url=self.allow_url
            )
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:
                # the part file is as long as the remote file or longer: it cannot be
                # trusted as a prefix, so start over at once (no retry used up)
                exc.close()
                logger.info("%s: resumed range not satisfiable; restarting download", url)
                self._restart()
                return self.attempt()
            raise
        with response:
            status = response.status
            if status == 206 and offset:
                content_range = response.headers.get("Content-Range")
                match = _CONTENT_RANGE_RE.match(content_range or "")
                if not match or int(match.group(1)) != offset:
                    self._restart()
                    raise TransientError(
                        f"206 answer with Content-Range {content_range!r} for a request from "
                        f"byte {offset}; restarting"
                    )
                mode = "ab"
                logger.info("resuming %s at byte %d", url, offset)
            elif status == 200:
                if offset:
                    logger.info("%s: server sent the whole file; restarting download", url)
                mode = "wb"
                offset = 0
                validator = response.headers.get("ETag") or response.headers.get("Last-Modified")
                # a weak ETag must not be used in If-Range
                if validator and not validator.startswith("W/"):
                    self.validator_file.write_text(validator)
                else:
                    self.validator_file.unlink(missing_ok=True)
            else:
                raise TransientError(f"unexpected HTTP {status} {response.reason}")
            length = response.headers.get("Content-Length")
            expected_size = offset + int(length) if length and length.isdigit() else None
            with self.part.open(mode) as out:
                while block := response.read(CHUNK_SIZE):
                    out.write(block)
                written = out.tell()
        if expected_size is not None and written != expected_size:
            raise TransientError(f"body ended at byte {written} of {expected_size}")
        os.replace(self.part, self.final)
        self.validator_file.unlink(missing_ok=True)
        return self.final
