"""The derived mutation index: ``Sample.nt/aa_mutation_ids`` and ``MutationCount``.

Both are pure functions of the stored records: a sample's arrays are the union of the mutation
ids of the alignments (against the sample's reference) of its records' sequences, and a count is
the number of samples whose array holds the mutation. Rather than patching them by hand in every
writer, each writer (loader, deletion) names the samples it touched and calls
:func:`refresh_samples`, which recomputes their arrays from the records, writes only the rows
that changed, and applies the exact count differences. So a replaced sequence can never leave a
stale mutation behind, and re-loading unchanged data changes no row (not even ``updated``).

All functions take a raw cursor inside the caller's transaction; samples are locked in id order
(``FOR UPDATE``) so concurrent chunk loads touching the same sample serialise instead of
overwriting each other's union, and counts are upserted in key order to avoid deadlocks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from analyses.models import Alignment, MutationCount, Replicon, UnknownRange
from ena_like.models import Sample, SampleSequence, Sequence

SAMPLE = Sample._meta.db_table
RECORD = SampleSequence._meta.db_table
SEQUENCE = Sequence._meta.db_table
ALIGNMENT = Alignment._meta.db_table
UNKNOWN = UnknownRange._meta.db_table
REPLICON = Replicon._meta.db_table
COUNT = MutationCount._meta.db_table

#: count key: (reference id, level ``nt``/``aa``, mutation id)
CountKey = tuple[int, str, int]


@dataclass
class IndexStats:
    """What a refresh changed."""

    samples_changed: int = 0
    counts_changed: int = 0


#: a locked sample as stored: (reference id, nt ids, aa ids, length)
StoredIndex = tuple[int | None, list[int], list[int], int | None]


def lock_samples(cursor, sample_ids: Collection[int]) -> dict[int, StoredIndex]:
    """Lock samples in id order; return id → (reference id, nt ids, aa ids, length) as stored."""
    if not sample_ids:
        return {}
    cursor.execute(
        f"SELECT id, reference_id, nt_mutation_ids, aa_mutation_ids, length FROM {SAMPLE} "
        "WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
        [sorted(sample_ids)],
    )
    return {row[0]: (row[1], row[2] or [], row[3] or [], row[4]) for row in cursor.fetchall()}


def refresh_samples(
    cursor, sample_ids: Collection[int], import_run_id: int | None = None
) -> IndexStats:
    """Recompute arrays and length of ``sample_ids`` from their records; fix the counts.

    :returns: how many samples and count rows changed.
    """
    stats = IndexStats()
    old = lock_samples(cursor, sample_ids)
    if not old:
        return stats
    cursor.execute(
        f"""
        SELECT ss.sample_id, q.length, a.nt_mutation_ids, a.aa_mutation_ids
        FROM {RECORD} ss
        JOIN {SAMPLE} s ON s.id = ss.sample_id
        JOIN {SEQUENCE} q ON q.id = ss.sequence_id
        LEFT JOIN {ALIGNMENT} a ON a.sequence_id = ss.sequence_id
            AND a.replicon_id IN
                (SELECT r.id FROM {REPLICON} r WHERE r.reference_id = s.reference_id)
        WHERE ss.sample_id = ANY(%s)
        """,
        [list(old)],
    )
    nt: dict[int, set[int]] = {sid: set() for sid in old}
    aa: dict[int, set[int]] = {sid: set() for sid in old}
    length: dict[int, int | None] = dict.fromkeys(old)
    for sample_id, seq_length, nt_ids, aa_ids in cursor.fetchall():
        if nt_ids:
            nt[sample_id].update(nt_ids)
        if aa_ids:
            aa[sample_id].update(aa_ids)
        length[sample_id] = (length[sample_id] or 0) + seq_length
    deltas: Counter[CountKey] = Counter()
    changed: list[tuple[int, list[int], list[int], int | None]] = []
    for sample_id, (reference_id, old_nt, old_aa, old_length) in old.items():
        new_nt, new_aa = sorted(nt[sample_id]), sorted(aa[sample_id])
        if reference_id is not None:
            _diff(deltas, reference_id, "nt", old_nt, new_nt)
            _diff(deltas, reference_id, "aa", old_aa, new_aa)
        if new_nt != list(old_nt) or new_aa != list(old_aa) or length[sample_id] != old_length:
            changed.append((sample_id, new_nt, new_aa, length[sample_id]))
    if changed:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS tmp_sample_index "
            "(id bigint, nt int4[], aa int4[], length int) ON COMMIT DROP"
        )
        cursor.execute("TRUNCATE tmp_sample_index")
        with cursor.copy("COPY tmp_sample_index (id, nt, aa, length) FROM STDIN") as copy:
            for row in changed:
                copy.write_row((row[0], _array(row[1]), _array(row[2]), row[3]))
        cursor.execute(
            f"UPDATE {SAMPLE} s SET nt_mutation_ids = t.nt, aa_mutation_ids = t.aa, "
            "length = t.length, last_update_date = now(), "
            "updated_by_run_id = COALESCE(%s, s.updated_by_run_id) "
            "FROM tmp_sample_index t WHERE s.id = t.id",
            [import_run_id],
        )
        stats.samples_changed = len(changed)
    stats.counts_changed = apply_count_deltas(cursor, deltas)
    return stats


def count_deltas_of_removal(samples: dict[int, StoredIndex]) -> Counter[CountKey]:
    """Count changes when the given (locked) samples disappear."""
    deltas: Counter[CountKey] = Counter()
    for reference_id, nt_ids, aa_ids, _length in samples.values():
        if reference_id is not None:
            _diff(deltas, reference_id, "nt", nt_ids, ())
            _diff(deltas, reference_id, "aa", aa_ids, ())
    return deltas


def apply_count_deltas(cursor, deltas: Counter[CountKey]) -> int:
    """Add ``deltas`` to ``MutationCount`` (creating rows), dropping rows that reach zero.

    :returns: number of count rows changed.
    """
    items = sorted((key, delta) for key, delta in deltas.items() if delta)
    if not items:
        return 0
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS tmp_count_delta "
        "(reference_id bigint, level varchar(2), mutation_id int, delta int) ON COMMIT DROP"
    )
    cursor.execute("TRUNCATE tmp_count_delta")
    with cursor.copy(
        "COPY tmp_count_delta (reference_id, level, mutation_id, delta) FROM STDIN"
    ) as copy:
        for (reference_id, level, mutation_id), delta in items:
            copy.write_row((reference_id, level, mutation_id, delta))
    cursor.execute(
        f"""
        INSERT INTO {COUNT} AS mc (reference_id, level, mutation_id, samples, created, updated)
        SELECT reference_id, level, mutation_id, delta, now(), now()
        FROM tmp_count_delta ORDER BY reference_id, level, mutation_id
        ON CONFLICT (reference_id, level, mutation_id)
        DO UPDATE SET samples = mc.samples + EXCLUDED.samples, updated = now()
        """
    )
    cursor.execute(
        f"DELETE FROM {COUNT} mc USING tmp_count_delta t WHERE mc.reference_id = t.reference_id "
        "AND mc.level = t.level AND mc.mutation_id = t.mutation_id AND mc.samples <= 0"
    )
    return len(items)


def collect_orphan_sequences(cursor, sequence_ids: Iterable[int] | None = None) -> int:
    """Delete sequences no record points at, with their alignments and unknown ranges.

    :param sequence_ids: candidates (e.g. the old sequences of replaced records); ``None``
        checks every sequence.
    :returns: number of sequences deleted.
    """
    if sequence_ids is None:
        cursor.execute(
            f"SELECT q.id FROM {SEQUENCE} q WHERE NOT EXISTS "
            f"(SELECT 1 FROM {RECORD} ss WHERE ss.sequence_id = q.id)"
        )
    else:
        candidates = sorted(set(sequence_ids))
        if not candidates:
            return 0
        cursor.execute(
            f"SELECT q.id FROM {SEQUENCE} q WHERE q.id = ANY(%s) AND NOT EXISTS "
            f"(SELECT 1 FROM {RECORD} ss WHERE ss.sequence_id = q.id) ORDER BY q.id FOR UPDATE",
            [candidates],
        )
    orphans = [row[0] for row in cursor.fetchall()]
    if not orphans:
        return 0
    # Django emulates ON DELETE CASCADE in Python; raw SQL must delete children first.
    cursor.execute(
        f"DELETE FROM {UNKNOWN} u USING {ALIGNMENT} a "
        "WHERE u.alignment_id = a.id AND a.sequence_id = ANY(%s)",
        [orphans],
    )
    cursor.execute(f"DELETE FROM {ALIGNMENT} WHERE sequence_id = ANY(%s)", [orphans])
    cursor.execute(f"DELETE FROM {SEQUENCE} WHERE id = ANY(%s)", [orphans])
    return len(orphans)


def _diff(
    deltas: Counter[CountKey], reference_id: int, level: str, old: Iterable[int], new: Iterable[int]
) -> None:
    old_set, new_set = set(old), set(new)
    for mutation_id in new_set - old_set:
        deltas[(reference_id, level, mutation_id)] += 1
    for mutation_id in old_set - new_set:
        deltas[(reference_id, level, mutation_id)] -= 1


def _array(values: Iterable[int]) -> str:
    """Postgres array literal (COPY text format) of integers."""
    return "{" + ",".join(map(str, values)) + "}"
