"""Pre-flight of ``POST /api/imports/``: refuse, before anything is recorded, an import that
would fail or would read outside the server's sandbox.

Two kinds of refusal:

- **Sandbox** (403, :class:`~emgsonar.errors.PermissionDeniedError`): a web user may make the
  server read only files under ``EMGSONAR_IMPORTS__ALLOWED_ROOTS`` (paths are resolved first, so
  ``..`` and symlinks cannot lead out) and fetch only URLs under
  ``EMGSONAR_IMPORTS__ALLOWED_URL_PREFIXES``. The command line and the Prefect dashboard are for
  operators, who can read the server's files anyway: they are not sandboxed.
- **Bad input** (400, :class:`ImportRefusedError`): what the import itself would stop at, found
  by the import's own code (the flow's parameter check and reference lookup, the download
  layer's reading of a source, the FASTA reader, the metadata header parser), so the message
  is the one the command line prints for the same input. Only the start of a file is read (the
  first FASTA record, the metadata header, the first 64 KiB of a URL): a file that goes bad
  further in is still reported by the run itself.

Transient trouble (a server that does not answer now, a 5xx) refuses nothing: the flow's
download retries it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import tempfile
import urllib.error
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from django.conf import settings

from analyses.calling.compression import Compression, detect_compression
from analyses.calling.seqio import iter_raw_fasta
from emgsonar.errors import EmgsonarError, InputFormatError, PermissionDeniedError
from ena_like.download import (
    SourceKind,
    download_name,
    local_path,
    require_file,
    source_kind,
    validate_sha256,
)
from ena_like.ena_client import parse_ena_source
from ena_like.http import DownloadError, http_get, with_retries
from ena_like.metadata import open_table, parse_metadata
from ena_like.services.properties import declared_properties
from workflows.flows.params import ImportSamplesParams

logger = logging.getLogger(__name__)

ROOTS_SETTING = "EMGSONAR_IMPORTS__ALLOWED_ROOTS"
PREFIXES_SETTING = "EMGSONAR_IMPORTS__ALLOWED_URL_PREFIXES"
#: bytes of a URL read to judge its format (the first records of any viral genome set)
URL_HEAD_BYTES = 64 * 1024
#: how long the request waits for a URL's first bytes; a slower server is left to the import
URL_HEAD_TIMEOUT_SECONDS = 10.0
_TOTAL_RE = re.compile(r"/(\d+)$")


@dataclasses.dataclass(eq=False)
class ImportRefusedError(EmgsonarError):
    """An input the import would stop at, found before the import was accepted: a 400.

    Message and code are the import's own error's (what the command line prints), but the
    status is always 400: a missing file or unknown reference named in a request body makes a
    bad request, not a missing resource of the URL (a :class:`NotFoundError` is a 404).
    """

    cause: EmgsonarError | None = None

    def __str__(self) -> str:
        return str(self.cause) if self.cause is not None else super().__str__()

    @property
    def code(self) -> str:  # type: ignore[override]  # the wrapped error's, e.g. not_found
        return self.cause.code if self.cause is not None else "invalid_input"


def check_samples_import(params: ImportSamplesParams) -> None:
    """Refuse an ``import_samples`` request that leaves the sandbox or would fail at once.

    The sandbox comes first (a 403 tells nothing about files outside it); then the checks run
    in the flow's order: parameters, reference, metadata, FASTA.

    :raises PermissionDeniedError: a path outside the allowed roots, a URL outside the
        allowed prefixes.
    :raises ImportRefusedError: the input error the import would report.
    """
    try:
        for source in (params.metadata, params.fasta):
            if source:
                check_sandbox(source)
        # the flow module imports Prefect (2 s): only when an import is started, as
        # services.start_import_via_deployment imports it
        from workflows.flows import import_samples as flow

        flow.validate_samples_params(params)
        flow.resolve_reference.fn(params.reference)
        files: list[tuple[str | None, str | None, Callable[[Path], None]]] = [
            (params.metadata, params.metadata_sha256, lambda p: check_metadata_header(p, params)),
            (params.fasta, params.fasta_sha256, check_fasta_start),
        ]
        with tempfile.TemporaryDirectory(prefix="emgsonar-preflight-") as tmp:
            for source, sha256, check in files:
                head = source_head(source, sha256, Path(tmp)) if source else None
                if head is not None:
                    with head.errors_named():
                        check(head.path)
    except PermissionDeniedError:
        raise
    except EmgsonarError as exc:
        raise ImportRefusedError(str(exc), cause=exc) from exc


# --- sandbox ----------------------------------------------------------------------------------


def check_sandbox(source: str) -> None:
    """Refuse a source a web user may not make the server read.

    :raises PermissionDeniedError: outside the allowed roots or URL prefixes.
    :raises InputFormatError: a relative path (the API and the worker that reads the file need
        not share a working directory).
    :raises DownloadError: an unsupported URL scheme (as the import says).
    """
    try:
        kind = source_kind(source)
    except ValueError as exc:  # urlsplit: "http://[::1" and the like
        raise InputFormatError(f"neither a path nor a URL ({exc})", path=source) from exc
    if kind is SourceKind.ENA:  # fetched from EMGSONAR_ENA__BROWSER_API_URL only
        return
    if kind is SourceKind.HTTP:
        if not url_allowed(source):
            raise _outside(source, "URLs", PREFIXES_SETTING, allowed_url_prefixes())
        return
    path = local_path(source)
    if not path.is_absolute():
        raise InputFormatError(
            "a relative path", path=source, hint="Give the absolute path of the file on the server"
        )
    if not path_allowed(path):
        raise _outside(source, "files", ROOTS_SETTING, [str(r) for r in allowed_roots()])


def allowed_roots() -> list[Path]:
    """The allowed roots, resolved (a root may itself be a symlink, e.g. to a mounted volume)."""
    return [Path(root).resolve() for root in settings.EMGSONAR_CONFIG.imports.allowed_roots]


def path_allowed(path: Path) -> bool:
    """Whether ``path``, with every symlink and ``..`` resolved, lies under an allowed root
    (a path that cannot be resolved, with a NUL byte or a symlink loop, does not)."""
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError, ValueError):
        return False
    return any(resolved.is_relative_to(root) for root in allowed_roots())


def allowed_url_prefixes() -> list[str]:
    return list(settings.EMGSONAR_CONFIG.imports.allowed_url_prefixes)


def url_allowed(url: str) -> bool:
    """Whether ``url`` lies under an allowed prefix: same scheme and host (port, user part
    included: ``https://host@evil``/ is not ``https://host``), and a path that continues the
    prefix's at a ``/``. A path with ``.``/``..`` segments (encoded or not) is never allowed:
    servers resolve them, so they could climb out of the prefix."""
    parts = urllib.parse.urlsplit(url)
    segments = urllib.parse.unquote(parts.path).split("/")
    if any(segment in (".", "..") for segment in segments):
        return False
    for prefix in allowed_url_prefixes():
        allowed = urllib.parse.urlsplit(prefix)
        if (parts.scheme.lower(), parts.netloc.lower()) != (
            allowed.scheme.lower(),
            allowed.netloc.lower(),
        ):
            continue
        base = allowed.path.rstrip("/")
        if parts.path == base or parts.path.startswith(base + "/"):
            return True
    return False


def sandboxed_url(url: str) -> bool:
    """The sandbox as an ``allow_url`` policy of :func:`ena_like.http.http_get`: asked about a
    URL and every redirect target before it is requested, it raises the 403 naming
    ``EMGSONAR_IMPORTS__ALLOWED_URL_PREFIXES`` for one outside the prefixes, so a redirect out of
    them is never followed (the pre-flight and the run's download of an HTTP import alike).

    :raises PermissionDeniedError: ``url`` is outside the allowed prefixes.
    """
    if not url_allowed(url):
        raise _outside(url, "URLs", PREFIXES_SETTING, allowed_url_prefixes())
    return True


def _outside(source: str, what: str, setting: str, allowed: list[str]) -> PermissionDeniedError:
    return PermissionDeniedError(
        f"imports over HTTP may read only {what} under {setting} "
        f"({', '.join(allowed) if allowed else 'none configured'})",
        path=source,
        hint=f"Use a source under one of them, or ask the operator to add yours to {setting}",
    )


# --- the start of a source --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Head:
    """The start of a source, on local disk, to check the format on.

    :param path: the file read (a local source itself, or the first bytes of a URL).
    :param named: the file the import would read and name in its messages (for a URL: the
        download it would write).
    """

    path: Path
    named: Path

    @contextlib.contextmanager
    def errors_named(self) -> Iterator[None]:
        """Errors about :attr:`path` name :attr:`named`, as the import's would."""
        try:
            yield
        except EmgsonarError as exc:
            if self.path == self.named or exc.path is None or Path(exc.path) != self.path:
                raise
            raise dataclasses.replace(exc, path=self.named) from exc


def source_head(source: str, sha256: str | None, tmp: Path) -> Head | None:
    """The start of ``source`` to check the format on, or None when it cannot be judged from
    its start (ENA, a compressed file cut by the 64 KiB read, a URL that does not answer now).

    Checks on the way what the download step checks first, with its code: the checksum's
    syntax, the accessions of an ``ena:`` source, that a local file exists, that a URL is not
    refused (4xx).

    :param tmp: where the first bytes of a URL are written.
    """
    validate_sha256(sha256)
    kind = source_kind(source)
    if kind is SourceKind.ENA:
        parse_ena_source(source)
        return None
    if kind is SourceKind.HTTP:
        return _url_head(source, tmp)
    path = local_path(source)
    require_file(path)
    return Head(path, path)


def _url_head(url: str, tmp: Path) -> Head | None:
    """The first :data:`URL_HEAD_BYTES` of ``url`` (no retry), or None if they say nothing.

    :raises PermissionDeniedError: a redirect leads out of the allowed prefixes (refused by
        :func:`sandboxed_url` before the target is requested).
    """
    cfg = settings.EMGSONAR_CONFIG
    headers = {"Range": f"bytes=0-{URL_HEAD_BYTES - 1}", "Accept-Encoding": "identity"}
    timeout = min(cfg.ena.timeout_seconds, URL_HEAD_TIMEOUT_SECONDS)
    try:
        response = with_retries(
            url,
            lambda: http_get(url, headers=headers, timeout=timeout, allow_url=sandboxed_url),
            retries=0,
            backoff=(0,),
        )
    except DownloadError as exc:
        if isinstance(exc.__cause__, urllib.error.HTTPError):  # a 4xx: no retry will help
            raise
        logger.info("pre-flight of %s: %s; left to the import's retries", url, exc)
        return None
    with response:  # every hop passed the sandbox (the policy)
        head = response.read(URL_HEAD_BYTES)
        total = _TOTAL_RE.search(response.headers.get("Content-Range") or "")
        whole = int(total.group(1)) <= len(head) if total else not response.read(1)
    path = tmp / download_name(url)
    path.write_bytes(head)
    if not whole:
        if detect_compression(path) is not Compression.NONE:
            return None  # a cut archive always reads as truncated
        path.write_bytes(head[: head.rfind(b"\n") + 1])  # whole lines: no character cut in two
    return Head(path, Path(cfg.imports.download_dir) / download_name(url))


def check_fasta_start(path: Path) -> None:
    """Read the first FASTA record as the import's split step reads the file.

    :raises InputFormatError: empty, not text, not FASTA (text before the first ``>``).
    """
    records = iter_raw_fasta(path)
    try:
        next(records, None)
    finally:
        records.close()


def check_metadata_header(path: Path, params: ImportSamplesParams) -> None:
    """Parse the metadata header as the import's check-metadata step does (column mapping,
    name column, duplicate columns), without the rows.

    :raises InputFormatError: empty, not text, or a header the mapping does not fit.
    """
    with open_table(path) as handle:
        parse_metadata(
            _through_header(handle),
            params.cols,
            path=path,
            auto_link=params.auto_link,
            properties=declared_properties(),
            skip_invalid_rows=params.skip_invalid_rows,
        )


def _through_header(lines: Iterable[str]) -> Iterator[str]:
    """The lines of a table up to and including its first non-blank one (the header)."""
    for line in lines:
        yield line
        if line.strip():
            return
