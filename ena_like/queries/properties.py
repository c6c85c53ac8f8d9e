"""Custom properties and the sample columns as sonar's property endpoints list them.

The property list and chooser of sonar's frontend, the names a filter or plot may use, and the
distinct values of one of them.
"""

from collections import defaultdict
from typing import Any

from django.db.models import Count, QuerySet

from analyses.models import Reference
from emgsonar.errors import NotFoundError
from ena_like.fields import FIXED_COLUMNS
from ena_like.models import Property, Sample, SampleProperty
from ena_like.queries.coverage import has_value, stored_coverage
from ena_like.queries.filtering import samples_of
from ena_like.queries.values import plain_value, property_types, value_expression


def properties() -> QuerySet[Property]:
    """Custom properties by name (the paginated ``properties/`` list)."""
    return Property.objects.order_by("name")


def property_by_id(pk: int) -> Property:
    """One custom property.

    :raises NotFoundError: unknown id.
    """
    found = Property.objects.filter(pk=pk).first()
    if found is None:
        raise NotFoundError("unknown property", value=pk)
    return found


def property_names() -> list[str]:
    """Custom property names, then the sample columns a filter or plot may use."""
    custom = list(Property.objects.order_by("name").values_list("name", flat=True))
    return custom + [name for name in FIXED_COLUMNS if name not in custom]


def distinct_property_values(name: str, reference: Reference | None) -> list[Any]:
    """The distinct values of a column or custom property (``None`` excluded), sorted."""
    qs = samples_of(reference)
    value = value_expression(name, property_types())
    rows = qs.annotate(v=value).filter(v__isnull=False).values_list("v", flat=True)
    return [plain_value(v) for v in rows.distinct().order_by("v")]


#: the sample columns in sonar's ``get_all_properties``, with sonar's query type and our text
_COLUMN_INFO: dict[str, tuple[str, str]] = {
    "name": ("value_varchar", "Sample name (fixed column)"),
    "collection_date": ("value_date", "Date the sample was collected"),
    "lineage": ("value_varchar", "Lineage of the sample"),
    "country": ("value_varchar", "Country the sample comes from"),
    "host": ("value_varchar", "Host organism"),
    "zip_code": ("value_varchar", "Postal code of the sampling site"),
    "lab": ("value_varchar", "Laboratory that sequenced the sample"),
    "sequencing_tech": ("value_varchar", "Sequencing technology"),
    "sequencing_reason": ("value_varchar", "Why the sample was sequenced"),
    "genome_completeness": ("value_varchar", "complete or partial"),
    "data_set": ("value_varchar", "Data set the sample belongs to"),
    "length": ("value_integer", "Total length of the sample's sequences (bases)"),
    "init_upload_date": ("value_date", "When the sample was first imported (fixed column)"),
    "last_update_date": ("value_date", "When the sample was last changed (fixed column)"),
    "qc_status": ("value_varchar", "Sequence QC status: good, mediocre or bad (derived)"),
    "qc_score": ("value_float", "Sequence QC score (derived)"),
    "coverage": ("value_float", "Share of the reference with informative bases (derived)"),
    "missing_data": ("value_integer", "N bases in the sample's sequences (derived)"),
}
#: columns the coverage table does not track (always set, or derived): always counted
_UNTRACKED = {"init_upload_date", "last_update_date", *Sample.QC_FIELDS}
ALL_PROPERTIES_KEYS = ["name", "query_type", "description", "default", "unique_values_count"]


def all_properties(reference: Reference | None) -> list[dict]:
    """Sonar's ``get_all_properties``: the sample columns, then the custom properties by name,
    each with its query type (``value_varchar``, ``value_date`` …, which picks the operators
    the frontend offers) and its number of distinct values among the reference's samples.

    One aggregate over the samples for the columns that have a value at all (the maintained
    coverage says which; names are unique, so their count is the coverage), then one
    ``GROUP BY`` of the custom property rows per value column in use.
    """
    coverage = stored_coverage(reference)
    samples = samples_of(reference)
    counted = [c for c in _COLUMN_INFO if c != "name" and (c in _UNTRACKED or coverage.get(c))]
    distinct = samples.aggregate(
        **{c: Count(c, distinct=True, filter=has_value(c)) for c in counted}
    )
    distinct["name"] = coverage.get("name", 0)
    rows = [
        {
            "name": name,
            "query_type": query_type,
            "description": description,
            "default": None,
            "unique_values_count": distinct.get(name, 0),
        }
        for name, (query_type, description) in _COLUMN_INFO.items()
    ]
    props = list(Property.objects.order_by("name"))
    counts = _property_value_counts(props, samples)
    rows.extend(
        {
            "name": prop.name,
            "query_type": f"value_{prop.datatype}",
            "description": prop.description,
            "default": None,
            "unique_values_count": counts.get(prop.pk, 0),
        }
        for prop in props
    )
    return rows


def _property_value_counts(props: list[Property], samples: QuerySet[Sample]) -> dict[int, int]:
    """Distinct values per custom property among ``samples``: one query per value column."""
    by_column: dict[str, list[int]] = defaultdict(list)
    for prop in props:
        by_column[prop.value_column].append(prop.pk)
    counts: dict[int, int] = {}
    for column, ids in by_column.items():
        rows = (
            SampleProperty.objects.filter(property_id__in=ids, sample__in=samples.values("pk"))
            .values("property_id")
            .annotate(n=Count(column, distinct=True))
            .order_by()
            .values_list("property_id", "n")
        )
        counts.update(rows)
    return counts
