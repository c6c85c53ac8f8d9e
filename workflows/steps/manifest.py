"""What ``split`` hands to the later steps: the records and chunks of an import.

The manifest is written as ``manifest.json`` next to the chunks, so every task reads it by path
(tasks pass paths and plain data, never ORM objects).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from analyses.calling.types import SequenceResult
from analyses.results_io import read_results, write_atomic
from emgsonar.errors import InputFormatError


class ImportRecord(NamedTuple):
    """One FASTA record of an import: its name, its sample, its content."""

    record_name: str
    sample_name: str
    seqhash: str
    length: int


@dataclass
class ChunkInfo:
    """One chunk of an import.

    :param fasta: the chunk's FASTA (new sequences only), named by :attr:`key`, ``None`` when
        every sequence of its records is aligned already (then there is nothing to align).
    :param results: where ``align_chunk`` writes (and the loader reads) its results.
    :param seqhashes: the sequences in ``fasta``, in file order.
    :param records: every record the chunk loads (all records of its sequences, and records
        whose sequence is aligned already).
    :param key: :func:`chunk_key` of the chunk's sequences (set by ``split`` once the chunk is
        complete; ``""`` for a chunk with nothing to align). Later steps find a chunk by this
        key, never by its position: the index only says where it came in this run's split.
    """

    index: int
    fasta: str | None
    results: str
    seqhashes: list[str] = field(default_factory=list)
    records: list[ImportRecord] = field(default_factory=list)
    key: str = ""

    @property
    def needs_alignment(self) -> bool:
        return self.fasta is not None


@dataclass
class SplitManifest:
    """What :func:`split_fasta` found and wrote (also written as ``manifest.json``)."""

    reference_id: int
    reference_accession: str
    source: str
    records: int
    distinct_sequences: int
    new_sequences: int
    already_aligned: int
    chunks: list[ChunkInfo]
    #: bad records skipped under the ``warn``/``silent`` policy: (record, reason)
    rejected: list[tuple[str, str]] = field(default_factory=list)

    def all_records(self) -> list[ImportRecord]:
        return [rec for chunk in self.chunks for rec in chunk.records]

    def chunk(self, key: str, index: int) -> ChunkInfo:
        """The chunk with content key ``key`` (a chunk with nothing to align: by ``index``).

        By key, because a job found for a chunk (re-attached, reused) is matched to the chunk
        by its content: whatever position the chunk had in an earlier run's split.

        :raises InputFormatError: no such chunk in this manifest (it was rewritten by another
            split since the job was planned).
        """
        for chunk in self.chunks:
            if (chunk.key == key) if key else (chunk.index == index and not chunk.key):
                return chunk
        raise InputFormatError(
            f"the manifest has no chunk {key[:16] or f'#{index}'} (rewritten by another split)",
            hint="Run the import again",
        )

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["chunks"] = [
            {**chunk.__dict__, "records": [list(r) for r in chunk.records]} for chunk in self.chunks
        ]
        data["rejected"] = [list(r) for r in self.rejected]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SplitManifest:
        values = dict(data)
        values["chunks"] = [
            ChunkInfo(
                index=c["index"],
                fasta=c["fasta"],
                results=c["results"],
                seqhashes=list(c["seqhashes"]),
                records=[ImportRecord(*r) for r in c["records"]],
                key=c.get("key", ""),
            )
            for c in data["chunks"]
        ]
        values["rejected"] = [tuple(r) for r in data.get("rejected", [])]
        return cls(**values)

    def write(self, path: Path) -> None:
        write_atomic(Path(path), [json.dumps(self.to_json(), separators=(",", ":"))])

    @classmethod
    def read(cls, path: Path) -> SplitManifest:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def chunk_key(chunk: ChunkInfo) -> str:
    """A content key of a chunk (its sequences): equal keys, equal alignment work."""
    return hashlib.sha256("\n".join(chunk.seqhashes).encode()).hexdigest()


def read_chunk_results(chunk: ChunkInfo, content_hash: str | None = None) -> list[SequenceResult]:
    """Read a chunk's results and check they are the results of exactly its sequences.

    :raises InputFormatError: missing/stale/foreign results file (align the chunk again).
    """
    if chunk.fasta is None:
        return []
    _, results = read_results(Path(chunk.results), expect_content_hash=content_hash)
    got = {r.seqhash for r in results if r.seqhash}
    if got != set(chunk.seqhashes):
        raise InputFormatError(
            "results file does not match its chunk (written for other sequences)",
            path=chunk.results,
            hint="Align the chunk again",
        )
    return results
