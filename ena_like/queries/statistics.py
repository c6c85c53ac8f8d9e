"""Statistics and plots over the (filtered) samples: totals, metadata coverage, weeks, values.

Totals and unfiltered coverage come from the maintained counts (:mod:`.coverage`), the weekly
plots of a single-mutation filter from ``MutationWeekCount``; everything else filtered is one
aggregate or ``GROUP BY`` over the matching samples, never a loop over them.
"""

import datetime as dt
from collections import defaultdict

from django.db import connection, transaction
from django.db.models import Count, F, IntegerField, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL

from analyses.models import Lineage, Reference
from ena_like.models import MutationWeekCount, Sample, SampleFieldCoverage, SampleProperty
from ena_like.queries.coverage import (
    DERIVED_FIELDS,
    collection_dates,
    field_coverage,
    has_value,
    stored_coverage,
)
from ena_like.queries.filtering import SampleQuery, single_mutation
from ena_like.queries.values import plain_value, property_types, value_expression


def statistics(reference: Reference | None) -> dict:
    """``samples_total``, first/latest collection date, fields with at least one value.

    Counts come from the maintained ``SampleFieldCoverage``; dates from the index.
    """
    coverage = stored_coverage(reference)
    first, latest = collection_dates(reference)
    columns = [*Sample.FIXED_FIELDS, "length"]
    custom = sorted(name for name, n in coverage.items() if n and name not in DERIVED_FIELDS)
    return {
        "samples_total": coverage.get(SampleFieldCoverage.TOTAL, 0),
        "first_sample_date": first,
        "latest_sample_date": latest,
        "populated_metadata_fields": custom + [name for name in columns if coverage.get(name)],
    }


def metadata_coverage(query: SampleQuery) -> dict[str, int]:
    """Samples with a value, per field, plus ``genomic_profiles``/``proteomic_profiles``.

    Without a filter the maintained ``SampleFieldCoverage`` answers; with one, one pass over
    the matching samples and one ``GROUP BY`` of their property rows (``(sample, property)`` is
    unique, so ``count(*)`` is the number of samples).
    """
    if query.unfiltered:
        return field_coverage(stored_coverage(query.reference))
    columns = ["name", *Sample.FIXED_FIELDS, "length"]
    qs = query.queryset
    aggregates = {name: Count("pk", filter=has_value(name)) for name in columns}
    aggregates["genomic_profiles"] = Count("pk", filter=~Q(nt_mutation_ids=[]))
    aggregates["proteomic_profiles"] = Count("pk", filter=~Q(aa_mutation_ids=[]))
    result = qs.aggregate(**aggregates)
    for name, count in sorted(
        SampleProperty.objects.filter(sample__in=qs.values("pk"))
        .values("property__name")
        .annotate(n=Count("*"))
        .order_by()
        .values_list("property__name", "n")
    ):
        result[name] = count
    return result


#: a Monday (proleptic Gregorian), so ``(date - _EPOCH) / 7`` numbers ISO weeks with integer
#: arithmetic (much cheaper per row than ``date_trunc`` on a timestamp); the week key of
#: ``MutationWeekCount`` too (``MutationWeekCount.WEEK_SQL``)
_EPOCH = dt.date(1, 1, 1)
#: the ISO week of ``collection_date`` as a number (weeks since ``_EPOCH``)
_WEEK_NUMBER = RawSQL(
    MutationWeekCount.WEEK_SQL.format(table=f'"{Sample._meta.db_table}"'),
    [],
    output_field=IntegerField(),
)


def _week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02}"


def _week_counts(query: SampleQuery) -> QuerySet[MutationWeekCount] | None:
    """The ``MutationWeekCount`` rows of a single-mutation filter (``None``: another filter)."""
    single = single_mutation(query)
    if single is None:
        return None
    level, mutation_id = single
    return MutationWeekCount.objects.filter(
        reference=query.reference, level=level, mutation_id=mutation_id
    )


def samples_per_week(query: SampleQuery) -> list[list]:
    """``[["2024-W01", 45], …]`` from the first to the last week, empty weeks as 0.

    A single mutation sums its ``MutationWeekCount`` rows; any other filter groups the
    matching samples.
    """
    stored = _week_counts(query)
    if stored is not None:
        rows = stored.values("week").annotate(n=Sum("samples")).values_list("week", "n")
    else:
        rows = (
            query.queryset.filter(collection_date__isnull=False)
            .annotate(wk=_WEEK_NUMBER)
            .values("wk")
            .annotate(n=Count("*"))
            .order_by()
            .values_list("wk", "n")
        )
    counts = {_EPOCH + dt.timedelta(days=7 * wk): n for wk, n in rows}
    if not counts:
        return []
    result, day, last = [], min(counts), max(counts)
    while day <= last:
        result.append([_week(day), counts.get(day, 0)])
        day += dt.timedelta(days=7)
    return result


def grouped_lineages_per_week(query: SampleQuery) -> list[dict]:
    """Per ISO week, the share of each lineage group (first two dot-segments, if that lineage
    exists, else ``Unknown``).

    Grouped in SQL: a single mutation reads its ``MutationWeekCount`` rows (one per week and
    lineage prefix); any other filter groups the matching samples by (week number, lineage).
    Either way each prefix is mapped to its group by a hash join on the reference's lineage
    names, so Postgres returns one row per (week, group).
    """
    reference = query.reference
    stored = _week_counts(query)
    if stored is not None:
        # already the prefix ('' never equals a lineage name, so it maps to Unknown)
        inner = stored.values(wk=F("week"), lineage=F("lineage_group"), n=F("samples"))
        group = "wl.lineage"
    else:
        inner = (
            query.queryset.filter(collection_date__isnull=False)
            .annotate(wk=_WEEK_NUMBER)
            .values("wk", "lineage")
            .annotate(n=Count("*"))
            .order_by()
        )
        group = MutationWeekCount.PREFIX_SQL.format(lineage="wl.lineage")
    inner_sql, inner_params = inner.query.sql_with_params()
    lineages = Lineage._meta.db_table
    known_where, known_params = (
        ("WHERE reference_id = %s", [reference.pk]) if reference else ("", [])
    )
    sql = f"""
        SELECT wl.wk, COALESCE(k.name, 'Unknown'), sum(wl.n)::bigint
        FROM ({inner_sql}) AS wl
        LEFT JOIN (SELECT DISTINCT name FROM {lineages} {known_where}) AS k
            ON k.name = {group}
        GROUP BY 1, 2
        ORDER BY 1, COALESCE(k.name, 'Unknown') COLLATE "C"
    """
    with transaction.atomic(), connection.cursor() as cursor:
        # ~150k partial groups pass through Gather; at the default cost per tuple (0.1) the
        # planner prefers a serial scan that is 1.5x slower at 1M samples (measured)
        cursor.execute("SELECT set_config('parallel_tuple_cost', '0.03', true)")
        cursor.execute(sql, [*inner_params, *known_params])
        rows = cursor.fetchall()
    totals: dict[int, int] = defaultdict(int)
    for wk, _group, n in rows:
        totals[wk] += n
    # a few hundred weeks for tens of thousands of rows: name each week once
    weeks = {wk: _week(_EPOCH + dt.timedelta(days=7 * wk)) for wk in totals}
    # ordered by Postgres (codepoint order, as Python sorts str): sorting ~40k tuples here
    # cost ~0.1 s
    return [
        {
            "week": weeks[wk],
            "lineage_group": group,
            "count": n,
            "percentage": round(n / totals[wk] * 100, 2),
        }
        for wk, group, n in rows
    ]


def custom_plot(qs: QuerySet[Sample], name: str) -> dict[str, dict[str, int]]:
    """``{name: {value: samples}}`` over samples that have a value."""
    value = value_expression(name, property_types())
    rows = (
        qs.annotate(v=value)
        .filter(v__isnull=False)
        .values("v")
        .annotate(n=Count("pk"))
        .order_by("v")
    )
    return {name: {str(plain_value(r["v"])): r["n"] for r in rows}}


def custom_xy_plot(qs: QuerySet[Sample], x: str, y: str) -> dict[str, list[dict[str, int]]]:
    """``{x_value: [{y_value: samples}, …]}`` over samples with both values."""
    props = property_types()
    rows = (
        qs.annotate(xv=value_expression(x, props), yv=value_expression(y, props))
        .filter(xv__isnull=False, yv__isnull=False)
        .values("xv", "yv")
        .annotate(n=Count("pk"))
        .order_by("xv", "yv")
    )
    result: dict[str, list[dict[str, int]]] = defaultdict(list)
    for r in rows:
        result[str(plain_value(r["xv"]))].append({str(plain_value(r["yv"])): r["n"]})
    return dict(result)
