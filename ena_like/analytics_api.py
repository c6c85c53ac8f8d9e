"""``/api/analytics/``: mutation frequencies, trends and grouped counts (docs/api.md, "Analytics").

Every endpoint takes the sonar-compatible ``reference`` + ``filters`` and compiles them with the
one filter engine (:func:`ena_like.queries.filtering.filtered_samples`); the answers come from
:mod:`ena_like.analytics`. Views stay thin: parse, call, shape.
"""

from __future__ import annotations

import datetime as dt
import re

from django.http import HttpRequest
from ninja import Query, Router

from emgsonar.auth import READ_AUTH
from ena_like.analytics import aggregated as grouping
from ena_like.analytics import mutations as freq
from ena_like.analytics.schemas import (
    AaFrequencyOut,
    AaFrequencyParams,
    AggregatedOut,
    AggregatedParams,
    InsertionParams,
    InsertionsOut,
    NtFrequencyOut,
    NtFrequencyParams,
    OverTimeOut,
    OverTimeParams,
)
from ena_like.filters import FilterCompiler, FilterError
from ena_like.queries.filtering import SampleQuery, filtered_count, filtered_samples
from ena_like.schemas import ErrorOut, ValidationErrorOut

router = Router(tags=["analytics"], auth=READ_AUTH)

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ValidationErrorOut}


def _query(params) -> tuple[SampleQuery, FilterCompiler]:
    """The filtered samples and a compiler of their reference (required here).

    :raises FilterError: no reference given.
    """
    if not params.accession():
        raise FilterError(
            "analytics need a reference", hint="Add reference=<accession>, e.g. MN908947.3"
        )
    query = filtered_samples(params.accession(), params.filters)
    assert query.reference is not None
    return query, query.compiler or FilterCompiler(query.reference)


def _rows(rows: list[freq.Frequency], level: freq.Level) -> list[dict]:
    part = "replicon" if level is freq.Level.NT else "cds"
    return [
        {
            "mutation": r.label,
            part: r.part,
            "position": r.position,
            "ref": r.ref,
            "alt": r.alt,
            "kind": r.kind,
            "count": r.count,
            "coverage": r.coverage,
            "proportion": round(r.proportion, 6),
        }
        for r in rows
    ]


def _frequency_answer(params, level: freq.Level, insertions: bool) -> dict:
    query, compiler = _query(params)
    parts: tuple[int, ...] = ()
    if level is freq.Level.NT and getattr(params, "replicon", None):
        parts = (compiler.replicon_id(params.replicon),)
    if level is freq.Level.AA and getattr(params, "gene", None):
        parts = compiler.cds_ids(params.gene)
    rows = freq.frequencies(
        query,
        level,
        insertions=insertions,
        parts=parts,
        min_proportion=params.min_proportion,
        ordering=params.ordering,
        limit=params.limit,
    )
    return {
        "reference": query.reference.accession,
        "filtered_samples": filtered_count(query),
        "min_proportion": params.min_proportion,
        "rows": _rows(rows, level),
    }


@router.get("nucleotide_mutations/", response={200: NtFrequencyOut, **ERRORS})
def nucleotide_mutations(request: HttpRequest, params: Query[NtFrequencyParams]):
    """Substitutions and deletions among the filtered samples: count, coverage (samples with
    data there) and proportion, at least ``min_proportion``."""
    answer = _frequency_answer(params, freq.Level.NT, insertions=False)
    return {**answer, "mutations": answer.pop("rows")}


@router.get("amino_acid_mutations/", response={200: AaFrequencyOut, **ERRORS})
def amino_acid_mutations(request: HttpRequest, params: Query[AaFrequencyParams]):
    """Amino-acid substitutions and deletions, as ``nucleotide_mutations/``."""
    answer = _frequency_answer(params, freq.Level.AA, insertions=False)
    return {**answer, "mutations": answer.pop("rows")}


@router.get("insertions/", response={200: InsertionsOut, **ERRORS})
def insertions(request: HttpRequest, params: Query[InsertionParams]):
    """Nucleotide (``level=nt``) or amino-acid insertions, as ``nucleotide_mutations/``."""
    nt = params.level is freq.Level.NT
    if (nt and params.gene) or (not nt and params.replicon):
        raise FilterError(
            f"level={params.level.value} takes "
            + ("replicon, not gene" if nt else "gene, not replicon")
        )
    answer = _frequency_answer(params, params.level, insertions=True)
    return {**answer, "level": params.level, "insertions": answer.pop("rows")}


def _iso_date(text: str, item: str) -> dt.date:
    """:raises FilterError: not a ``YYYY-MM-DD`` date (``/`` separates the range's ends)."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise FilterError(
            f"date range '{item}': {text!r} is not a date YYYY-MM-DD",
            hint="Write ranges as start/end, e.g. 2024-01-01/2024-03-31",
        ) from None


def _bins(params: OverTimeParams) -> freq.BinSpec:
    """The binning asked for. :raises FilterError: bad or missing ranges."""
    if params.date_ranges is None:
        if params.bin is freq.Bin.RANGES:
            raise FilterError(
                "bin=ranges needs date_ranges", hint="e.g. date_ranges=2024-01-01/2024-03-31"
            )
        return freq.BinSpec(params.bin or freq.Bin.WEEK)
    if params.bin not in (None, freq.Bin.RANGES):
        raise FilterError(
            f"bin={params.bin.value} and date_ranges exclude each other",
            hint="Leave out bin (or say bin=ranges) with date_ranges",
        )
    ranges: list[tuple[dt.date, dt.date]] = []
    for item in (i for i in re.split(r"[,\s]+", params.date_ranges.strip()) if i):
        lo, sep, hi = item.partition("/")
        if not sep:
            raise FilterError(
                "a date range is start/end", value=item, hint="e.g. 2024-01-01/2024-03-31"
            )
        ranges.append((_iso_date(lo, item), _iso_date(hi, item)))
    if not ranges:
        raise FilterError("date_ranges names no range", hint="e.g. 2024-01-01/2024-03-31")
    freq.check_ranges(ranges)
    return freq.BinSpec(freq.Bin.RANGES, tuple(ranges))


@router.get("mutations_over_time/", response={200: OverTimeOut, **ERRORS})
def mutations_over_time(request: HttpRequest, params: Query[OverTimeParams]):
    """Count and coverage of each mutation per time bin (by collection date), one response."""
    spec = _bins(params)
    query, compiler = _query(params)
    labels = list(dict.fromkeys(m for m in re.split(r"[,;\s]+", params.mutations) if m))
    targets = freq.resolve_targets(compiler, labels)
    cells = freq.over_time(query, targets, spec)
    keys = freq.bin_keys(spec, {b for _, b in cells})
    series = []
    for label in labels:
        count = [cells.get((label, k), (0, 0))[0] for k in keys]
        coverage = [cells.get((label, k), (0, 0))[1] for k in keys]
        proportion = [round(n / c, 6) if c else None for n, c in zip(count, coverage, strict=True)]
        series.append(
            {"mutation": label, "count": count, "coverage": coverage, "proportion": proportion}
        )
    return {
        "reference": query.reference.accession,
        "bin": spec.kind,
        "bins": [
            {
                "name": freq.bin_name(spec, k),
                "start": freq.bin_start(spec, k),
                "end": freq.bin_end(spec, k),
            }
            for k in keys
        ],
        "mutations": series,
    }


@router.get("aggregated/", response={200: AggregatedOut, **ERRORS})
def aggregated(request: HttpRequest, params: Query[AggregatedParams]):
    """Filtered samples counted per combination of ``fields``."""
    query, _ = _query(params)
    fields = grouping.parse_fields(params.fields)
    groups = [g for g in re.split(r"[,\s]+", params.lineage_groups or "") if g]
    if groups and grouping.LINEAGE_GROUP not in fields:
        raise FilterError("lineage_groups needs the field lineage_group", hint="Add it to fields")
    rows = grouping.aggregated(
        query,
        fields,
        ordering=params.ordering,
        limit=params.limit,
        lineage_depth=params.lineage_depth,
        lineage_groups=groups,
    )
    return {
        "reference": query.reference.accession,
        "filtered_samples": filtered_count(query),
        "fields": fields,
        "rows": rows,
    }
