"""The derived sample index: ``Sample.nt/aa_mutation_ids``, ``MutationCount``,
``SampleFieldCoverage`` and ``MutationWeekCount``.

Both are pure functions of the stored records: a sample's arrays are the union of the mutation
ids of the alignments (against the sample's reference) of its records' sequences, and a count is
the number of samples whose array holds the mutation. Rather than patching them by hand in every
writer, each writer (loader, deletion) names the samples it touched and calls
:func:`refresh_samples`, which recomputes their arrays from the records, writes only the rows
that changed, and applies the exact count differences. So a replaced sequence can never leave a
stale mutation behind, and re-loading unchanged data changes no row (not even ``updated``).

``SampleFieldCoverage`` (samples with a value, per reference and field) is kept here too, the one
place that writes it: :func:`refresh_samples` applies the exact differences of the arrays and
``length`` it rewrites, and every other writer of sample rows or property values wraps its
statements in :func:`tracked_coverage` (coverage of the locked samples before and after, the
difference added). :func:`rebuild_coverage` recomputes it from scratch (bulk loads, repairs,
the migration that introduced it). Writes that bypass the services (admin edits, raw SQL) must
call it afterwards, as they must fix ``MutationCount``.

``MutationWeekCount`` (samples per mutation, week and lineage prefix) follows the same two
paths: a sample's contribution depends on its arrays, reference, collection date and lineage,
so :func:`refresh_samples` (arrays) and :func:`tracked_coverage` (everything else) both stage
the contribution of the samples they change before and after, in SQL, and apply the sum.
:func:`rebuild_week_counts` recounts it.

All functions take a raw cursor inside the caller's transaction; samples are locked in id order
(``FOR UPDATE``) so concurrent chunk loads touching the same sample serialise instead of
overwriting each other's union, and counts are upserted in key order to avoid deadlocks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from analyses.models import Alignment, MutationCount, Replicon, UnknownRange
from ena_like.fields import FIXED_COLUMNS, ValueType
from ena_like.models import (
    MutationWeekCount,
    Property,
    Sample,
    SampleFieldCoverage,
    SampleProperty,
    SampleSequence,
    Sequence,
)

SAMPLE = Sample._meta.db_table
RECORD = SampleSequence._meta.db_table
SEQUENCE = Sequence._meta.db_table
ALIGNMENT = Alignment._meta.db_table
UNKNOWN = UnknownRange._meta.db_table
REPLICON = Replicon._meta.db_table
COUNT = MutationCount._meta.db_table
COVERAGE = SampleFieldCoverage._meta.db_table
WEEK_COUNT = MutationWeekCount._meta.db_table
SAMPLE_PROPERTY = SampleProperty._meta.db_table
PROPERTY = Property._meta.db_table
TOTAL = SampleFieldCoverage.TOTAL
GENOMIC, PROTEOMIC = "genomic_profiles", "proteomic_profiles"
#: sample columns whose coverage is kept (the fields of ``plot_metadata_coverage``)
COVERAGE_COLUMNS = ("name", *Sample.FIXED_FIELDS, "length")

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
        SELECT ss.sample_id, q.length, a.nt_mutation_ids, a.aa_mutation_ids,
               a.replicon_id, a.qc_score, a.qc_status, a.coverage, a.missing_data
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
    qc_rows: dict[int, list[tuple]] = {sid: [] for sid in old}
    for sample_id, seq_length, nt_ids, aa_ids, replicon_id, *qc in cursor.fetchall():
        if nt_ids:
            nt[sample_id].update(nt_ids)
        if aa_ids:
            aa[sample_id].update(aa_ids)
        length[sample_id] = (length[sample_id] or 0) + seq_length
        if qc[0] is not None:
            qc_rows[sample_id].append((replicon_id, *qc))
    new_qc = _sample_qc(cursor, old, qc_rows)
    old_qc = _stored_qc(cursor, old)
    deltas: Counter[CountKey] = Counter()
    coverage: Counter[CoverageKey] = Counter()
    changed: list[tuple[int, list[int], list[int], int | None, SampleQc]] = []
    for sample_id, (reference_id, old_nt, old_aa, old_length) in old.items():
        new_nt, new_aa = sorted(nt[sample_id]), sorted(aa[sample_id])
        if reference_id is not None:
            _diff(deltas, reference_id, "nt", old_nt, new_nt)
            _diff(deltas, reference_id, "aa", old_aa, new_aa)
        for name, before, after in (
            (GENOMIC, bool(old_nt), bool(new_nt)),
            (PROTEOMIC, bool(old_aa), bool(new_aa)),
            ("length", old_length is not None, length[sample_id] is not None),
        ):
            coverage[(reference_id, name)] += int(after) - int(before)
        if (
            new_nt != list(old_nt)
            or new_aa != list(old_aa)
            or length[sample_id] != old_length
            or new_qc[sample_id] != old_qc.get(sample_id, _NO_QC)
        ):
            changed.append((sample_id, new_nt, new_aa, length[sample_id], new_qc[sample_id]))
    changed_ids = [row[0] for row in changed]
    stage_week_counts(cursor, changed_ids, -1)
    if changed:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS tmp_sample_index "
            "(id bigint, nt int4[], aa int4[], length int, qc_status varchar(8), "
            "qc_score double precision, coverage double precision, missing_data int) "
            "ON COMMIT DROP"
        )
        cursor.execute("TRUNCATE tmp_sample_index")
        with cursor.copy(
            "COPY tmp_sample_index (id, nt, aa, length, qc_status, qc_score, coverage, "
            "missing_data) FROM STDIN"
        ) as copy:
            for row in changed:
                copy.write_row((row[0], _array(row[1]), _array(row[2]), row[3], *row[4]))
        cursor.execute(
            f"UPDATE {SAMPLE} s SET nt_mutation_ids = t.nt, aa_mutation_ids = t.aa, "
            "length = t.length, qc_status = t.qc_status, qc_score = t.qc_score, "
            "coverage = t.coverage, missing_data = t.missing_data, last_update_date = now(), "
            "updated_by_run_id = COALESCE(%s, s.updated_by_run_id) "
            "FROM tmp_sample_index t WHERE s.id = t.id",
            [import_run_id],
        )
        stats.samples_changed = len(changed)
    stage_week_counts(cursor, changed_ids, +1)
    # lock order of every writer: samples (id order), coverage rows, count rows, week count
    # rows (key order)
    apply_coverage_deltas(cursor, coverage)
    stats.counts_changed = apply_count_deltas(cursor, deltas)
    apply_week_counts(cursor)
    return stats


#: a sample's QC columns: (qc_status, qc_score, coverage, missing_data)
SampleQc = tuple[str | None, float | None, float | None, int | None]
_NO_QC: SampleQc = (None, None, None, None)


def _stored_qc(cursor, samples: Collection[int]) -> dict[int, SampleQc]:
    cursor.execute(
        f"SELECT id, qc_status, qc_score, coverage, missing_data FROM {SAMPLE} WHERE id = ANY(%s)",
        [sorted(samples)],
    )
    return {row[0]: tuple(row[1:]) for row in cursor.fetchall()}


def _sample_qc(
    cursor, samples: dict[int, StoredIndex], rows: dict[int, list[tuple]]
) -> dict[int, SampleQc]:
    """A sample's QC from its alignments' (replicon, score, status, coverage, N bases).

    Worst alignment's status and score (a bad segment makes a bad sample); coverage of the
    whole reference (replicon coverages weighted by length, the best alignment per replicon,
    a missing segment counting 0); N bases summed. No alignment with QC: all NULL.
    """
    result: dict[int, SampleQc] = dict.fromkeys(samples, _NO_QC)
    references = sorted({samples[sid][0] for sid, r in rows.items() if r} - {None})
    if not references:
        return result
    cursor.execute(
        f"SELECT id, reference_id, length FROM {REPLICON} WHERE reference_id = ANY(%s)",
        [references],
    )
    replicon_length: dict[int, int] = {}
    reference_length: Counter[int] = Counter()
    for replicon_id, reference_id, replicon_len in cursor.fetchall():
        replicon_length[replicon_id] = replicon_len
        reference_length[reference_id] += replicon_len
    for sample_id, aligned in rows.items():
        total = reference_length.get(samples[sample_id][0] or 0)
        if not aligned or not total:
            continue
        best: dict[int, float] = {}
        for replicon_id, _score, _status, share, _n in aligned:
            best[replicon_id] = max(best.get(replicon_id, 0.0), share)
        worst = max(aligned, key=lambda row: row[1])
        result[sample_id] = (
            worst[2],
            worst[1],
            sum(share * replicon_length[r] for r, share in best.items()) / total,
            sum(row[4] for row in aligned),
        )
    return result


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


# --- field coverage ---------------------------------------------------------------------------
#: coverage key: (reference id or None, field)
CoverageKey = tuple[int | None, str]


def _has_value_sql(column: str) -> str:
    """The SQL of "has a value" (as ``ena_like.queries`` counts it: text also non-empty)."""
    if FIXED_COLUMNS.get(column) is ValueType.TEXT:
        return f"s.{column} IS NOT NULL AND s.{column} <> ''"
    return f"s.{column} IS NOT NULL"


def _coverage_sql(where: str) -> tuple[str, str]:
    counts = ", ".join(
        [
            "count(*)",
            *(f"count(*) FILTER (WHERE {_has_value_sql(c)})" for c in COVERAGE_COLUMNS),
            "count(*) FILTER (WHERE s.nt_mutation_ids <> '{}')",
            "count(*) FILTER (WHERE s.aa_mutation_ids <> '{}')",
        ]
    )
    samples = f"SELECT s.reference_id, {counts} FROM {SAMPLE} s WHERE {where} GROUP BY 1"
    props = (
        f"SELECT s.reference_id, p.name, count(*) FROM {SAMPLE_PROPERTY} sp "
        f"JOIN {SAMPLE} s ON s.id = sp.sample_id JOIN {PROPERTY} p ON p.id = sp.property_id "
        f"WHERE {where} GROUP BY 1, 2"
    )
    return samples, props


def _coverage(cursor, where: str, params: list[object]) -> Counter[CoverageKey]:
    result: Counter[CoverageKey] = Counter()
    samples_sql, props_sql = _coverage_sql(where)
    names = (TOTAL, *COVERAGE_COLUMNS, GENOMIC, PROTEOMIC)
    cursor.execute(samples_sql, params)
    for reference_id, *counts in cursor.fetchall():
        for name, n in zip(names, counts, strict=True):
            if n:
                result[(reference_id, name)] += n
    cursor.execute(props_sql, params)
    for reference_id, name, n in cursor.fetchall():
        result[(reference_id, name)] += n
    return result


def coverage_of(cursor, sample_ids: Collection[int]) -> Counter[CoverageKey]:
    """What the given samples contribute to ``SampleFieldCoverage`` as stored now."""
    if not sample_ids:
        return Counter()
    return _coverage(cursor, "s.id = ANY(%s)", [sorted(sample_ids)])


@contextmanager
def tracked_coverage(
    cursor, sample_ids: Collection[int], created: Collection[int] = ()
) -> Iterator[None]:
    """Keep ``SampleFieldCoverage`` and ``MutationWeekCount`` exact across the statements of
    the ``with`` block.

    :param sample_ids: every sample the block may change or delete, locked by the caller (so no
        other transaction changes them until commit).
    :param created: those of ``sample_ids`` this transaction inserted before the block (not
        yet counted: their whole contribution is new).

    Arrays and ``length`` written by :func:`refresh_samples` are counted there; do not call it
    inside the block.
    """
    created = set(created)
    counted = [i for i in sample_ids if i not in created]
    before = coverage_of(cursor, counted)
    stage_week_counts(cursor, counted, -1)
    yield
    after = coverage_of(cursor, sample_ids)
    after.subtract(before)
    stage_week_counts(cursor, sample_ids, +1)
    apply_coverage_deltas(cursor, after)
    apply_week_counts(cursor)


def apply_coverage_deltas(cursor, deltas: Counter[CoverageKey]) -> int:
    """Add ``deltas`` to ``SampleFieldCoverage`` (creating rows), dropping rows that reach 0.

    :returns: number of coverage rows changed.
    """
    items = sorted(
        (item for item in deltas.items() if item[1]),
        key=lambda item: (item[0][0] is None, item[0][0] or 0, item[0][1]),
    )
    if not items:
        return 0
    cursor.execute(
        f"""
        INSERT INTO {COVERAGE} AS c (reference_id, field, samples)
        SELECT * FROM unnest(%s::bigint[], %s::text[], %s::int[])
        ON CONFLICT (reference_id, field) DO UPDATE SET samples = c.samples + EXCLUDED.samples
        """,
        [[k[0] for k, _ in items], [k[1] for k, _ in items], [d for _, d in items]],
    )
    cursor.execute(f"DELETE FROM {COVERAGE} WHERE samples <= 0")
    return len(items)


def rebuild_coverage(cursor) -> None:
    """Recompute ``SampleFieldCoverage`` from every sample (bulk loads, repairs, fixtures)."""
    cursor.execute(f"DELETE FROM {COVERAGE}")
    apply_coverage_deltas(cursor, _coverage(cursor, "TRUE", []))


# --- mutation x week x lineage prefix -------------------------------------------------------
_WEEK_KEY = "reference_id, level, mutation_id, week, lineage_group"


def _week_contribution_sql(where: str) -> str:
    """``SELECT`` of what the samples matching ``where`` (alias ``s``) add to
    ``MutationWeekCount``: one row per key with its number of samples (no dateless samples,
    no samples without reference)."""
    week = MutationWeekCount.WEEK_SQL.format(table="s")
    prefix = MutationWeekCount.PREFIX_SQL.format(lineage="s.lineage")
    return f"""
        SELECT s.reference_id, m.level, m.id, {week} AS week, COALESCE({prefix}, '') AS grp,
               count(*) AS n
        FROM {SAMPLE} s
        CROSS JOIN LATERAL (
            SELECT 'nt', unnest(s.nt_mutation_ids) UNION ALL SELECT 'aa', unnest(s.aa_mutation_ids)
        ) AS m(level, id)
        WHERE ({where}) AND s.reference_id IS NOT NULL AND s.collection_date IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5
    """


def stage_week_counts(cursor, sample_ids: Collection[int], sign: int) -> None:
    """Stage ``sign`` times the current contribution of ``sample_ids`` (locked by the caller) to
    ``MutationWeekCount``; :func:`apply_week_counts` adds the staged sum.

    Computed in SQL: ~100 mutations per sample make this ~10⁵ rows per chunk of 1000, which
    Python would have to fetch only to add them up.
    """
    if not sample_ids:
        return
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS tmp_week_delta (reference_id bigint, level varchar(2), "
        "mutation_id int, week int, lineage_group varchar(100), delta int) ON COMMIT DROP"
    )
    cursor.execute(
        f"INSERT INTO tmp_week_delta ({_WEEK_KEY}, delta) "
        f"SELECT reference_id, level, id, week, grp, %s * n "
        f"FROM ({_week_contribution_sql('s.id = ANY(%s)')}) AS c",
        [sign, sorted(sample_ids)],
    )


def apply_week_counts(cursor) -> None:
    """Add the staged differences to ``MutationWeekCount`` in key order (lock order), remove
    rows that reach 0, empty the stage."""
    cursor.execute("SELECT to_regclass('pg_temp.tmp_week_delta') IS NOT NULL")
    if not cursor.fetchone()[0]:
        return
    cursor.execute(
        f"""
        INSERT INTO {WEEK_COUNT} AS w ({_WEEK_KEY}, samples)
        SELECT {_WEEK_KEY}, sum(delta) FROM tmp_week_delta
        GROUP BY {_WEEK_KEY} HAVING sum(delta) <> 0 ORDER BY {_WEEK_KEY}
        ON CONFLICT ({_WEEK_KEY}) DO UPDATE SET samples = w.samples + EXCLUDED.samples
        """
    )
    cursor.execute(
        f"DELETE FROM {WEEK_COUNT} w USING (SELECT DISTINCT {_WEEK_KEY} FROM tmp_week_delta) t "
        "WHERE w.samples <= 0 AND (w.reference_id, w.level, w.mutation_id, w.week, "
        "w.lineage_group) = (t.reference_id, t.level, t.mutation_id, t.week, t.lineage_group)"
    )
    cursor.execute("TRUNCATE tmp_week_delta")


def rebuild_week_counts(cursor) -> None:
    """Recompute ``MutationWeekCount`` from every sample (bulk loads, repairs, the migration
    that introduced it)."""
    cursor.execute(f"DELETE FROM {WEEK_COUNT}")
    cursor.execute(
        f"INSERT INTO {WEEK_COUNT} ({_WEEK_KEY}, samples) "
        f"SELECT * FROM ({_week_contribution_sql('TRUE')}) AS c ORDER BY 1, 2, 3, 4, 5"
    )


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
