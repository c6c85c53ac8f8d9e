"""Step ``load``: one chunk's sequences, alignments, unknown ranges, samples and records, in
ONE transaction, keeping the derived sample index exact.

``COPY`` into the tables, no per-row ORM work. Idempotent by seqhash and record name; a record
whose sequence changed is re-pointed and its old sequence garbage-collected when no record uses
it any more (:func:`ena_like.services.sample_index.collect_orphan_sequences`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

from analyses.calling.qc import qc_json
from analyses.calling.types import SequenceResult
from analyses.models import UnknownRange
from emgsonar.errors import ConflictError, InputFormatError
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
from ena_like.services.samples import insert_samples
from workflows.steps.annotate import MutationKey, annotate_chunk, mutation_key
from workflows.steps.lookups import LOOKUP_BATCH, cds_ids_by_symbol, replicon_ids_by_accession
from workflows.steps.manifest import ChunkInfo, ImportRecord, read_chunk_results


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


#: first key of the advisory locks of :func:`lock_reference` (the second is the reference id)
LOAD_LOCK_NAMESPACE = 0x656D67  # "emg"


def lock_reference(cursor: Any, reference_id: int) -> None:
    """Hold the reference's load lock until the transaction ends (commit, rollback, or the
    connection dying with a killed process).

    Two imports into one reference at once (two operators, a retry next to a stuck run) load
    chunks that share sequences, samples and the derived counts (``MutationCount``, the
    samples' mutation ids); each chunk's transaction is consistent alone, but two of them
    insert the same new sequences from the same snapshot (without the lock, one of two
    simultaneous imports of SARS-CoV-2_1000 failed with a unique violation on
    ``ena_like_sequence.seqhash``) and would compute count deltas twice. A Postgres
    advisory lock per reference around the load serialises exactly that critical section, for
    every caller (commands, deployments, tests), with no Prefect server setting, while both
    imports still download, split and align in parallel. Imports into different references
    never wait for each other.
    """
    cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOAD_LOCK_NAMESPACE, reference_id])


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
    replicon_ids = replicon_ids_by_accession(reference_id)
    cds_ids = cds_ids_by_symbol(reference_id)
    with transaction.atomic(), connection.cursor() as cursor:
        lock_reference(cursor, reference_id)
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
    for i in range(0, len(hashes), LOOKUP_BATCH):
        cursor.execute(
            f"SELECT seqhash, id FROM {SEQUENCE} WHERE seqhash = ANY(%s)",
            [hashes[i : i + LOOKUP_BATCH]],
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
    """Alignment and unknown-range rows for results without an alignment yet.

    :raises InputFormatError: a result names a replicon or CDS this reference does not have
        (results of another reference). A mutation missing from ``mutation_ids`` is a bug of
        the caller (``annotate_chunk`` was not run on these results) and raises ``KeyError``.
    """
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
        foreign = sorted({u.cds for u in result.unknown_aa if u.end > u.start} - cds_ids.keys())
        if foreign:
            raise InputFormatError(
                f"result of '{result.name}' names CDS {', '.join(foreign)}, which this "
                "reference does not have",
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
    with cursor.copy(
        f"COPY {ALIGNMENT} (id, sequence_id, replicon_id, covered, reverse_complemented, "
        "frameshift_cds, nt_mutation_ids, aa_mutation_ids, aa_parents, aligner, "
        "qc_status, qc_score, coverage, missing_data, qc, import_run_id, created) FROM STDIN"
    ) as copy:
        for alignment_id, (result, sequence_id, replicon_id) in zip(ids, todo, strict=True):
            nt_ids = [mutation_ids[mutation_key(m)] for m in result.nt_mutations]
            aa_ids = [mutation_ids[mutation_key(m)] for m in result.aa_mutations]
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
                f"[{result.covered[0][0]},{result.covered[-1][1]})" if result.covered else "empty"
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
    created = insert_samples(
        cursor, "unnest(%s::text[]) AS t(name)", [names], reference_id, import_run_id
    )
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
