"""Sample counts grouped by any set of fields: one ``GROUP BY`` over the filtered samples.

A field is a sample column (``country``, ``lineage``, ``collection_date``, the QC columns …), a
custom property (its typed value, through :func:`ena_like.queries.values.value_expression`, as
the plots read it), or a derived key:

- ``collection_week`` (ISO week ``2024-W36``), ``collection_month`` (``2024-09``),
  ``collection_year``;
- ``lineage_group``: the lineage cut to its first ``lineage_depth`` dot-segments (sonar's
  grouping is depth 2), or, with ``lineage_groups``, the most specific of the given lineages
  the sample's lineage descends from in the lineage tree (aliases and recombinants included:
  ``XEC`` falls under ``JN.1``), ``Other`` when none.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.db.models import Count, F, IntegerField, TextField
from django.db.models.expressions import Expression, RawSQL

from ena_like.filters import FilterCompiler, FilterError
from ena_like.models import Sample
from ena_like.queries.filtering import SampleQuery
from ena_like.queries.values import plain_value, property_types, value_expression

SAMPLE = Sample._meta.db_table
_DATE = f'"{SAMPLE}"."collection_date"'
_LINEAGE = f'"{SAMPLE}"."lineage"'
#: the group of a lineage under none of the ``lineage_groups``
OTHER = "Other"
#: derived fields and their SQL (``lineage_group`` is built per request)
DERIVED = {
    "collection_week": (f"""to_char({_DATE}, 'IYYY-"W"IW')""", TextField()),
    "collection_month": (f"to_char({_DATE}, 'YYYY-MM')", TextField()),
    "collection_year": (f"extract(year FROM {_DATE})::int", IntegerField()),
}
LINEAGE_GROUP = "lineage_group"
#: orderings besides the fields themselves
COUNT = "count"


def lineage_group_map(query: SampleQuery, groups: list[str]) -> dict[str, str]:
    """Lineage name → the most specific of ``groups`` it descends from (the group with the
    fewest descendants; ties by name). Groups are resolved as a ``Lineages`` filter resolves
    them (aliases, full names, ``*``).

    :raises FilterError: no reference, or an unknown lineage.
    """
    if query.reference is None:
        raise FilterError("'lineage_groups' needs a reference", hint="Add reference=<accession>")
    compiler = query.compiler or FilterCompiler(query.reference)
    members = {g: compiler.lineage_set([g], True) for g in groups}
    mapping: dict[str, str] = {}
    # wider groups first, so narrower ones overwrite them (of equal ones, the first name wins)
    for group in sorted(members, key=lambda g: (len(members[g]), g), reverse=True):
        for name in members[group]:
            mapping[name] = group
    return mapping


def _lineage_group(query: SampleQuery, depth: int, groups: list[str]) -> Expression:
    if groups:
        mapping = json.dumps(lineage_group_map(query, groups))
        return RawSQL(
            f"CASE WHEN {_LINEAGE} IS NULL THEN NULL "
            f"ELSE COALESCE(%s::jsonb ->> {_LINEAGE}, %s) END",
            [mapping, OTHER],
            output_field=TextField(),
        )
    pattern = r"^[^.]*(?:\.[^.]*){0," + str(depth - 1) + "}"
    return RawSQL(f"substring({_LINEAGE} from %s)", [pattern], output_field=TextField())


def _expression(
    name: str, query: SampleQuery, props: dict, depth: int, groups: list[str]
) -> Expression:
    if name == LINEAGE_GROUP:
        return _lineage_group(query, depth, groups)
    if name in DERIVED:
        sql, output = DERIVED[name]
        return RawSQL(sql, [], output_field=output)
    try:
        return value_expression(name, props)
    except FilterError:
        raise FilterError(
            f"unknown field '{name}'",
            hint="Use a sample column (country, lineage, collection_date, …), a custom property "
            f"or one of {', '.join([*DERIVED, LINEAGE_GROUP])}",
        ) from None


def check_fields(fields: list[str]) -> None:
    """:raises FilterError: no field, a repeated one, or ``count`` (the aggregate's name)."""
    if not fields:
        raise FilterError("'fields' needs at least one field", hint="e.g. fields=country,lineage")
    repeated = sorted({f for f in fields if fields.count(f) > 1})
    if repeated:
        raise FilterError(f"field {', '.join(repeated)} given twice in 'fields'")
    if COUNT in fields:
        raise FilterError("'count' is the name of the sample count, not a field")


def aggregated(
    query: SampleQuery,
    fields: list[str],
    *,
    ordering: str | None = None,
    limit: int | None = None,
    lineage_depth: int = 2,
    lineage_groups: list[str] | None = None,
) -> list[dict[str, Any]]:
    """``[{field: value, …, "count": n}]``, one row per combination of values among the
    filtered samples (NULL is a value: samples without one are counted under ``null``).

    :param ordering: ``-count`` (default), ``count``, or a field (``-`` for descending); ties by
        the fields in order.
    :raises FilterError: unknown field or ordering.
    """
    check_fields(fields)
    props = property_types()
    alias = {name: f"_g{i}" for i, name in enumerate(fields)}
    qs = query.queryset.order_by().annotate(
        **{
            alias[name]: _expression(name, query, props, lineage_depth, lineage_groups or [])
            for name in fields
        }
    )
    rows = qs.values(*alias.values()).annotate(count=Count("*"))
    ordering = (ordering or f"-{COUNT}").strip()
    key = ordering.lstrip("-+")
    if key != COUNT and key not in alias:
        raise FilterError(
            f"cannot order by '{key}'",
            hint=f"Order by count or one of the fields: {', '.join(fields)} ('-' descending)",
        )
    column = F(COUNT if key == COUNT else alias[key])
    first = (
        column.desc(nulls_last=True) if ordering.startswith("-") else column.asc(nulls_last=True)
    )
    rows = rows.order_by(first, *(F(a).asc(nulls_last=True) for a in alias.values()))
    if limit is not None:
        rows = rows[:limit]
    return [
        {**{name: plain_value(row[alias[name]]) for name in fields}, COUNT: row[COUNT]}
        for row in rows
    ]


def parse_fields(text: str) -> list[str]:
    """``country, lineage`` → ``["country", "lineage"]``."""
    return [f for f in re.split(r"[,\s]+", text.strip()) if f]
