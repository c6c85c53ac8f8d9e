"""Mutation frequencies with honest denominators, over all filtered samples or per time bin.

For a mutation at span ``[start, end)`` of a replicon (NT) or CDS (AA):

- ``count``: filtered samples whose mutation-id array holds it;
- ``coverage``: filtered samples that have data over the whole span: an alignment on the
  replicon whose covered range contains the span and no ``UnknownRange`` (N run, unaligned gap;
  for AA: unknown residues, which include residues outside the covered range) overlapping it;
- ``proportion = count / coverage``.

How coverage is counted without a loop over samples or mutations: per filtered sample and
replicon (or CDS) the *no-data* stretches are one multirange (outside ``covered`` plus the
unknown ranges, intersected over the sample's alignments there), unnested into disjoint
intervals. A sweep over their ends (a running sum in one window function, ordered by position)
gives, at every mutation's first position, how many samples have no data there. A mutation of
several positions also loses the samples that have data at its first position but a no-data
interval starting inside it (an interval whose predecessor in the same sample ends at or before
the first position, so each such sample is counted once): an equality join of the span's inner
positions with the intervals' starts. ``coverage = samples aligned there - no data at start -
no data later in the span``.

All SQL of the mutation analytics is in this module; :func:`frequencies` and :func:`over_time`
take a :class:`~ena_like.queries.filtering.SampleQuery`, so a benchmark can call them directly.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from django.core.exceptions import EmptyResultSet
from django.db import connection

from analyses.models import (
    Alignment,
    AminoAcidMutation,
    Cds,
    MutationKind,
    NucleotideMutation,
    Replicon,
    UnknownRange,
)
from ena_like.filters import FilterCompiler, FilterError
from ena_like.models import MutationWeekCount, SampleSequence
from ena_like.queries.filtering import SampleQuery

RECORD = SampleSequence._meta.db_table
ALIGNMENT = Alignment._meta.db_table
UNKNOWN = UnknownRange._meta.db_table
CDS = Cds._meta.db_table
REPLICON = Replicon._meta.db_table
NT_MUTATION = NucleotideMutation._meta.db_table
AA_MUTATION = AminoAcidMutation._meta.db_table

#: the longest span a requested mutation may have (each inner position is a row of the
#: coverage join)
MAX_SPAN = 1_000_000
#: end of the no-data interval after the covered range (int4's largest value)
_FAR = 2_147_483_647


class Level(StrEnum):
    """Nucleotide or amino-acid mutations."""

    NT = "nt"
    AA = "aa"


class Ordering(StrEnum):
    """Orders of a frequency list (``-`` descending); ties by position, then label."""

    COUNT_DESC = "-count"
    COUNT = "count"
    PROPORTION_DESC = "-proportion"
    PROPORTION = "proportion"
    COVERAGE_DESC = "-coverage"
    COVERAGE = "coverage"
    POSITION = "position"
    POSITION_DESC = "-position"


_ORDER_SQL = {
    Ordering.COUNT_DESC: "cov.carriers DESC",
    Ordering.COUNT: "cov.carriers",
    Ordering.PROPORTION_DESC: "cov.carriers::float8 / cov.coverage DESC",
    Ordering.PROPORTION: "cov.carriers::float8 / cov.coverage",
    Ordering.COVERAGE_DESC: "cov.coverage DESC",
    Ordering.COVERAGE: "cov.coverage",
    Ordering.POSITION: "{part_order}, mu.start",
    Ordering.POSITION_DESC: "{part_order} DESC, mu.start DESC",
}


class Bin(StrEnum):
    """Time bins of :func:`over_time`: ISO weeks, calendar months, or the ranges given."""

    WEEK = "week"
    MONTH = "month"
    RANGES = "ranges"


def _no_data_sql(level: Level) -> str:
    """CTEs ``al`` (alignments of the filtered samples on the targets' replicons, with how
    many each sample has there) and ``nd_al`` (the no-data multirange of an alignment per
    partition; for AA only where it has unknown residues).

    Needs the CTEs ``f (sample_id, bin, ids)`` and ``targets``. Unknown ranges are read per
    alignment through its index (a correlated or ``LATERAL`` lookup), never by a scan.
    """
    if level is Level.NT:
        no_data = f"""
        nd_al AS (
            SELECT al.sample_id, al.replicon_id AS part, al.n_al,
                   (int4multirange(int4range(0, NULL)) - int4multirange(al.covered))
                   + COALESCE((
                       SELECT range_agg(u.span) FROM {UNKNOWN} u
                       WHERE u.alignment_id = al.alignment_id AND u.level = 'nt'
                   ), '{{}}'::int4multirange) AS nd
            FROM al
        )"""
    else:
        # unknown residues include those outside the covered range (analyses.calling)
        no_data = f"""
        nd_al AS (
            SELECT al.sample_id, x.cds_id AS part, al.n_al, x.nd
            FROM al CROSS JOIN LATERAL (
                SELECT u.cds_id, range_agg(u.span) AS nd FROM {UNKNOWN} u
                WHERE u.alignment_id = al.alignment_id AND u.level = 'aa'
                GROUP BY u.cds_id
            ) x
            WHERE x.cds_id IN (SELECT part FROM targets)
        )"""
    return f"""
        al AS MATERIALIZED (
            SELECT ss.sample_id, a.id AS alignment_id, a.replicon_id, a.covered,
                   count(*) OVER (PARTITION BY ss.sample_id, a.replicon_id) AS n_al
            FROM (SELECT DISTINCT sample_id FROM f) s
            JOIN {RECORD} ss ON ss.sample_id = s.sample_id
            JOIN {ALIGNMENT} a ON a.sequence_id = ss.sequence_id
            WHERE a.replicon_id IN (SELECT rep FROM targets)
        ),
        {no_data}"""


def _coverage_sql(level: Level) -> str:
    """CTEs ending in ``cov (tid, bin, carriers, coverage)``: samples of ``f`` in the target's
    bin with data over the target's span (module docstring).

    Needs ``f (sample_id, bin, ids)`` and ``targets (tid, bin, part, rep, start, "end",
    carriers)`` (``rep``: the replicon of ``part``; ``carriers`` passed through). Targets are
    never joined back: their columns travel through the sweep and one ``GROUP BY`` collects
    them, so the plan has no join whose size the planner could misjudge quadratically.
    """
    return f"""
        {_no_data_sql(level)},
        nd AS MATERIALIZED (
            -- no data in any of the sample's alignments there: the intersection (a sample
            -- with an alignment lacking unknowns for the CDS has data, hence the HAVING)
            SELECT sample_id, part, range_intersect_agg(nd) AS nd
            FROM nd_al GROUP BY 1, 2 HAVING count(*) = max(n_al)
        ),
        members AS MATERIALIZED (
            SELECT f.bin, al.replicon_id AS rep, count(DISTINCT f.sample_id) AS n
            FROM f JOIN al ON al.sample_id = f.sample_id GROUP BY 1, 2
        ),
        ivb AS MATERIALIZED (
            SELECT f.bin, x.part, x.lo, x.hi, x.prev_hi
            FROM (
                SELECT y.sample_id, y.part, y.lo, y.hi,
                       lag(y.hi) OVER (PARTITION BY y.sample_id, y.part ORDER BY y.lo) AS prev_hi
                FROM (
                    SELECT nd.sample_id, nd.part, lower(r) AS lo,
                           COALESCE(upper(r), {_FAR}) AS hi
                    FROM nd, unnest(nd.nd) AS r
                ) y
            ) x JOIN f ON f.sample_id = x.sample_id
        ),
        span_positions AS MATERIALIZED (
            -- the inner positions of multi-position targets, so that the join with the
            -- intervals' starts is on (bin, part, position), hashable
            SELECT t.tid, t.bin, t.part, t.start, g.pos
            FROM targets t CROSS JOIN LATERAL generate_series(t.start + 1, t."end" - 1) AS g(pos)
            WHERE t."end" - t.start > 1
        ),
        swept AS (
            SELECT s.tid, s.bin, s.rep, s.carriers,
                   sum(s.d) OVER (
                       PARTITION BY s.bin, s.part ORDER BY s.pos, s.ord ROWS UNBOUNDED PRECEDING
                   ) AS missing
            FROM (
                SELECT bin, part, lo AS pos, 0 AS ord, count(*) AS d, NULL::int AS tid,
                       NULL::int AS rep, NULL::bigint AS carriers
                FROM ivb GROUP BY 1, 2, 3
                UNION ALL
                SELECT bin, part, hi, 0, -count(*), NULL, NULL, NULL FROM ivb GROUP BY 1, 2, 3
                UNION ALL
                SELECT bin, part, start, 1, 0, tid, rep, carriers FROM targets
            ) s
        ),
        lost AS (
            SELECT tid, bin, rep, carriers, missing AS n FROM swept WHERE tid IS NOT NULL
            UNION ALL
            SELECT sp.tid, sp.bin, NULL, NULL, count(*)
            FROM span_positions sp
            JOIN ivb ON ivb.bin = sp.bin AND ivb.part = sp.part AND ivb.lo = sp.pos
                AND (ivb.prev_hi IS NULL OR ivb.prev_hi <= sp.start)
            GROUP BY 1, 2
        ),
        lost_sum AS (
            SELECT tid, bin, max(rep) AS rep, max(carriers) AS carriers, sum(n) AS n
            FROM lost GROUP BY 1, 2
        ),
        cov AS MATERIALIZED (
            SELECT ls.tid, ls.bin, ls.carriers, (COALESCE(m.n, 0) - ls.n)::int AS coverage
            FROM lost_sum ls LEFT JOIN members m ON m.bin = ls.bin AND m.rep = ls.rep
        )"""


def _filtered_sql(query: SampleQuery, level: Level) -> tuple[str, list]:
    """The filtered samples as SQL: ``id``, ``collection_date`` and the level's id array."""
    array = f"{level.value}_mutation_ids"
    try:
        sql, params = (
            query.queryset.order_by().values("id", "collection_date", array).query.sql_with_params()
        )
    except EmptyResultSet:  # a filter Django knows matches nothing (a mutation never seen)
        return (
            "SELECT NULL::int AS id, NULL::date AS collection_date, "
            f"NULL::int[] AS {array} WHERE false",
            [],
        )
    return sql, list(params)


def _execute(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# --- frequencies -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Frequency:
    """One mutation's row: ``position`` 1-based (anchor base/residue of an insertion)."""

    label: str
    part: str
    position: int
    end: int
    ref: str
    alt: str
    kind: str
    count: int
    coverage: int

    @property
    def proportion(self) -> float:
        return self.count / self.coverage


def frequencies(
    query: SampleQuery,
    level: Level,
    *,
    insertions: bool = False,
    parts: tuple[int, ...] = (),
    min_proportion: float = 0.05,
    ordering: Ordering = Ordering.COUNT_DESC,
    limit: int | None = None,
) -> list[Frequency]:
    """Every mutation carried by a filtered sample with ``count / coverage >= min_proportion``.

    :param insertions: list insertions only; otherwise substitutions and deletions.
    :param parts: only these replicons (NT) or CDS (AA); all when empty.
    """
    filtered, params = _filtered_sql(query, level)
    mutation, part_column = (
        (NT_MUTATION, "replicon_id") if level is Level.NT else (AA_MUTATION, "cds_id")
    )
    kind = "=" if insertions else "<>"
    where_parts = f"AND mu.{part_column} = ANY(%s)" if parts else ""
    if level is Level.NT:
        names = f"JOIN {REPLICON} p ON p.id = mu.replicon_id"
        rep, rep_join = "mu.replicon_id", ""
        part_name, part_order = "p.accession", "p.position"
    else:
        names = f"JOIN {CDS} p ON p.id = mu.cds_id JOIN {REPLICON} pr ON pr.id = p.replicon_id"
        rep, rep_join = "tc.replicon_id", f"JOIN {CDS} tc ON tc.id = mu.cds_id"
        part_name, part_order = "p.symbol", "pr.position, p.start"
    order = _ORDER_SQL[ordering].format(part_order=part_order)
    limit_sql = "LIMIT %s" if limit is not None else ""
    sql = f"""
        WITH f AS MATERIALIZED (
            SELECT q.id AS sample_id, 0 AS bin, q.{level.value}_mutation_ids AS ids
            FROM ({filtered}) q
        ),
        counts AS (
            SELECT m AS mutation_id, count(*) AS n FROM f, unnest(f.ids) AS m GROUP BY m
        ),
        targets AS MATERIALIZED (
            SELECT mu.id AS tid, 0 AS bin, mu.{part_column} AS part, {rep} AS rep, mu.start,
                   mu."end", c.n AS carriers
            FROM counts c JOIN {mutation} mu ON mu.id = c.mutation_id
            {rep_join}
            WHERE mu.kind {kind} %s {where_parts}
        ),
        {_coverage_sql(level)}
        SELECT mu.label, {part_name}, mu.start, mu."end", mu.ref, mu.alt, mu.kind,
               cov.carriers, cov.coverage
        FROM cov
        JOIN {mutation} mu ON mu.id = cov.tid
        {names}
        WHERE cov.coverage > 0 AND cov.carriers >= %s * cov.coverage
        ORDER BY {order}, {part_order}, mu.start, mu.label
        {limit_sql}
    """
    params = [*params, MutationKind.INSERTION.value]
    if parts:
        params.append(list(parts))
    params.append(min_proportion)
    if limit is not None:
        params.append(limit)
    return [
        Frequency(label, part, start + 1, end, ref, alt, kind, n, coverage)
        for label, part, start, end, ref, alt, kind, n, coverage in _execute(sql, params)
    ]


# --- over time ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A requested mutation, resolved: its span and the stored ids that count for it."""

    label: str
    level: Level
    part: int
    start: int
    end: int
    ids: tuple[int, ...]


def resolve_targets(compiler: FilterCompiler, labels: list[str]) -> list[Target]:
    """The mutations of ``labels``, resolved as the filter compiler resolves them.

    :raises FilterError: a label that is no mutation of the reference (naming it).
    """
    if not labels:
        raise FilterError("'mutations' names no mutation", hint="e.g. mutations=S:F456L,A23403G")
    resolved = compiler.resolve_mutations(labels)
    for label, (_, _, start, end, _) in zip(labels, resolved, strict=True):
        if end - start > MAX_SPAN:
            raise FilterError(
                f"'{label}' spans {end - start} positions, more than {MAX_SPAN}",
                hint="Ask for a shorter deletion",
            )
    return [
        Target(label, Level(level), part, start, end, ids)
        for label, (level, part, start, end, ids) in zip(labels, resolved, strict=True)
    ]


@dataclass(frozen=True)
class BinSpec:
    """How samples fall into bins: ``kind``, and for :attr:`Bin.RANGES` the inclusive ranges."""

    kind: Bin
    ranges: tuple[tuple[dt.date, dt.date], ...] = ()


def _binned_sql(spec: BinSpec, filtered: str, level: Level) -> tuple[str, list]:
    """``f (sample_id, bin, ids)``: each filtered, dated sample once per bin it falls into."""
    columns = f"q.id AS sample_id, {{key}} AS bin, q.{level.value}_mutation_ids AS ids"
    dated = f"FROM ({filtered}) q WHERE q.collection_date IS NOT NULL"
    if spec.kind is Bin.WEEK:
        key = MutationWeekCount.WEEK_SQL.format(table="q")
        return f"SELECT {columns.format(key=key)} {dated}", []
    if spec.kind is Bin.MONTH:
        key = (
            "(extract(year FROM q.collection_date)::int * 12"
            " + extract(month FROM q.collection_date)::int - 1)"
        )
        return f"SELECT {columns.format(key=key)} {dated}", []
    sql = (
        f"SELECT {columns.format(key='b.bin::int')} FROM ({filtered}) q "
        "JOIN unnest(%s::date[], %s::date[]) WITH ORDINALITY AS b(lo, hi, bin) "
        "ON q.collection_date BETWEEN b.lo AND b.hi"
    )
    return sql, [[lo for lo, _ in spec.ranges], [hi for _, hi in spec.ranges]]


def over_time(
    query: SampleQuery, targets: list[Target], spec: BinSpec
) -> dict[tuple[str, int], tuple[int, int]]:
    """``{(label, bin): (count, coverage)}`` for every target and every bin with samples.

    Bins are numbered as :func:`bin_name` reads them: weeks since 0001-01-01 (a Monday),
    ``year * 12 + month - 1``, or the 1-based index of the given range. One statement per level.
    """
    result: dict[tuple[str, int], tuple[int, int]] = {}
    for level in Level:
        chosen = [t for t in targets if t.level is level]
        if not chosen:
            continue
        filtered, params = _filtered_sql(query, level)
        binned, bin_params = _binned_sql(spec, filtered, level)
        pairs = [(i, m) for i, t in enumerate(chosen) for m in t.ids]
        rep, rep_join = (
            ("r.part", "")
            if level is Level.NT
            else ("tc.replicon_id", f"JOIN {CDS} tc ON tc.id = r.part")
        )
        sql = f"""
            WITH f AS MATERIALIZED ({binned}),
            requested AS (
                SELECT * FROM unnest(%s::int[], %s::int[], %s::int[], %s::int[])
                    AS r(tid, part, start, "end")
            ),
            targets AS MATERIALIZED (
                SELECT r.tid, b.bin, r.part, {rep} AS rep, r.start, r."end",
                       NULL::bigint AS carriers
                FROM requested r CROSS JOIN (SELECT DISTINCT bin FROM f) b
                {rep_join}
            ),
            pairs AS (SELECT * FROM unnest(%s::int[], %s::int[]) AS p(tid, mutation_id)),
            counts AS MATERIALIZED (
                SELECT p.tid, f.bin, count(DISTINCT f.sample_id) AS n
                FROM f CROSS JOIN LATERAL unnest(f.ids) AS m(id)
                JOIN pairs p ON p.mutation_id = m.id
                GROUP BY 1, 2
            ),
            {_coverage_sql(level)}
            SELECT cov.tid, cov.bin, COALESCE(c.n, 0), cov.coverage
            FROM cov LEFT JOIN counts c ON c.tid = cov.tid AND c.bin = cov.bin
        """
        all_params = [
            *params,
            *bin_params,
            list(range(len(chosen))),
            [t.part for t in chosen],
            [t.start for t in chosen],
            [t.end for t in chosen],
            [i for i, _ in pairs],
            [m for _, m in pairs],
        ]
        for tid, bin_key, n, coverage in _execute(sql, all_params):
            result[(chosen[tid].label, bin_key)] = (n, coverage)
    return result


_EPOCH = dt.date(1, 1, 1)


def bin_start(spec: BinSpec, key: int) -> dt.date:
    """The first day of bin ``key``."""
    if spec.kind is Bin.WEEK:
        return _EPOCH + dt.timedelta(days=7 * key)
    if spec.kind is Bin.MONTH:
        return dt.date(key // 12, key % 12 + 1, 1)
    return spec.ranges[key - 1][0]


def bin_end(spec: BinSpec, key: int) -> dt.date:
    """The last day of bin ``key`` (inclusive)."""
    if spec.kind is Bin.WEEK:
        start = bin_start(spec, key)
        return start + dt.timedelta(days=min(6, (dt.date.max - start).days))
    if spec.kind is Bin.MONTH:
        start = bin_start(spec, key)
        return start.replace(day=calendar.monthrange(start.year, start.month)[1])
    return spec.ranges[key - 1][1]


def bin_name(spec: BinSpec, key: int) -> str:
    """``2024-W36``, ``2024-09`` or ``2024-01-01/2024-03-31``."""
    start = bin_start(spec, key)
    if spec.kind is Bin.WEEK:
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02}"
    if spec.kind is Bin.MONTH:
        return f"{start.year}-{start.month:02}"
    return f"{start.isoformat()}/{bin_end(spec, key).isoformat()}"


def bin_keys(spec: BinSpec, present: set[int]) -> list[int]:
    """The bins to answer: every given range, or every week/month from the first to the last
    with samples (empty ones inside included, as the weekly plots do)."""
    if spec.kind is Bin.RANGES:
        return list(range(1, len(spec.ranges) + 1))
    return list(range(min(present), max(present) + 1)) if present else []


def check_ranges(ranges: list[tuple[dt.date, dt.date]]) -> None:
    """:raises FilterError: a range that ends before it starts."""
    for lo, hi in ranges:
        if hi < lo:
            raise FilterError(
                f"date range {lo.isoformat()}/{hi.isoformat()} ends before it starts",
                hint="Write ranges as start/end, e.g. 2024-01-01/2024-03-31",
            )
