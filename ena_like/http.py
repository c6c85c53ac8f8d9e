"""HTTP GET with the project's retry policy and error messages, shared by every download.

Framework-free (no Django, no Prefect). :func:`with_retries` decides what a retry can fix;
both the plain URL download (:mod:`ena_like.download`) and the ENA client
(:mod:`ena_like.ena_client`) use it, so they fail and retry the same way.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import ClassVar, TypeVar

from emgsonar.errors import EmgsonarError

logger = logging.getLogger(__name__)

T = TypeVar("T")


class DownloadError(EmgsonarError):
    """A source could not be fetched (HTTP error, retries used up, checksum mismatch)."""

    code: ClassVar[str] = "download_failed"


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


def http_get(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    timeout: float,
    allow_url: Callable[[str], bool] | None = None,
):
    """Open ``url`` with the project's User-Agent; the caller closes the response.

    :param allow_url: a policy asked about ``url`` and about every redirect target before it is
        requested, so a URL that passed a sandbox check cannot hand the request on to a host the
        check would have refused (urllib follows redirects silently, up to 10 hops, also to
        ``ftp://``). None: every URL is allowed. A policy may raise its own error instead of
        returning False (e.g. the web API's 403 naming its setting): it propagates unchanged.
    :raises DownloadError: the policy refused ``url`` or a redirect target (never retried:
        asking again gets the same redirect).
    """
    request = urllib.request.Request(
        url, headers={"User-Agent": "emgsonar-download/1", **(headers or {})}
    )
    if allow_url is None:
        return urllib.request.urlopen(request, timeout=timeout)
    if not allow_url(url):
        raise _refused(url, url)
    opener = urllib.request.build_opener(_CheckedRedirects(url, allow_url))
    return opener.open(request, timeout=timeout)


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to a URL the policy allows (asked on every hop)."""

    def __init__(self, source: str, allow_url: Callable[[str], bool]) -> None:
        super().__init__()
        self.source = source
        self.allow_url = allow_url

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if not self.allow_url(newurl):
            fp.close()
            raise _refused(self.source, newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _refused(source: str, url: str) -> DownloadError:
    where = "" if url == source else f"redirected to {url}, "
    return DownloadError(
        f"{where}not a URL this download may fetch",
        path=source,
        hint="Only URLs under the allowed prefixes are fetched, redirect targets included; "
        "use the final URL if it is allowed, or ask the operator to allow its prefix",
    )
