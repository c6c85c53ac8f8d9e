"""Parameters and responses of the ``/api/analytics/`` endpoints (docs/api.md, "Analytics")."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from ninja import Field, Schema

from emgsonar.pagination import MAX_ROWS
from ena_like.analytics.mutations import Bin, Level, Ordering
from ena_like.schemas import FilterParams

_MIN_PROPORTION = Field(
    0.05,
    ge=0,
    le=1,
    description="Leave out mutations with count / coverage below this (0 lists every one)",
)
_LIMIT = Field(None, ge=1, le=MAX_ROWS, description="At most this many rows (all by default)")
_ORDERING = Field(
    Ordering.COUNT_DESC,
    description="count, proportion, coverage or position; '-' for descending; ties by position",
)


class _AnalyticsParams(FilterParams):
    """A reference (required: positions and lineages belong to one) and the sonar filter."""


class NtFrequencyParams(_AnalyticsParams):
    min_proportion: float = _MIN_PROPORTION
    replicon: str | None = Field(None, description="Only mutations of this replicon (accession)")
    ordering: Ordering = _ORDERING
    limit: int | None = _LIMIT


class AaFrequencyParams(_AnalyticsParams):
    min_proportion: float = _MIN_PROPORTION
    gene: str | None = Field(None, description="Only mutations of this CDS or gene (symbol)")
    ordering: Ordering = _ORDERING
    limit: int | None = _LIMIT


class InsertionParams(_AnalyticsParams):
    level: Level = Field(Level.NT, description="nt: nucleotide insertions, aa: amino-acid ones")
    min_proportion: float = _MIN_PROPORTION
    replicon: str | None = Field(None, description="Only insertions of this replicon (nt)")
    gene: str | None = Field(None, description="Only insertions in this CDS or gene (aa)")
    ordering: Ordering = _ORDERING
    limit: int | None = _LIMIT


class OverTimeParams(_AnalyticsParams):
    mutations: str = Field(
        ...,
        min_length=1,
        description="Mutation labels, comma separated, NT and AA mixed: S:F456L,S:L455S,A23403G",
    )
    bin: Bin | None = Field(
        None, description="week (ISO, the default), month, or ranges (the date_ranges given)"
    )
    date_ranges: str | None = Field(
        None,
        description="Inclusive ranges start/end, comma separated: "
        "2024-01-01/2024-03-31,2024-04-01/2024-06-30 (implies bin=ranges; may overlap)",
    )


class AggregatedParams(_AnalyticsParams):
    fields: str = Field(
        ...,
        min_length=1,
        description="Fields to group by, comma separated: sample columns, custom properties, "
        "collection_week, collection_month, collection_year, lineage_group",
    )
    ordering: str | None = Field(
        None, description="-count (default), count, or one of the fields; '-' for descending"
    )
    limit: int | None = _LIMIT
    lineage_depth: int = Field(
        2, ge=1, le=30, description="lineage_group: the lineage's first N dot-segments"
    )
    lineage_groups: str | None = Field(
        None,
        description="lineage_group: the most specific of these lineages (comma separated) the "
        "sample's lineage descends from, via the lineage tree (aliases, recombinants); Other "
        "when none",
    )


# --- responses ---------------------------------------------------------------------------------
class _FrequencyRow(Schema):
    mutation: str = Field(
        description="The stored label (AA with its CDS prefix; NT without the replicon, which "
        "a filter on a multi-replicon reference needs as a prefix: <replicon>:<label>)"
    )
    position: int = Field(description="1-based first base/residue (an insertion's anchor)")
    ref: str
    alt: str = Field(description="'' for a deletion; anchor + inserted for an insertion")
    kind: Literal["sub", "del", "ins"]
    count: int = Field(description="Filtered samples carrying the mutation")
    coverage: int = Field(
        description="Filtered samples with data over the mutation's span (covered, no N/X)"
    )
    proportion: float = Field(description="count / coverage")


class NtFrequencyRow(_FrequencyRow):
    replicon: str = Field(description="Replicon accession")


class AaFrequencyRow(_FrequencyRow):
    cds: str = Field(description="CDS symbol, the label's prefix")


class _FrequencyOut(Schema):
    reference: str
    filtered_samples: int = Field(description="Samples matching the filter")
    min_proportion: float


class NtFrequencyOut(_FrequencyOut):
    mutations: list[NtFrequencyRow]


class AaFrequencyOut(_FrequencyOut):
    mutations: list[AaFrequencyRow]


class InsertionsOut(_FrequencyOut):
    level: Level
    insertions: list[NtFrequencyRow] | list[AaFrequencyRow]


class BinOut(Schema):
    name: str = Field(description="2024-W36, 2024-09 or 2024-01-01/2024-03-31")
    start: dt.date
    end: dt.date = Field(description="Last day, inclusive")


class MutationSeriesOut(Schema):
    mutation: str
    count: list[int] = Field(description="Per bin: filtered samples of the bin carrying it")
    coverage: list[int] = Field(description="Per bin: filtered samples of the bin with data there")
    proportion: list[float | None] = Field(description="count / coverage; null where coverage 0")


class OverTimeOut(Schema):
    reference: str
    bin: Bin
    bins: list[BinOut] = Field(
        description="Ranges as given; weeks/months from the first to the last with dated samples"
    )
    mutations: list[MutationSeriesOut]


class AggregatedOut(Schema):
    reference: str
    filtered_samples: int
    fields: list[str]
    rows: list[dict[str, str | int | float | bool | None]] = Field(
        description="One per combination of values: the fields and 'count'"
    )
