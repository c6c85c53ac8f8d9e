"""Download layer of the import pipeline: get an input file onto local disk, verified and readable.

Framework-free on purpose (no Django, no Prefect): the Prefect tasks wrap these functions and pass
plain arguments read from the config object, so the logic is testable against a local HTTP server.

Sources understood by :func:`fetch`:

- a local path or a ``file://`` URL: used in place (never copied), but hashed;
- an ``http://`` or ``https://`` URL: streamed into ``dest_dir`` through a ``.part`` file that is
  resumed with an HTTP ``Range`` request after an interruption and renamed atomically when
  complete; connection errors, 5xx and 429 answers are retried with back-off, other 4xx are not;
- ``ena:ACC1,ACC2`` (or ``ena://ACC1,ACC2``): sequences fetched by accession from an
  ENA-Browser-API-compatible endpoint, see :mod:`ena_like.ena_client`.

Compressed inputs (gzip, xz, zstd, zip) are read through
:func:`analyses.calling.compression.open_text`, the one implementation for every input file.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import http.client
import json
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TypeVar

from analyses.calling.compression import (
    CHUNK_SIZE,
)
from emgsonar.errors import EmgsonarError, InputFormatError, NotFoundError

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: source prefixes dispatched to the ENA-like client
ENA_PREFIXES = ("ena://", "ena:")

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_CONTENT_RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class DownloadError(EmgsonarError):
    """A source could not be fetched (HTTP error, retries used up, checksum mismatch)."""

    code: ClassVar[str] = "download_failed"


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
    :returns: the local file, its hash and size.
    :raises DownloadError: HTTP error, retries used up, checksum mismatch, unsupported scheme.
    :raises NotFoundError: a local file does not exist, or ENA accessions are unknown.
    :raises InputFormatError: malformed ``sha256`` or accession.
    """
    expected = _validate_sha256(sha256)
    _validate_retry_policy(retries, backoff)
    dest_dir = Path(dest_dir)
    lowered = source.lower()

    if lowered.startswith(ENA_PREFIXES):
        from ena_like.ena_client import fetch_ena_source

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

    scheme = urllib.parse.urlsplit(source).scheme.lower()
    if scheme in ("http", "https"):
        path = download_http(
            source,
            dest_dir,
            expected_sha256=expected,
            retries=retries,
            backoff=backoff,
            timeout=timeout,
        )
        return _verified(path, source, expected, delete_on_mismatch=True)
    if scheme == "file":
        return _verified(_file_url_to_path(source), source, expected, delete_on_mismatch=False)
    if len(scheme) > 1:  # one letter would be a Windows drive, anything longer a URL scheme
        raise DownloadError(
            f"unsupported URL scheme '{scheme}'",
            path=source,
            hint="Use a local path, a file://, http(s):// URL or ena:ACC1,ACC2",
        )
    return _verified(Path(source).expanduser(), source, expected, delete_on_mismatch=False)


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


def _validate_sha256(sha256: str | None) -> str | None:
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
    if not path.is_file():
        raise NotFoundError("no such file", path=path, hint="Check the path of the source")
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
# HTTP with retries and resume


class TransientError(Exception):
    """Raised by an attempt for a failure worth another try (short body, odd status).

    :param retry_after: the server's requested delay in seconds, if it sent one.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


#: exceptions that mean the connection failed and another attempt can help
_CONNECTION_ERRORS = (
    urllib.error.URLError,  # HTTPError is handled before this
    http.client.HTTPException,  # IncompleteRead, RemoteDisconnected, BadStatusLine
    ConnectionError,
    TimeoutError,
)


def with_retries(
    url: str,
    attempt: Callable[[], T],
    *,
    retries: int,
    backoff: Sequence[float],
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``attempt`` until it succeeds, retrying only what a retry can fix.

    ``attempt`` performs one request. Connection errors, truncated bodies and HTTP 5xx/429 are
    retried after ``backoff[i]`` seconds (``Retry-After`` is honoured up to the largest back-off);
    any other HTTP error is raised at once as :class:`DownloadError`, because asking again for a
    missing or forbidden resource only wastes time.

    :param url: named in messages.
    :raises DownloadError: on a non-retryable status, or when the retries are used up.
    """
    failures = 0
    while True:
        try:
            return attempt()
        except urllib.error.HTTPError as exc:
            retryable = exc.code >= 500 or exc.code == 429
            reason = f"HTTP {exc.code} {exc.reason}"
            retry_after = _retry_after(exc.headers.get("Retry-After")) if exc.headers else None
            if not retryable:
                detail = _error_detail(exc)
                exc.close()
                raise DownloadError(
                    f"GET failed with {reason}" + (f": {detail}" if detail else ""),
                    path=url,
                    hint=_status_hint(exc.code),
                ) from exc
            exc.close()
        except TransientError as exc:
            reason, retry_after = str(exc), exc.retry_after
        except _CONNECTION_ERRORS as exc:
            reason = _describe(exc)
            retry_after = None
        failures += 1
        if failures > retries:
            raise DownloadError(
                f"GET failed after {failures} attempt{'s' if failures > 1 else ''}, last: {reason}",
                path=url,
                hint="Check that the server is reachable, or retry later",
            )
        delay = backoff[min(failures, len(backoff)) - 1]
        if retry_after is not None:
            delay = max(delay, min(retry_after, max(backoff)))
        logger.warning(
            "GET %s: %s; retry %d of %d in %.1f s", url, reason, failures, retries, delay
        )
        if delay:
            sleep(delay)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return f"connection failed ({exc.reason})"
    if isinstance(exc, http.client.IncompleteRead):
        return f"connection closed after {len(exc.partial)} more bytes of the body"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _error_detail(exc: urllib.error.HTTPError) -> str:
    """The server's own short explanation of a 4xx (ENA sends JSON with a ``message``)."""
    try:
        body = exc.read(2000).decode("utf-8", "replace").strip()
    except (OSError, http.client.HTTPException):
        return ""
    if not body or body.startswith("<"):  # HTML error pages say nothing useful
        return ""
    with contextlib.suppress(ValueError, AttributeError):
        body = str(json.loads(body).get("message") or body)
    first = body.splitlines()[0] if body else ""
    return first if len(first) <= 200 else first[:197] + "..."


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _status_hint(status: int) -> str:
    if status == 404:
        return "Check the URL; the server does not have this resource"
    if status in (401, 403):
        return "The server refuses access; check the URL and any credentials it needs"
    return "The request was rejected; check the URL"


def http_get(url: str, *, headers: dict[str, str] | None = None, timeout: float):
    """Open ``url`` with the project's User-Agent; the caller closes the response."""
    request = urllib.request.Request(
        url, headers={"User-Agent": "emgsonar-download/1", **(headers or {})}
    )
    return urllib.request.urlopen(request, timeout=timeout)


def download_http(
    url: str,
    dest_dir: Path,
    *,
    expected_sha256: str | None = None,
    retries: int = 3,
    backoff: Sequence[float] = (1, 2, 5),
    timeout: float = 60,
) -> Path:
    """Stream ``url`` into ``dest_dir / download_name(url)``, resuming a partial download.

    Bytes go to ``<name>.part``; if that file exists from an interrupted attempt (this run or an
    earlier one), the request asks for the rest with ``Range: bytes=<size>-`` and ``If-Range``
    (the ETag or Last-Modified recorded when the download started, so a changed file is not
    spliced). A ``206`` answer is appended, a ``200`` answer restarts cleanly. When complete,
    the part file is renamed atomically, so a file under the final name is always whole.

    A complete file already present is reused only when ``expected_sha256`` is given and matches;
    without a checksum nothing proves it is current, so it is downloaded again.

    :returns: the final path (not yet verified against ``expected_sha256``).
    :raises DownloadError: see :func:`with_retries`.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / download_name(url)
    part = final.with_name(final.name + ".part")
    validator_file = final.with_name(final.name + ".part.validator")
    if final.is_file() and expected_sha256 is not None:
        if sha256_file(final)[0] == expected_sha256:
            logger.info("reusing %s for %s (checksum matches)", final, url)
            return final
        logger.info("%s does not match the expected checksum; downloading again", final)

    def attempt() -> Path:
        offset = part.stat().st_size if part.is_file() else 0
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if validator_file.is_file():
                headers["If-Range"] = validator_file.read_text().strip()
        try:
            response = http_get(url, headers=headers, timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:
                # the part file is as long as the remote file or longer: it cannot be
                # trusted as a prefix, so start over at once (no retry used up)
                exc.close()
                logger.info("%s: resumed range not satisfiable; restarting download", url)
                part.unlink(missing_ok=True)
                return attempt()
            raise
        with response:
            status = response.status
            if status == 206 and offset:
                content_range = response.headers.get("Content-Range")
                match = _CONTENT_RANGE_RE.match(content_range or "")
                if not match or int(match.group(1)) != offset:
                    part.unlink(missing_ok=True)
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
                    validator_file.write_text(validator)
                else:
                    validator_file.unlink(missing_ok=True)
            else:
                raise TransientError(f"unexpected HTTP {status} {response.reason}")
            length = response.headers.get("Content-Length")
            expected_size = offset + int(length) if length and length.isdigit() else None
            with part.open(mode) as out:
                while block := response.read(CHUNK_SIZE):
                    out.write(block)
                written = out.tell()
        if expected_size is not None and written != expected_size:
            raise TransientError(f"body ended at byte {written} of {expected_size}")
        os.replace(part, final)
        validator_file.unlink(missing_ok=True)
        return final

    return with_retries(url, attempt, retries=retries, backoff=backoff)
