"""Streaming FASTA input: compression detection, harmonisation, sequence hashes.

Shared by the calling CLI and the import pipeline, so it is general: any path, any of the
supported compressions (detected from magic bytes, never from the file name, because users
rename files), one record at a time so a million genomes never sit in memory.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from analyses.calling.compression import open_text
from analyses.calling.types import SequenceResult
from emgsonar.errors import InputFormatError

logger = logging.getLogger(__name__)

#: What to do with a bad record (rule 5 of style.md, augur's ``DataErrorMethod``).
BadRecordPolicy = Literal["error_first", "error_all", "warn", "silent"]

_IUPAC = frozenset("ACGTRYSWKMBDHVN")
_CLEAN = str.maketrans("", "", " \t\r\n-")
_MOLECULE = re.compile(r"\[molecule=([^\]\s]+)\]")


@dataclass(frozen=True)
class FastaRecord:
    """One harmonised FASTA record.

    :param id: first whitespace-separated token of the header.
    :param description: the rest of the header (may hold ``[molecule=ACC]``).
    :param sequence: upper-case IUPAC nucleotides, ``U`` read as ``T``, no gaps or whitespace.
    :param seqhash: SHA-256 hex digest of ``sequence``; identical sequences are aligned once.
    """

    id: str
    description: str
    sequence: str
    seqhash: str

    @property
    def molecule(self) -> str | None:
        """Replicon accession named in the header as ``[molecule=ACC]``, if any."""
        match = _MOLECULE.search(self.description)
        return match.group(1) if match else None


@dataclass(frozen=True)
class RawFastaRecord:
    """A record as read, before harmonisation (the CLI reports bad ones per record)."""

    id: str
    description: str
    raw: str
    #: 1-based line number of the header, for error messages
    line: int


def seqhash(sequence: str) -> str:
    """SHA-256 hex digest of a harmonised sequence."""
    return hashlib.sha256(sequence.encode("ascii")).hexdigest()


def iter_raw_fasta(path: Path) -> Iterator[RawFastaRecord]:
    """Yield FASTA records as read, one at a time.

    :raises InputFormatError: not FASTA (text before the first ``>``), empty, or a
        truncated/corrupt archive.
    """
    path = Path(path)
    header: str | None = None
    header_line = 0
    chunks: list[str] = []
    seen_any = False
    # open_text raises InputFormatError naming the file where an archive is cut or corrupt
    with open_text(path) as handle:
        for lineno, line in enumerate(handle, start=1):
            if line.startswith(">"):
                if header is not None:
                    yield _raw(header, chunks, header_line)
                header, header_line, chunks = line[1:].strip(), lineno, []
                seen_any = True
            elif header is None:
                if line.strip():
                    raise InputFormatError(
                        "not a FASTA file: text before the first '>' header",
                        path=path,
                        position=lineno,
                        hint="Give a FASTA file (records starting with '>')",
                    )
            else:
                chunks.append(line)
        if header is not None:
            yield _raw(header, chunks, header_line)
    if not seen_any:  # any other text before a header has raised above
        raise InputFormatError(
            "the file is empty (no FASTA record)",
            path=path,
            hint="Give a FASTA file (records starting with '>')",
        )


def _raw(header: str, chunks: list[str], line: int) -> RawFastaRecord:
    parts = header.split(None, 1)
    record_id = parts[0] if parts else ""
    return RawFastaRecord(record_id, parts[1] if len(parts) > 1 else "", "".join(chunks), line)


def harmonise(raw: RawFastaRecord, path: Path | None = None) -> FastaRecord:
    """Harmonise one raw record as calling.md says: upper-case, ``U``→``T``, no whitespace or ``-``.

    :raises InputFormatError: empty header, empty sequence or a non-IUPAC character (the
        message names the record and the 1-based position in the harmonised sequence).
    """
    if not raw.id:
        raise InputFormatError("FASTA header without a name", path=path, position=raw.line)
    sequence = raw.raw.translate(_CLEAN).upper().replace("U", "T")
    if not sequence:
        raise InputFormatError("empty sequence", path=path, record_id=raw.id)
    if not _IUPAC.issuperset(sequence):
        for index, char in enumerate(sequence):
            if char not in _IUPAC:
                raise InputFormatError(
                    "character is not an IUPAC nucleotide code",
                    path=path,
                    record_id=raw.id,
                    position=index + 1,
                    value=char,
                    hint="Use A, C, G, T/U, N or IUPAC ambiguity codes",
                )
    return FastaRecord(raw.id, raw.description, sequence, seqhash(sequence))


def harmonised_records(path: Path, rejected: list[SequenceResult]) -> Iterator[FastaRecord]:
    """The records of a FASTA file, harmonised, streamed; a record that cannot be harmonised
    (bad characters, empty) is appended to ``rejected`` as a result carrying the reason, so one
    bad record does not stop the file.

    :raises InputFormatError: the file itself is unreadable or not FASTA.
    """
    for raw in iter_raw_fasta(path):
        try:
            yield harmonise(raw, path)
        except InputFormatError as exc:
            name = raw.id or f"line {raw.line}"
            rejected.append(SequenceResult(name, "", None, errors=(str(exc),)))


def read_fasta(
    path: Path, *, bad_records: BadRecordPolicy = "error_first"
) -> Iterator[FastaRecord]:
    """Stream harmonised records of a (possibly compressed) FASTA file.

    :param path: plain, gzip, xz, zstandard, bzip2 or zip file (detected from magic bytes).
    :param bad_records: ``error_first`` raises at the first bad record; ``error_all`` yields the
        good records and raises one error listing every bad one at the end; ``warn`` logs and
        skips bad records; ``silent`` skips them.
    :raises InputFormatError: file-level problems always; bad records as the policy says.
    """
    path = Path(path)
    problems: list[str] = []
    for raw in iter_raw_fasta(path):
        try:
            yield harmonise(raw, path)
        except InputFormatError as exc:
            if bad_records == "error_first":
                raise
            if bad_records == "error_all":
                problems.append(str(exc))
            elif bad_records == "warn":
                logger.warning("skipping bad record: %s", exc)
    if problems:
        raise InputFormatError(
            f"{len(problems)} bad record(s): " + " | ".join(p.rstrip(".") for p in problems),
            path=path,
        )
