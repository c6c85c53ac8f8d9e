"""An ENA-like sequence source: fetch sequences and their metadata by INSDC accession.

Speaks the shape of two public ENA APIs, so the same code works against ENA itself, a mirror,
or the local server of the tests (base URLs come from ``EMGSONAR_CONFIG.ena``, read by the
caller):

- Browser API, ``GET {base_url}/fasta/{acc1},{acc2},...`` (ENA:
  ``https://www.ebi.ac.uk/ena/browser/api``), batched by up to 100 accessions. Records come back
  with headers such as ``>ENA|OY123456|OY123456.1 Severe acute respiratory syndrome ...``.
- Portal API, ``GET {portal_url}/search?result=sequence&query=...&fields=...&format=tsv`` (ENA:
  ``https://www.ebi.ac.uk/ena/portal/api``) for metadata.

ENA answers an unknown accession with an empty body, a 404 or a 400, or simply leaves its
record out of a batch; this client compares the returned headers with the request and reports
exactly which accessions are missing (:class:`MissingAccessionsError`), never dropping one
silently. Accession syntax is checked before any request.

Source strings
--------------
:func:`ena_like.download.fetch` hands these to :func:`fetch_ena_source`:

``ena:ACC1,ACC2,...``
    canonical form; ``ena://ACC1,ACC2`` is accepted too. Accessions are INSDC sequence
    accessions, with or without version (``MN908947`` or ``MN908947.3``), case-insensitive,
    separated by commas (spaces around them are ignored); duplicates are fetched once. Without a
    version ENA's current version is fetched; with one, the record must carry that version.
    RefSeq accessions (``NC_045512.2``) are not in ENA and are rejected.
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import io
import logging
import os
import re
import urllib.error
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, ClassVar, Literal

from emgsonar.errors import InputFormatError, NotFoundError
from ena_like.http import DownloadError, TransientError, http_get, with_retries

logger = logging.getLogger(__name__)

#: source prefixes of an ENA source string (``ena:ACC1,ACC2``), dispatched here by
#: :func:`ena_like.download.fetch`
ENA_PREFIXES = ("ena://", "ena:")

#: ENA's own limit is higher, but 100 keeps URLs short (~1.3 kB) and a failed batch cheap
MAX_BATCH = 100
#: metadata fields asked for by :meth:`EnaClient.fetch_metadata` unless told otherwise
DEFAULT_FIELDS = (
    "accession",
    "country",
    "collection_date",
    "host",
    "scientific_name",
    "tax_id",
    "first_public",
)

# INSDC nucleotide accessions: 1 letter + 5 digits, 2 letters + 6 or 8 digits, WGS/TSA/TLS
# contigs (4 letters + 8-10 digits, 6 letters + 9-11 digits); optional ".version".
_ACCESSION_RE = re.compile(
    r"^(?P<acc>[A-Z]\d{5}|[A-Z]{2}\d{6}|[A-Z]{2}\d{8}|[A-Z]{4}\d{8,10}|[A-Z]{6}\d{9,11})"
    r"(?:\.(?P<version>[1-9]\d*))?$"
)
_REFSEQ_RE = re.compile(r"^[A-Z]{2}_\d+(\.\d+)?$")

OnMissing = Literal["error", "warn"]


@dataclass(eq=False)
class MissingAccessionsError(NotFoundError):
    """Some requested accessions are not in the source; ``missing`` lists them in request order."""

    missing: tuple[str, ...] = ()
    code: ClassVar[str] = "accessions_not_found"


def parse_ena_source(source: str) -> list[str]:
    """Accessions of an ``ena:ACC1,ACC2`` / ``ena://ACC1,ACC2`` source string, validated.

    >>> parse_ena_source("ena:mn908947.3, OY123456")
    ['MN908947.3', 'OY123456']

    :raises InputFormatError: not an ENA source, or malformed accessions (all are listed).
    """
    lowered = source.lower()
    for prefix in ENA_PREFIXES:
        if lowered.startswith(prefix):
            return validate_accessions(source[len(prefix) :].split(","))
    raise InputFormatError(
        "not an ENA source string",
        value=source,
        hint="Write ena:ACC1,ACC2",
    )


def validate_accessions(accessions: Iterable[str]) -> list[str]:
    """Normalise (strip, upper-case, de-duplicate) and check INSDC accession syntax.

    :returns: the accessions in request order, each once.
    :raises InputFormatError: naming every malformed accession at once.
    """
    seen: dict[str, None] = {}
    bad: list[str] = []
    for raw in accessions:
        accession = raw.strip().upper()
        if not _ACCESSION_RE.match(accession):
            bad.append(raw.strip())
        else:
            seen.setdefault(accession, None)
    if bad:
        refseq = any(_REFSEQ_RE.match(b.upper()) for b in bad)
        raise InputFormatError(
            f"not an INSDC sequence accession: {', '.join(repr(b) for b in bad)}",
            hint=(
                "RefSeq accessions (NC_...) are not in ENA; use the INSDC one (e.g. MN908947.3)"
                if refseq
                else "Use accessions like MN908947 or MN908947.3, separated by commas"
            ),
        )
    if not seen:
        raise InputFormatError("no accessions given", hint="Write ena:ACC1,ACC2")
    return list(seen)


def fetch_ena_source(
    source: str,
    dest_dir: Path,
    *,
    base_url: str,
    retries: int = 3,
    backoff: Sequence[float] = (1, 2, 5),
    timeout: float = 60,
) -> Path:
    """Fetch the sequences of an ``ena:`` source string into one FASTA file in ``dest_dir``.

    The file name is deterministic (``ena-<16 hex digits of the accession list's SHA-256>.fasta``),
    so a re-run overwrites the same file instead of piling up copies.

    :raises MissingAccessionsError: some accessions are unknown (all of them are listed).
    """
    accessions = parse_ena_source(source)
    digest = hashlib.sha256(",".join(accessions).encode()).hexdigest()[:16]
    client = EnaClient(base_url, timeout=timeout, retries=retries, backoff=backoff)
    return client.fetch_fasta(accessions, Path(dest_dir) / f"ena-{digest}.fasta")


class EnaClient:
    """Client for an ENA-Browser/Portal-API-compatible server.

    :param base_url: Browser API base, e.g. ``https://www.ebi.ac.uk/ena/browser/api``.
    :param portal_url: Portal API base, e.g. ``https://www.ebi.ac.uk/ena/portal/api``; needed
        only for :meth:`fetch_metadata` and :meth:`search`.
    :param timeout: socket timeout per request, in seconds.
    :param retries: retries per request on connection errors, 5xx and 429.
    :param backoff: seconds before the 1st, 2nd, ... retry (the last value repeats).
    :param batch_size: accessions per request, at most :data:`MAX_BATCH`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        portal_url: str | None = None,
        timeout: float = 60,
        retries: int = 3,
        backoff: Sequence[float] = (1, 2, 5),
        batch_size: int = MAX_BATCH,
    ) -> None:
        self.base_url = _check_base_url(base_url, "base_url")
        self.portal_url = _check_base_url(portal_url, "portal_url") if portal_url else None
        if not 1 <= batch_size <= MAX_BATCH:
            raise InputFormatError(f"batch_size must be 1 to {MAX_BATCH}", value=batch_size)
        self.timeout = timeout
        self.retries = retries
        self.backoff = tuple(backoff)
        self.batch_size = batch_size

    # ---------------------------------------------------------------------------- FASTA

    def fetch_fasta(
        self, accessions: Sequence[str], dest: Path, *, on_missing: OnMissing = "error"
    ) -> Path:
        """Write the records of ``accessions`` to one FASTA file ``dest``, as the server sends them.

        The file is written through ``<dest>.part`` and renamed when every batch is complete.

        :param on_missing: ``error`` raises :class:`MissingAccessionsError` and writes nothing;
            ``warn`` logs the missing accessions and keeps the records that were found.
        :returns: ``dest``.
        :raises InputFormatError: malformed accessions (checked before any request).
        :raises MissingAccessionsError: unknown accessions, with ``on_missing="error"``.
        :raises DownloadError: HTTP errors other than "not found", retries used up.
        """
        wanted = validate_accessions(accessions)
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        found: set[str] = set()
        try:
            with part.open("wb") as out:
                for start in range(0, len(wanted), self.batch_size):
                    found |= self._fetch_batch(wanted[start : start + self.batch_size], out)
            missing = [acc for acc in wanted if acc not in found]
            if missing:
                self._report_missing(missing, len(wanted), self.base_url, on_missing)
            os.replace(part, dest)
        finally:
            part.unlink(missing_ok=True)
        logger.info(
            "fetched %d of %d accessions from %s into %s",
            len(wanted) - len(missing),
            len(wanted),
            self.base_url,
            dest,
        )
        return dest

    def _fetch_batch(self, batch: list[str], out: BinaryIO) -> set[str]:
        """Append one batch to ``out``; returns the keys (ACC and ACC.V) of the records received.

        A 404/400 for a batch of several accessions may be caused by one of them, so the batch is
        split in halves until the unknown ones are isolated.
        """
        url = f"{self.base_url}/fasta/{','.join(batch)}"
        start = out.tell()

        def attempt() -> set[str] | None:
            out.seek(start)
            out.truncate()
            try:
                response = http_get(url, timeout=self.timeout)
            except urllib.error.HTTPError as exc:
                if exc.code in (400, 404):
                    exc.close()
                    return None
                raise
            with response:
                return _copy_fasta(response, out)

        keys = with_retries(url, attempt, retries=self.retries, backoff=self.backoff)
        if keys is not None:
            return keys
        if len(batch) == 1:
            logger.info("%s: not found", url)
            return set()
        middle = len(batch) // 2
        return self._fetch_batch(batch[:middle], out) | self._fetch_batch(batch[middle:], out)

    # ---------------------------------------------------------------------------- metadata

    def fetch_metadata(
        self,
        accessions: Sequence[str],
        *,
        fields: Sequence[str] = DEFAULT_FIELDS,
        on_missing: OnMissing = "error",
    ) -> list[dict[str, str]]:
        """Metadata rows of ``accessions`` from the Portal API (``result=sequence``).

        The Portal API keys sequences by accession without version, so versions are ignored for
        the look-up; ``accession`` is always among the fields.

        :returns: one dict per row found, in the server's order (values are strings, empty when
            the field is not set).
        :raises MissingAccessionsError: unknown accessions, with ``on_missing="error"``.
        """
        wanted = validate_accessions(accessions)
        portal = self._portal()
        fields = ["accession", *(f for f in fields if f != "accession")]
        rows: list[dict[str, str]] = []
        for start in range(0, len(wanted), self.batch_size):
            batch = [acc.split(".")[0] for acc in wanted[start : start + self.batch_size]]
            query = " OR ".join(f'accession="{acc}"' for acc in dict.fromkeys(batch))
            rows += self.search(query, fields=fields)
        returned = {row.get("accession", "").upper() for row in rows}
        missing = [acc for acc in wanted if acc.split(".")[0] not in returned]
        if missing:
            self._report_missing(missing, len(wanted), portal, on_missing)
        return rows

    def search(
        self,
        query: str,
        *,
        result: str = "sequence",
        fields: Sequence[str] = DEFAULT_FIELDS,
        limit: int = 0,
    ) -> list[dict[str, str]]:
        """Run a Portal API search and return its TSV rows as dicts.

        :param query: Portal API query, e.g. ``country="Germany" AND collection_date>=2024-01-01``.
        :param limit: maximum rows; 0 means all (as in the Portal API).
        :raises DownloadError: the server rejected the query (its message is included).
        """
        params = {
            "result": result,
            "query": query,
            "fields": ",".join(fields),
            "format": "tsv",
            "limit": str(limit),
        }
        url = f"{self._portal()}/search?{urllib.parse.urlencode(params)}"

        def attempt() -> str:
            with http_get(url, timeout=self.timeout) as response:
                body = response.read()
                length = response.headers.get("Content-Length")
            if length and length.isdigit() and len(body) != int(length):
                raise TransientError(f"body ended at byte {len(body)} of {length}")
            return body.decode("utf-8")

        text = with_retries(url, attempt, retries=self.retries, backoff=self.backoff)
        if not text.strip():
            return []
        reader = csv.DictReader(io.StringIO(text), delimiter="\t")
        return [{key: value or "" for key, value in row.items()} for row in reader]

    # ---------------------------------------------------------------------------- helpers

    def _portal(self) -> str:
        if not self.portal_url:
            raise DownloadError(
                "no Portal API URL configured",
                hint="Pass portal_url (config: EMGSONAR_ENA__PORTAL_API_URL)",
            )
        return self.portal_url

    @staticmethod
    def _report_missing(missing: list[str], total: int, where: str, on_missing: OnMissing) -> None:
        listed = ", ".join(missing)
        if on_missing == "warn":
            logger.warning(
                "%s: %d of %d accessions not found: %s", where, len(missing), total, listed
            )
            return
        raise MissingAccessionsError(
            f"{len(missing)} of {total} accessions not found: {listed}",
            path=where,
            hint="Check the accessions; ENA may not have made them public yet",
            missing=tuple(missing),
        )


def _check_base_url(url: str | None, name: str) -> str:
    parts = urllib.parse.urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputFormatError(
            f"{name} must be an http(s):// URL",
            value=url,
            hint="Set it in the config, e.g. https://www.ebi.ac.uk/ena/browser/api",
        )
    return (url or "").rstrip("/")


def _copy_fasta(response: http.client.HTTPResponse, out: BinaryIO) -> set[str]:
    """Stream a FASTA body into ``out``, collecting the accessions named in its headers.

    ENA headers are ``>ENA|ACC|ACC.V description``; a plain ``>ACC.V description`` (other
    servers) is understood too. Both ``ACC`` and ``ACC.V`` are returned, so a request with or
    without version can be matched.
    """
    keys: set[str] = set()
    received = 0
    last = b"\n"
    for line in response:
        received += len(line)
        if line.startswith(b">"):
            token = (
                line[1:].split(maxsplit=1)[0].decode("ascii", "replace") if line[1:].strip() else ""
            )
            fields = token.split("|")
            versioned = fields[2] if len(fields) >= 3 and fields[0] == "ENA" else fields[-1]
            keys.add(versioned.upper())
            keys.add(versioned.split(".")[0].upper())
        out.write(line)
        last = line
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and received != int(length):
        raise TransientError(f"body ended at byte {received} of {length}")
    if not last.endswith(b"\n"):
        out.write(b"\n")
    return keys
