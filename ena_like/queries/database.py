"""Sonar's database endpoints: whether every table exists, and the database summary."""

from django.apps import apps
from django.db import connection
from django.db.models import Max, Min

import emgsonar
from analyses.models import Cds, Reference
from ena_like.models import Sample, SampleFieldCoverage, SampleSequence, Sequence
from ena_like.queries.coverage import collection_dates, field_coverage, stored_coverage
from ena_like.queries.values import plain_value


def missing_tables() -> list[str]:
    """Tables of the installed models that do not exist in the database."""
    existing = set(connection.introspection.table_names())
    expected = {
        m._meta.db_table
        for app in ("ena_like", "analyses", "emgsonar")
        for m in apps.get_app_config(app).get_models()
    }
    return sorted(expected - existing)


def database_info() -> dict:
    """Sonar's ``get_database_info`` detail."""
    stored = stored_coverage(None)
    total = stored.get(SampleFieldCoverage.TOTAL, 0)
    coverage = field_coverage(stored) if total else {}
    earliest, latest = collection_dates(None)
    dates = {
        "earliest_sampling_date": earliest,
        "latest_sampling_date": latest,
        # min/max alone: both read from the init_upload_date index
        **Sample.objects.aggregate(
            earliest_genome_import=Min("init_upload_date"),
            latest_genome_import=Max("init_upload_date"),
        ),
    }
    references: dict[str, dict] = {}
    for ref in Reference.objects.prefetch_related("replicons").order_by("id"):
        replicons = list(ref.replicons.all())
        references[ref.organism or ref.accession] = {
            "accession": ref.accession,
            "replicons": [r.accession for r in replicons],
            "reference_length": sum(r.length for r in replicons),
            "annotated_proteins": sorted(
                Cds.objects.filter(replicon__reference=ref).values_list("symbol", flat=True)
            ),
        }
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        size = cursor.fetchone()[0]
    return {
        "metadata_coverage": {k: f"{v} ({v / total * 100:.2f}%)" for k, v in coverage.items()},
        "samples_total": total,
        **{k: plain_value(v) for k, v in dates.items()},
        "unique_sequences": Sequence.objects.count(),
        "genomes": SampleSequence.objects.count(),
        "reference_genome": references,
        "database_size": size,
        "database_version": f"emgsonar {emgsonar.__version__}",
    }
