"""The maintained counts the sample reads answer from instead of scanning every sample.

``SampleFieldCoverage`` (samples with a value per field, kept exact by the loader, the metadata
service and deletion) and the ``(reference, collection_date)`` index.
"""

import datetime as dt
from collections import defaultdict

from django.db import connection
from django.db.models import Q

from analyses.models import Reference
from ena_like.fields import FIXED_COLUMNS
from ena_like.models import Sample, SampleFieldCoverage

#: the profile "fields" of sonar's metadata coverage (samples with any NT/AA mutation)
PROFILE_FIELDS = ("genomic_profiles", "proteomic_profiles")
#: coverage keys that are not custom properties
DERIVED_FIELDS = {
    SampleFieldCoverage.TOTAL,
    "name",
    *Sample.FIXED_FIELDS,
    "length",
    *PROFILE_FIELDS,
}


def stored_coverage(reference: Reference | None) -> dict[str, int]:
    """``SampleFieldCoverage`` of the reference (of all samples when ``None``): field → samples.

    Maintained by the loader, the metadata service and deletion (``services/sample_index.py``),
    so reading it costs one small query instead of a scan of every sample.
    """
    rows = SampleFieldCoverage.objects.all()
    if reference is not None:
        rows = rows.filter(reference=reference)
    result: dict[str, int] = defaultdict(int)
    for name, n in rows.values_list("field", "samples"):
        result[name] += n
    return dict(result)


def field_coverage(stored: dict[str, int]) -> dict[str, int]:
    """Samples with a value per field as sonar lists them: the sample columns and profiles
    (0 when none), then the custom properties by name."""
    columns = ("name", *Sample.FIXED_FIELDS, "length", *PROFILE_FIELDS)
    result = {name: stored.get(name, 0) for name in columns}
    result.update(sorted((k, n) for k, n in stored.items() if k not in DERIVED_FIELDS))
    return result


def collection_dates(reference: Reference | None) -> tuple[dt.date | None, dt.date | None]:
    """First and latest collection date through the ``(reference, collection_date)`` index:
    min/max per reference (and for samples without one), never a scan of the sample table."""
    table = Sample._meta.db_table
    refs = [reference.pk] if reference is not None else None
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT min(lo), max(hi) FROM (
                SELECT (SELECT min(collection_date) FROM {table} s WHERE s.reference_id = r.id),
                       (SELECT max(collection_date) FROM {table} s WHERE s.reference_id = r.id)
                FROM (SELECT unnest(%s::bigint[]) AS id) r
                UNION ALL
                SELECT (SELECT min(collection_date) FROM {table} WHERE reference_id IS NULL),
                       (SELECT max(collection_date) FROM {table} WHERE reference_id IS NULL)
                WHERE %s
            ) AS x(lo, hi)
            """,
            [
                refs if refs is not None else list(Reference.objects.values_list("pk", flat=True)),
                refs is None,
            ],
        )
        return cursor.fetchone()


def has_value(field: str) -> Q:
    """A sample has a value in ``field``: not NULL, and text also not empty (as
    ``services/sample_index.py`` counts it)."""
    q = Q(**{f"{field}__isnull": False})
    if FIXED_COLUMNS.get(field) == "text":
        q &= ~Q(**{field: ""})
    return q
