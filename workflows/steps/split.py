"""Step ``split``: validate a whole FASTA file and write chunks of the sequences still to align."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from django.db import connection

from analyses.calling.seqio import BadRecordPolicy, harmonise, iter_raw_fasta
from analyses.models import Reference
from emgsonar.errors import InputFormatError, NotFoundError
from workflows.steps.lookups import aligned_seqhashes
from workflows.steps.manifest import ChunkInfo, ImportRecord, SplitManifest, chunk_key

logger = logging.getLogger(__name__)


def validate_split_args(path: Path, out_dir: Path, chunk_size: int) -> None:
    """Check the arguments of :func:`split_fasta` before reading anything (house rule 6).

    :raises InputFormatError: missing FASTA, chunk size below 1, output dir is a file.
    """
    if not Path(path).is_file():
        raise InputFormatError("no such FASTA file", path=path)
    if chunk_size < 1:
        raise InputFormatError("chunk size must be at least 1", value=chunk_size)
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise InputFormatError("work directory is a file", path=out_dir)


def split_fasta(
    path: Path,
    out_dir: Path,
    chunk_size: int,
    reference_id: int,
    *,
    sample_of: Mapping[str, str] | None = None,
    bad_records: BadRecordPolicy = "error_all",
    chunk_dir: Path | None = None,
) -> SplitManifest:
    """Validate a whole FASTA file and write chunks of the sequences still to align.

    One streaming pass: chunk files are written into a staging directory and moved into
    ``out_dir`` only after the last record was read and checked, so any file-level error
    (truncated archive, not FASTA, duplicate record names, bad records under ``error_all``)
    leaves no chunk behind. A sequence (seqhash) is written once, whatever the number of records
    that carry it, and not at all when it is aligned against the reference already.

    :param sample_of: record id → sample name for records grouped into samples (influenza
        segments, from the metadata ``sequences`` column); other records are their own sample.
    :param bad_records: ``error_all`` (default) fails listing every bad record; ``error_first``
        fails at the first; ``warn``/``silent`` skip them (listed in ``rejected``).
    :param chunk_dir: where chunk FASTA files go (default ``out_dir``). They are named by their
        content key (:func:`~workflows.steps.manifest.chunk_key`), so a job recorded for a key
        by any run (re-attached or resubmitted from its stored spec after the submitting
        process died) reads the same sequences; a file already there is kept.
    :returns: the manifest, also written to ``out_dir/manifest.json``.
    :raises InputFormatError: file-level damage or bad records (see ``bad_records``).
    """
    path, out_dir = Path(path), Path(out_dir)
    validate_split_args(path, out_dir, chunk_size)
    reference = Reference.objects.filter(pk=reference_id).first()
    if reference is None:
        raise NotFoundError(f"no reference with id {reference_id}")
    sample_of = sample_of or {}
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".split-", dir=out_dir))
    try:
        splitter = _Splitter(path, out_dir, staging, chunk_size, reference_id, sample_of)
        problems: list[str] = []
        rejected: list[tuple[str, str]] = []
        first_line: dict[str, int] = {}
        for raw in iter_raw_fasta(path):
            if raw.id in first_line:
                problems.append(
                    f"record '{raw.id}' (line {raw.line}) occurs twice (first on line "
                    f"{first_line[raw.id]})"
                )
                continue
            first_line[raw.id] = raw.line
            try:
                record = harmonise(raw, path)
            except InputFormatError as exc:
                if bad_records == "error_first":
                    raise
                if bad_records == "error_all":
                    brief = dataclasses.replace(exc, path=None, hint=None)
                    problems.append(str(brief).rstrip("."))
                else:
                    if bad_records == "warn":
                        logger.warning("skipping bad record: %s", exc)
                    rejected.append((raw.id, str(exc)))
                continue
            if not problems:
                splitter.add(record.id, record.sequence, record.seqhash, record.description)
        if problems:
            raise InputFormatError(
                f"{len(problems)} bad record(s): " + "; ".join(problems),
                path=path,
                hint="Fix the records, or import with a policy that skips bad records",
            )
        chunks = splitter.finish()
        chunk_dir = Path(chunk_dir or out_dir)
        chunk_dir.mkdir(parents=True, exist_ok=True)
        for chunk in chunks:  # validated: make the chunks visible, named by content
            if chunk.fasta is not None:
                chunk.key = chunk_key(chunk)
                final = chunk_dir / f"chunk-{chunk.key[:32]}.fasta"
                if not final.is_file():
                    os.replace(staging / Path(chunk.fasta).name, final)
                chunk.fasta = str(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    manifest = SplitManifest(
        reference_id=reference_id,
        reference_accession=reference.accession,
        source=str(path),
        records=splitter.n_records,
        distinct_sequences=len(splitter.seen),
        new_sequences=sum(len(c.seqhashes) for c in chunks),
        already_aligned=len(splitter.aligned),
        chunks=chunks,
        rejected=rejected,
    )
    manifest.write(out_dir / "manifest.json")
    return manifest


class _Splitter:
    """Buffers records, asks the database in batches which sequences are aligned, writes chunks."""

    def __init__(
        self,
        path: Path,
        out_dir: Path,
        staging: Path,
        chunk_size: int,
        reference_id: int,
        sample_of: Mapping[str, str],
    ) -> None:
        self.path, self.out_dir, self.staging = path, out_dir, staging
        self.chunk_size, self.reference_id, self.sample_of = chunk_size, reference_id, sample_of
        self.pending: list[tuple[str, str, str, str]] = []
        self.seen: dict[str, int] = {}  # seqhash → chunk index (-1: aligned already)
        self.aligned: set[str] = set()
        self.chunks: list[ChunkInfo] = []
        self.handle = None
        self.n_records = 0

    def add(self, record_id: str, sequence: str, seqhash: str, description: str) -> None:
        self.pending.append((record_id, sequence, seqhash, description))
        self.n_records += 1
        if len(self.pending) >= 1000:
            self._flush()

    def _open_chunk(self) -> ChunkInfo:
        index = len(self.chunks) + 1
        chunk = ChunkInfo(
            index=index,
            fasta=None,
            results=str(self.out_dir / f"chunk-{index:05d}.results.jsonl"),
        )
        self.chunks.append(chunk)
        return chunk

    def _current(self) -> ChunkInfo:
        if not self.chunks:
            return self._open_chunk()
        chunk = self.chunks[-1]
        if len(chunk.seqhashes) >= self.chunk_size or len(chunk.records) >= 4 * self.chunk_size:
            self._close_fasta()
            return self._open_chunk()
        return chunk

    def _close_fasta(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def _flush(self) -> None:
        if not self.pending:
            return
        unknown = sorted({h for _, _, h, _ in self.pending if h not in self.seen})
        with connection.cursor() as cursor:
            aligned = aligned_seqhashes(cursor, self.reference_id, unknown)
        self.aligned |= aligned
        for record_id, sequence, seqhash, description in self.pending:
            record = ImportRecord(
                record_id, self.sample_of.get(record_id, record_id), seqhash, len(sequence)
            )
            where = self.seen.get(seqhash)
            if where is None:
                chunk = self._current()
                if seqhash in aligned:
                    self.seen[seqhash] = -1
                else:
                    self.seen[seqhash] = chunk.index
                    self._write(chunk, record_id, description, sequence, seqhash)
                chunk.records.append(record)
            elif where == -1:
                self._current().records.append(record)
            else:
                self.chunks[where - 1].records.append(record)
        self.pending.clear()

    def _write(
        self, chunk: ChunkInfo, record_id: str, description: str, sequence: str, seqhash: str
    ) -> None:
        if chunk.fasta is None:
            self._close_fasta()
            chunk.fasta = str(self.out_dir / f"chunk-{chunk.index:05d}.fasta")
            self.handle = (self.staging / Path(chunk.fasta).name).open("w", encoding="ascii")
        assert self.handle is not None
        header = f"{record_id} {description}".rstrip()
        self.handle.write(f">{header}\n")
        for i in range(0, len(sequence), 100):
            self.handle.write(sequence[i : i + 100])
            self.handle.write("\n")
        chunk.seqhashes.append(seqhash)

    def finish(self) -> list[ChunkInfo]:
        self._flush()
        self._close_fasta()
        return self.chunks
