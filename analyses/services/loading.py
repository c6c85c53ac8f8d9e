"""From FASTA records and calling results to rows in Postgres: split, plan, annotate, load.

The import flow runs, in order (each a Prefect task; tests use :mod:`tests.helpers.load`):

1. :func:`split_fasta` streams and validates the whole FASTA (any file-level error aborts before
   a chunk appears), and writes only sequences whose ``seqhash`` is not yet aligned against the
   reference into chunk files, plus a manifest of every record (→ sample, seqhash, length);
2. :func:`plan_import` says what the import would change (new samples, records whose sequence
   would be replaced: the flow asks for confirmation then);
3. ``python -m analyses.align_chunk`` per chunk (locally or as a Slurm job) writes results;
4. :func:`annotate_chunk` upserts the chunk's distinct mutations and effects, returning ids;
5. :func:`load_chunk` writes sequences, alignments, unknown ranges, samples and records in ONE
   transaction per chunk, and keeps the derived index (``Sample.*_mutation_ids``,
   ``MutationCount``) exact through :func:`ena_like.services.sample_index.refresh_samples`.

Everything is bulk: ``COPY`` through psycopg 3 into the tables or into temporary tables merged
with one set-based statement; no per-row ORM work, no N+1. Loading is idempotent by seqhash and
record name: the same files again change no row. A record whose sequence changed is re-pointed
and its old sequence garbage-collected when no record uses it any more.

Keys of the mutation id map returned by :func:`annotate_chunk`:
``("nt", replicon_accession, start, end, ref, alt)`` and ``("aa", cds_symbol, start, end, ref,
alt)`` (0-based half-open, as stored).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from django.db import connection, transaction

from analyses.calling.qc import qc_json
from analyses.calling.reference import CdsSpec, GeneSpec, ReferenceSpec, RepliconSpec, Segment
from analyses.calling.seqio import BadRecordPolicy, harmonise, iter_raw_fasta
from analyses.calling.types import NT_DELETION, NT_INSERTION, SequenceResult
from analyses.models import (
    AminoAcidMutation,
    Cds,
    CdsSegment,
    Gene,
    MutationEffect,
    MutationKind,
    NucleotideMutation,
    Reference,
    Replicon,
    UnknownRange,
)
from analyses.results_io import read_results, write_atomic
from emgsonar.errors import ConflictError, InputFormatError, NotFoundError
from emgsonar.versions import tool_versions
from ena_like.services.sample_index import (
    ALIGNMENT,
    RECORD,
    REPLICON,
    SAMPLE,
    SEQUENCE,
    UNKNOWN,
    collect_orphan_sequences,
    refresh_samples,
    tracked_coverage,
)

logger = logging.getLogger(__name__)

NT = NucleotideMutation._meta.db_table
AA = AminoAcidMutation._meta.db_table
EFFECT = MutationEffect._meta.db_table
_LOOKUP_BATCH = 5000

#: ``("nt", replicon, start, end, ref, alt)`` or ``("aa", cds, start, end, ref, alt)``
MutationKey = tuple[str, str, int, int, str, str]


class ImportRecord(NamedTuple):
    """One FASTA record of an import: its name, its sample, its content."""

    record_name: str
    sample_name: str
    seqhash: str
    length: int


# --- reference -------------------------------------------------------------------------------


def reference_spec_from_db(reference_id: int) -> ReferenceSpec:
    """Rebuild the calling engine's reference from the rows ``import_reference`` wrote.

    Genes and CDS come back in file order (their ids), CDS segments in translation order.
    Not stored, hence not restored: source file paths and the CDS partial flags (the engine
    does not use them); a gene row the importer created for a CDS without ``gene`` feature
    comes back as a gene.

    :raises NotFoundError: no such reference.
    """
    reference = Reference.objects.filter(pk=reference_id).first()
    if reference is None:
        raise NotFoundError(f"no reference with id {reference_id}")
    replicons = list(Replicon.objects.filter(reference_id=reference_id).order_by("position"))
    ids = [r.pk for r in replicons]
    genes: dict[int, list[GeneSpec]] = {i: [] for i in ids}
    for g in Gene.objects.filter(replicon_id__in=ids).order_by("id"):
        genes[g.replicon_id].append(
            GeneSpec(g.symbol, g.locus_tag or None, g.description or None, g.start, g.end, g.strand)
        )
    segments: dict[int, list[Segment]] = {}
    for s in CdsSegment.objects.filter(cds__replicon_id__in=ids).order_by("cds_id", "order"):
        segments.setdefault(s.cds_id, []).append(Segment(s.start, s.end, s.strand))
    accession_of = {r.pk: r.accession for r in replicons}
    cds: dict[int, list[CdsSpec]] = {i: [] for i in ids}
    for c in Cds.objects.filter(replicon_id__in=ids).select_related("gene").order_by("id"):
        cds[c.replicon_id].append(
            CdsSpec(
                symbol=c.symbol,
                gene_symbol=c.gene.symbol if c.gene else None,
                locus_tag=c.locus_tag or None,
                protein_id=c.protein_id or None,
                product=c.product or None,
                strand=c.strand,
                segments=tuple(segments.get(c.pk, ())),
                translation=c.translation,
                transl_table=c.transl_table,
                codon_start=c.codon_start,
                replicon=accession_of[c.replicon_id],
            )
        )
    organism = reference.organism or None
    return ReferenceSpec(
        accession=reference.accession,
        description=reference.description,
        organism=organism,
        replicons=tuple(
            RepliconSpec(
                accession=r.accession,
                description=r.description,
                organism=organism,
                molecule_type=r.molecule_type or None,
                topology=r.topology or None,
                sequence=r.sequence,
                genes=tuple(genes[r.pk]),
                cds=tuple(cds[r.pk]),
                length=r.length,
            )
            for r in replicons
        ),
        content_hash=reference.content_hash,
    )


def _replicon_ids(reference_id: int) -> dict[str, int]:
    return dict(Replicon.objects.filter(reference_id=reference_id).values_list("accession", "id"))


def _cds_ids(reference_id: int) -> dict[str, int]:
    return dict(Cds.objects.filter(replicon__reference_id=reference_id).values_list("symbol", "id"))


def _aligned(cursor, reference_id: int, seqhashes: Sequence[str]) -> set[str]:
    """The seqhashes among ``seqhashes`` with an alignment against this reference."""
    found: set[str] = set()
    for i in range(0, len(seqhashes), _LOOKUP_BATCH):
        cursor.execute(
            f"SELECT q.seqhash FROM {SEQUENCE} q WHERE q.seqhash = ANY(%s) AND EXISTS ("
            f"SELECT 1 FROM {ALIGNMENT} a JOIN {REPLICON} r ON r.id = a.replicon_id "
            "WHERE a.sequence_id = q.id AND r.reference_id = %s)",
            [list(seqhashes[i : i + _LOOKUP_BATCH]), reference_id],
        )
        found.update(row[0] for row in cursor.fetchall())
    return found


# --- split -----------------------------------------------------------------------------------


@dataclass
class ChunkInfo:
    """One chunk of an import.

    :param fasta: the chunk's FASTA (new sequences only), ``None`` when every sequence of its
        records is aligned already (then there is nothing to align).
    :param results: where ``align_chunk`` writes (and the loader reads) its results.
    :param seqhashes: the sequences in ``fasta``, in file order.
    :param records: every record the chunk loads (all records of its sequences, and records
        whose sequence is aligned already).
    """

    index: int
    fasta: str | None
    results: str
    seqhashes: list[str] = field(default_factory=list)
    records: list[ImportRecord] = field(default_factory=list)

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
        for chunk in chunks:  # validated: make the chunks visible
            if chunk.fasta is not None:
                os.replace(staging / Path(chunk.fasta).name, chunk.fasta)
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
            aligned = _aligned(cursor, self.reference_id, unknown)
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


def chunk_key(chunk: ChunkInfo) -> str:
    """A content key of a chunk (its sequences): equal keys, equal alignment work."""
    return hashlib.sha256("\n".join(chunk.seqhashes).encode()).hexdigest()


# --- plan ------------------------------------------------------------------------------------


@dataclass
class ImportPlan:
    """What loading ``records`` would do; computed without writing.

    :param replaced: sample name → record names whose stored sequence differs from the new one
        (the flow asks for confirmation before replacing).
    :param moved: record name → (old sample, new sample) for records that change sample.
    :param conflicts: samples that exist under another reference (they cannot be loaded).
    """

    new_samples: list[str] = field(default_factory=list)
    existing_samples: list[str] = field(default_factory=list)
    new_records: list[str] = field(default_factory=list)
    unchanged_records: list[str] = field(default_factory=list)
    replaced: dict[str, list[str]] = field(default_factory=dict)
    moved: dict[str, tuple[str, str]] = field(default_factory=dict)
    to_align: list[str] = field(default_factory=list)
    already_aligned: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    @property
    def replaced_samples(self) -> list[str]:
        """Samples whose sequences would be replaced (what the operator confirms)."""
        return sorted(set(self.replaced) | {new for _, new in self.moved.values()})

    @property
    def needs_confirmation(self) -> bool:
        return bool(self.replaced or self.moved)

    def as_dict(self) -> dict[str, Any]:
        return {
            "new_samples": len(self.new_samples),
            "existing_samples": len(self.existing_samples),
            "new_records": len(self.new_records),
            "unchanged_records": len(self.unchanged_records),
            "replaced_samples": self.replaced_samples,
            "moved_records": {k: list(v) for k, v in self.moved.items()},
            "sequences_to_align": len(self.to_align),
            "sequences_already_aligned": len(self.already_aligned),
            "conflicts": self.conflicts,
        }


def plan_import(reference_id: int, records: Iterable[ImportRecord | Sequence[Any]]) -> ImportPlan:
    """Compare an import's records with what is stored.

    :param records: ``(record_name, sample_name, seqhash, length)`` per FASTA record.
    """
    recs = [ImportRecord(*r) for r in records]
    plan = ImportPlan()
    names = [r.record_name for r in recs]
    samples = sorted({r.sample_name for r in recs})
    stored_records: dict[str, tuple[str, str]] = {}
    stored_samples: dict[str, int | None] = {}
    with connection.cursor() as cursor:
        for i in range(0, len(names), _LOOKUP_BATCH):
            cursor.execute(
                f"SELECT ss.name, s.name, q.seqhash FROM {RECORD} ss "
                f"JOIN {SAMPLE} s ON s.id = ss.sample_id "
                f"JOIN {SEQUENCE} q ON q.id = ss.sequence_id "
                "WHERE ss.name = ANY(%s)",
                [names[i : i + _LOOKUP_BATCH]],
            )
            stored_records.update((row[0], (row[1], row[2])) for row in cursor.fetchall())
        for i in range(0, len(samples), _LOOKUP_BATCH):
            cursor.execute(
                f"SELECT name, reference_id FROM {SAMPLE} WHERE name = ANY(%s)",
                [samples[i : i + _LOOKUP_BATCH]],
            )
            stored_samples.update(cursor.fetchall())
        hashes = sorted({r.seqhash for r in recs})
        aligned = _aligned(cursor, reference_id, hashes)
    plan.already_aligned = sorted(aligned)
    plan.to_align = [h for h in hashes if h not in aligned]
    for name in samples:
        if name not in stored_samples:
            plan.new_samples.append(name)
        elif stored_samples[name] not in (None, reference_id):
            plan.conflicts.append(name)
        else:
            plan.existing_samples.append(name)
    for rec in recs:
        stored = stored_records.get(rec.record_name)
        if stored is None:
            plan.new_records.append(rec.record_name)
            continue
        old_sample, old_hash = stored
        if old_sample != rec.sample_name:
            plan.moved[rec.record_name] = (old_sample, rec.sample_name)
        elif old_hash != rec.seqhash:
            plan.replaced.setdefault(rec.sample_name, []).append(rec.record_name)
        else:
            plan.unchanged_records.append(rec.record_name)
    return plan


# --- annotate --------------------------------------------------------------------------------

_KIND = {"substitution": MutationKind.SUBSTITUTION.value, "ambiguous": "sub"}
_KIND.update({NT_DELETION: MutationKind.DELETION.value, NT_INSERTION: MutationKind.INSERTION.value})
_AA_KIND = {"substitution": "sub", "deletion": "del", "insertion": "ins"}


def _nt_label(label: str, replicon: str) -> str:
    """The stored label has no replicon prefix (multi-replicon results carry one)."""
    prefix = f"{replicon}:"
    return label[len(prefix) :] if label.startswith(prefix) else label


def annotate_chunk(
    reference_id: int, results: Iterable[SequenceResult], import_run_id: int | None = None
) -> dict[MutationKey, int]:
    """Upsert the distinct NT and AA mutations of a chunk (and the effects of new NT ones).

    ``COPY`` into a temporary table, ``INSERT ... ON CONFLICT DO NOTHING``, select back: one
    round trip per table whatever the chunk size, and safe against a concurrent chunk creating
    the same mutation. Effects are written for mutations this call created; a known mutation
    keeps the effects it was first annotated with.

    :returns: mutation key → id (see the module docstring for the keys).
    :raises InputFormatError: a result names a replicon or CDS the reference does not have.
    """
    replicon_ids = _replicon_ids(reference_id)
    cds_ids = _cds_ids(reference_id)
    gene_cds = dict(
        Cds.objects.filter(replicon__reference_id=reference_id, gene__isnull=False)
        .order_by("-id")
        .values_list("gene__symbol", "id")
    )
    nt_seen: dict[MutationKey, Any] = {}
    aa_seen: dict[MutationKey, Any] = {}
    for result in results:
        if result.errors:
            continue
        for m in result.nt_mutations:
            nt_seen.setdefault(("nt", m.replicon, m.start, m.end, m.ref, m.alt), m)
        for m in result.aa_mutations:
            aa_seen.setdefault(("aa", m.cds, m.start, m.end, m.ref, m.alt), m)
    unknown = sorted({k[1] for k in nt_seen if k[1] not in replicon_ids})
    unknown_cds = sorted({k[1] for k in aa_seen if k[1] not in cds_ids})
    if unknown or unknown_cds:
        raise InputFormatError(
            "results do not belong to this reference: unknown "
            + ", ".join([*(f"replicon {r}" for r in unknown), *(f"CDS {c}" for c in unknown_cds)]),
            hint="Align the chunk again against this reference",
        )
    ids: dict[MutationKey, int] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        nt_rows = [
            (replicon_ids[k[1]], _KIND.get(m.kind, "sub"), k[2], k[3], k[4], k[5],
             _nt_label(m.label, k[1]))
            for k, m in nt_seen.items()
        ]  # fmt: skip
        new_nt = _upsert_mutations(cursor, NT, "replicon_id", nt_rows, import_run_id)
        accession_of = {v: k for k, v in replicon_ids.items()}
        for (owner, start, end, ref, alt), mutation_id in new_nt[1].items():
            ids[("nt", accession_of[owner], start, end, ref, alt)] = mutation_id
        aa_rows = [
            (cds_ids[k[1]], _AA_KIND.get(m.kind, "sub"), k[2], k[3], k[4], k[5], m.label)
            for k, m in aa_seen.items()
        ]
        new_aa = _upsert_mutations(cursor, AA, "cds_id", aa_rows, import_run_id)
        symbol_of = {v: k for k, v in cds_ids.items()}
        for (owner, start, end, ref, alt), mutation_id in new_aa[1].items():
            ids[("aa", symbol_of[owner], start, end, ref, alt)] = mutation_id
        effects: dict[tuple[int, int | None, str], str] = {}
        for key in new_nt[0]:
            mutation_id = ids[("nt", accession_of[key[0]], *key[1:])]
            for effect in nt_seen[("nt", accession_of[key[0]], *key[1:])].effects:
                cds_id = None
                if effect.cds is not None:
                    cds_id = cds_ids.get(effect.cds) or gene_cds.get(effect.cds)
                effects.setdefault((mutation_id, cds_id, effect.so_term), effect.impact)
        if effects:
            with cursor.copy(
                f"COPY {EFFECT} (mutation_id, cds_id, seq_ontology, impact) FROM STDIN"
            ) as copy:
                for (mutation_id, cds_id, term), impact in sorted(
                    effects.items(), key=lambda item: (item[0][0], item[0][1] or 0, item[0][2])
                ):
                    copy.write_row((mutation_id, cds_id, term, impact))
    return ids


def _upsert_mutations(
    cursor, table: str, owner: str, rows: list[tuple], import_run_id: int | None
) -> tuple[set[tuple], dict[tuple, int]]:
    """Insert missing mutations; return (keys created, key → id for all ``rows``).

    Keys are ``(owner id, start, end, ref, alt)``.
    """
    if not rows:
        return set(), {}
    tmp = f"tmp_{table}"
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {tmp} (owner bigint, kind varchar(3), start int, "
        '"end" int, ref text, alt text, label text) ON COMMIT DROP'
    )
    cursor.execute(f"TRUNCATE {tmp}")
    with cursor.copy(f'COPY {tmp} (owner, kind, start, "end", ref, alt, label) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)
    cursor.execute(
        f'INSERT INTO {table} ({owner}, kind, start, "end", ref, alt, label, first_seen_run_id) '
        f'SELECT owner, kind, start, "end", ref, alt, label, %s FROM {tmp} '
        'ORDER BY owner, start, "end", ref, alt '
        f'ON CONFLICT ({owner}, start, "end", ref, alt) DO NOTHING '
        f'RETURNING {owner}, start, "end", ref, alt',
        [import_run_id],
    )
    created = {tuple(row) for row in cursor.fetchall()}
    cursor.execute(
        f'SELECT m.{owner}, m.start, m."end", m.ref, m.alt, m.id FROM {table} m JOIN {tmp} t '
        f'ON m.{owner} = t.owner AND m.start = t.start AND m."end" = t."end" '
        "AND m.ref = t.ref AND m.alt = t.alt"
    )
    return created, {tuple(row[:5]): row[5] for row in cursor.fetchall()}


# --- load ------------------------------------------------------------------------------------


@dataclass
class LoadStats:
    """What :func:`load_chunk` did."""

    records: int = 0
    records_new: int = 0
    records_replaced: int = 0
    records_unchanged: int = 0
    samples_created: int = 0
    samples_changed: int = 0
    sequences_new: int = 0
    alignments_new: int = 0
    sequences_collected: int = 0
    counts_changed: int = 0
    #: records not loaded: (record name, reason)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["failed"] = [list(f) for f in self.failed]
        return data

    def add(self, other: LoadStats) -> None:
        for name, value in other.__dict__.items():
            if name == "failed":
                self.failed.extend(value)
            else:
                setattr(self, name, getattr(self, name) + value)


@functools.cache
def _aligner_version() -> str:
    """minimap2 as bundled by mappy, from the versions every import run records."""
    return f"minimap2/mappy {tool_versions()['mappy']}"


def _reserve_ids(cursor, table: str, count: int) -> list[int]:
    cursor.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
        [table, count],
    )
    return [row[0] for row in cursor.fetchall()]


def _ranges(ranges: Iterable[tuple[int, int]]) -> Iterable[str]:
    return (f"[{a},{b})" for a, b in ranges if b > a)


def _array(values: Iterable[object]) -> str:
    return "{" + ",".join(map(str, values)) + "}"


def load_chunk(
    reference_id: int,
    records: Iterable[ImportRecord | Sequence[Any]],
    results: Iterable[SequenceResult],
    mutation_ids: Mapping[MutationKey, int],
    import_run_id: int | None = None,
) -> LoadStats:
    """Load one chunk in ONE transaction.

    :param records: every record the chunk loads (see :class:`ChunkInfo`).
    :param results: calls of the chunk's new sequences (by seqhash; records whose sequence is
        aligned already need none).
    :param mutation_ids: from :func:`annotate_chunk` on the same results.
    :returns: counts, and the records not loaded with the reason (never dropped silently).
    """
    recs = [ImportRecord(*r) for r in records]
    stats = LoadStats(records=len(recs))
    good: dict[str, SequenceResult] = {}
    failed_hash: dict[str, str] = {}
    for result in results:
        if result.errors or result.replicon is None:
            failed_hash.setdefault(result.seqhash, "; ".join(result.errors) or "not called")
        else:
            good.setdefault(result.seqhash, result)
    length_of = {r.seqhash: r.length for r in recs}
    good = {h: r for h, r in good.items() if h in length_of}  # only what a record uses
    replicon_ids = _replicon_ids(reference_id)
    cds_ids = _cds_ids(reference_id)
    with transaction.atomic(), connection.cursor() as cursor:
        seq_ids = _load_sequences(cursor, good, length_of, recs, import_run_id, stats)
        _load_alignments(
            cursor, good, seq_ids, replicon_ids, cds_ids, mutation_ids, import_run_id, stats
        )
        aligned = _aligned_ids(cursor, reference_id, seq_ids)
        loadable: list[ImportRecord] = []
        for rec in recs:
            if rec.seqhash in failed_hash:
                stats.failed.append((rec.record_name, failed_hash[rec.seqhash]))
            elif seq_ids.get(rec.seqhash) not in aligned:
                stats.failed.append(
                    (rec.record_name, "sequence is not aligned against this reference; "
                     "align its chunk again")
                )  # fmt: skip
            else:
                loadable.append(rec)
        sample_ids = _load_samples(cursor, reference_id, loadable, import_run_id, stats)
        touched, old_sequences = _load_records(
            cursor, loadable, sample_ids, seq_ids, import_run_id, stats
        )
        index = refresh_samples(cursor, touched, import_run_id)
        stats.samples_changed = index.samples_changed
        stats.counts_changed = index.counts_changed
        stats.sequences_collected = collect_orphan_sequences(cursor, old_sequences)
    return stats


def _load_sequences(
    cursor,
    good: Mapping[str, SequenceResult],
    length_of: Mapping[str, int],
    recs: list[ImportRecord],
    import_run_id: int | None,
    stats: LoadStats,
) -> dict[str, int]:
    """Sequence rows for the new results; returns seqhash → id for every record's sequence."""
    hashes = sorted({r.seqhash for r in recs} | set(good))
    seq_ids: dict[str, int] = {}
    for i in range(0, len(hashes), _LOOKUP_BATCH):
        cursor.execute(
            f"SELECT seqhash, id FROM {SEQUENCE} WHERE seqhash = ANY(%s)",
            [hashes[i : i + _LOOKUP_BATCH]],
        )
        seq_ids.update(cursor.fetchall())
    new = sorted(h for h in good if h not in seq_ids)
    if new:
        ids = _reserve_ids(cursor, SEQUENCE, len(new))
        now = _now(cursor)  # before COPY: no other statement may run while COPY is open
        with cursor.copy(
            f"COPY {SEQUENCE} (id, seqhash, length, created, created_by_run_id) FROM STDIN"
        ) as copy:
            for seq_id, seqhash in zip(ids, new, strict=True):
                copy.write_row((seq_id, seqhash, length_of[seqhash], now, import_run_id))
                seq_ids[seqhash] = seq_id
        stats.sequences_new = len(new)
    return seq_ids


def _now(cursor) -> Any:
    cursor.execute("SELECT now()")
    return cursor.fetchone()[0]


def _load_alignments(
    cursor,
    good: Mapping[str, SequenceResult],
    seq_ids: Mapping[str, int],
    replicon_ids: Mapping[str, int],
    cds_ids: Mapping[str, int],
    mutation_ids: Mapping[MutationKey, int],
    import_run_id: int | None,
    stats: LoadStats,
) -> None:
    """Alignment and unknown-range rows for results without an alignment yet."""
    if not good:
        return
    cursor.execute(
        f"SELECT sequence_id, replicon_id FROM {ALIGNMENT} WHERE sequence_id = ANY(%s)",
        [sorted(seq_ids[h] for h in good)],
    )
    existing = set(cursor.fetchall())
    todo = []
    for seqhash in sorted(good):
        result = good[seqhash]
        replicon_id = replicon_ids.get(result.replicon or "")
        if replicon_id is None:
            raise InputFormatError(
                f"result of '{result.name}' names replicon {result.replicon}, which is not "
                "part of this reference",
                hint="Align the chunk again against this reference",
            )
        if (seq_ids[seqhash], replicon_id) not in existing:
            todo.append((result, seq_ids[seqhash], replicon_id))
    if not todo:
        return
    ids = _reserve_ids(cursor, ALIGNMENT, len(todo))
    now = _now(cursor)
    aligner = _aligner_version()
    unknown_rows: list[tuple[int, str, int | None, str]] = []
    try:
        with cursor.copy(
            f"COPY {ALIGNMENT} (id, sequence_id, replicon_id, covered, reverse_complemented, "
            "frameshift_cds, nt_mutation_ids, aa_mutation_ids, aa_parents, aligner, "
            "qc_status, qc_score, coverage, missing_data, qc, import_run_id, created) FROM STDIN"
        ) as copy:
            for alignment_id, (result, sequence_id, replicon_id) in zip(ids, todo, strict=True):
                nt_ids = [
                    mutation_ids[("nt", m.replicon, m.start, m.end, m.ref, m.alt)]
                    for m in result.nt_mutations
                ]
                aa_ids = [
                    mutation_ids[("aa", m.cds, m.start, m.end, m.ref, m.alt)]
                    for m in result.aa_mutations
                ]
                parents: dict[str, list[int]] = {}
                for aa_id, m in zip(aa_ids, result.aa_mutations, strict=True):
                    linked = parents.setdefault(str(aa_id), [])
                    linked.extend(nt_ids[i] for i in m.parents)
                aa_parents = {k: sorted(set(v)) for k, v in sorted(parents.items(), key=_int_key)}
                frameshift = sorted(
                    {
                        e.cds
                        for m in result.nt_mutations
                        if m.frameshift
                        for e in m.effects
                        if e.cds and e.so_term == "frameshift_variant"
                    }
                )
                covered = (
                    f"[{result.covered[0][0]},{result.covered[-1][1]})"
                    if result.covered
                    else "empty"
                )
                copy.write_row(
                    (
                        alignment_id,
                        sequence_id,
                        replicon_id,
                        covered,
                        result.reverse_complemented,
                        _array(frameshift),
                        _array(sorted(set(nt_ids))),
                        _array(sorted(set(aa_ids))),
                        json.dumps(aa_parents, separators=(",", ":")),
                        # which preset aligned it: the sensitive fallback marks divergent records
                        f"{aligner} {result.aligner_preset}",
                        *_qc_cells(result),
                        import_run_id,
                        now,
                    )
                )
                unknown_rows.extend(
                    (alignment_id, UnknownRange.Level.NUCLEOTIDE.value, None, span)
                    for span in _ranges(result.missing)
                )
                unknown_rows.extend(
                    (
                        alignment_id,
                        UnknownRange.Level.AMINO_ACID.value,
                        cds_ids[u.cds],
                        f"[{u.start},{u.end})",
                    )
                    for u in result.unknown_aa
                    if u.end > u.start
                )
    except KeyError as exc:
        raise InputFormatError(
            f"a mutation or CDS of the results has no id ({exc}); annotate the chunk first",
            hint="Call annotate_chunk with the same results before load_chunk",
        ) from exc
    stats.alignments_new = len(todo)
    if unknown_rows:
        with cursor.copy(f"COPY {UNKNOWN} (alignment_id, level, cds_id, span) FROM STDIN") as copy:
            for row in unknown_rows:
                copy.write_row(row)


def _qc_cells(result: SequenceResult) -> tuple[Any, ...]:
    """``qc_status, qc_score, coverage, missing_data, qc`` of an alignment row (NULLs without QC,
    e.g. results of an older engine)."""
    qc = result.qc
    if qc is None:
        return (None, None, None, None, None)
    return (
        qc.status,
        qc.score,
        qc.coverage,
        qc.missing_data,
        json.dumps(qc_json(qc), separators=(",", ":")),
    )


def _int_key(item: tuple[str, Any]) -> int:
    return int(item[0])


def _aligned_ids(cursor, reference_id: int, seq_ids: Mapping[str, int]) -> set[int]:
    if not seq_ids:
        return set()
    cursor.execute(
        f"SELECT DISTINCT a.sequence_id FROM {ALIGNMENT} a JOIN {REPLICON} r "
        "ON r.id = a.replicon_id WHERE r.reference_id = %s AND a.sequence_id = ANY(%s)",
        [reference_id, sorted(set(seq_ids.values()))],
    )
    return {row[0] for row in cursor.fetchall()}


def _load_samples(
    cursor,
    reference_id: int,
    recs: list[ImportRecord],
    import_run_id: int | None,
    stats: LoadStats,
) -> dict[str, int]:
    """Create missing samples (under the reference); refuse samples of another reference."""
    names = sorted({r.sample_name for r in recs})
    if not names:
        return {}
    cursor.execute(
        f"INSERT INTO {SAMPLE} (name, reference_id, nt_mutation_ids, aa_mutation_ids, "
        "init_upload_date, last_update_date, created_by_run_id, updated_by_run_id) "
        "SELECT n, %s, '{}', '{}', now(), now(), %s, %s FROM unnest(%s::text[]) AS n "
        "ORDER BY n ON CONFLICT (name) DO NOTHING RETURNING id",
        [reference_id, import_run_id, import_run_id, names],
    )
    created = [row[0] for row in cursor.fetchall()]
    stats.samples_created = len(created)
    # lock in id order (as refresh_samples does) before reading what the coverage counts
    cursor.execute(f"SELECT id FROM {SAMPLE} WHERE name = ANY(%s) ORDER BY id FOR UPDATE", [names])
    locked = [row[0] for row in cursor.fetchall()]
    with tracked_coverage(cursor, locked, created):
        cursor.execute(
            f"UPDATE {SAMPLE} SET reference_id = %s WHERE id = ANY(%s) AND reference_id IS NULL",
            [reference_id, locked],
        )
    cursor.execute(f"SELECT name, id, reference_id FROM {SAMPLE} WHERE id = ANY(%s)", [locked])
    rows = cursor.fetchall()
    clashes = sorted(name for name, _, ref in rows if ref != reference_id)
    if clashes:
        raise ConflictError(
            f"{len(clashes)} sample(s) belong to another reference",
            value=clashes[:20],
            hint="Sample names are unique across references; rename or delete them first",
        )
    return {name: sample_id for name, sample_id, _ in rows}


def _load_records(
    cursor,
    recs: list[ImportRecord],
    sample_ids: Mapping[str, int],
    seq_ids: Mapping[str, int],
    import_run_id: int | None,
    stats: LoadStats,
) -> tuple[set[int], list[int]]:
    """Insert new records, re-point changed ones; returns (samples touched, old sequence ids)."""
    if not recs:
        return set(), []
    names = [r.record_name for r in recs]
    cursor.execute(
        f"SELECT name, id, sample_id, sequence_id FROM {RECORD} WHERE name = ANY(%s) "
        "ORDER BY id FOR UPDATE",
        [names],
    )
    stored = {row[0]: row[1:] for row in cursor.fetchall()}
    new_rows, changed_rows = [], []
    touched: set[int] = set()
    old_sequences: list[int] = []
    for rec in recs:
        sample_id, sequence_id = sample_ids[rec.sample_name], seq_ids[rec.seqhash]
        old = stored.get(rec.record_name)
        if old is None:
            new_rows.append((rec.record_name, sample_id, sequence_id))
            touched.add(sample_id)
        elif (old[1], old[2]) != (sample_id, sequence_id):
            changed_rows.append((old[0], sample_id, sequence_id))
            touched.update((sample_id, old[1]))
            if old[2] != sequence_id:
                old_sequences.append(old[2])
        else:
            stats.records_unchanged += 1
    now = _now(cursor) if new_rows or changed_rows else None
    if new_rows:
        with cursor.copy(
            f"COPY {RECORD} (name, sample_id, sequence_id, created, updated, updated_by_run_id) "
            "FROM STDIN"
        ) as copy:
            for name, sample_id, sequence_id in new_rows:
                copy.write_row((name, sample_id, sequence_id, now, now, import_run_id))
    if changed_rows:
        cursor.execute(
            f"UPDATE {RECORD} ss SET sample_id = c.sample_id, sequence_id = c.sequence_id, "
            "updated = now(), updated_by_run_id = %s FROM unnest(%s::bigint[], %s::bigint[], "
            "%s::bigint[]) AS c(id, sample_id, sequence_id) WHERE ss.id = c.id",
            [
                import_run_id,
                [r[0] for r in changed_rows],
                [r[1] for r in changed_rows],
                [r[2] for r in changed_rows],
            ],
        )
    stats.records_new = len(new_rows)
    stats.records_replaced = len(changed_rows)
    return touched, old_sequences


# --- one chunk from files --------------------------------------------------------------------


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


def load_chunk_files(
    reference_id: int,
    chunk: ChunkInfo,
    import_run_id: int | None = None,
    *,
    content_hash: str | None = None,
) -> LoadStats:
    """Read, annotate and load one chunk (what the flow's load task does)."""
    results = read_chunk_results(chunk, content_hash)
    ids = annotate_chunk(reference_id, results, import_run_id)
    return load_chunk(reference_id, chunk.records, results, ids, import_run_id)
