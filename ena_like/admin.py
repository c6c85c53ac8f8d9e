"""Admin pages for studies, samples, properties and sequences.

Samples, their properties and sequences run to millions of rows: their list pages show the ids
of big related rows instead of joining them, and search by exact, indexed values.
"""

from __future__ import annotations

import datetime as dt
import re

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from emgsonar.admin_tools import FastListAdmin
from ena_like.models import (
    Property,
    Sample,
    SampleFieldCoverage,
    SampleProperty,
    SampleSequence,
    Sequence,
    Study,
)

#: a collection date as people type it: 2022, 2022-01 or 2022-01-18
DATE_TERM = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def date_range(term: str) -> tuple[dt.date, dt.date] | None:
    """``[first, after)`` days of the year, month or day ``term`` names, or ``None`` (also for
    an impossible date such as 2022-13, which is then searched as a name)."""
    match = DATE_TERM.match(term)
    if match is None:
        return None
    year, month, day = (int(part) if part else None for part in match.groups())
    try:
        if day is not None:
            first = dt.date(year, month, day)
            return first, first + dt.timedelta(days=1)
        if month is not None:
            first = dt.date(year, month, 1)
            return first, (first + dt.timedelta(days=31)).replace(day=1)
        return dt.date(year, 1, 1), dt.date(year + 1, 1, 1)
    except ValueError:
        return None


@admin.register(Study)
class StudyAdmin(FastListAdmin):
    list_display = ("accession", "title", "created")
    search_fields = ("accession", "title")


class SamplePropertyInline(admin.TabularInline):
    model = SampleProperty
    extra = 0
    autocomplete_fields = ("property",)


class SampleSequenceInline(admin.TabularInline):
    model = SampleSequence
    extra = 0
    raw_id_fields = ("sequence", "updated_by_run")


@admin.register(Sample)
class SampleAdmin(FastListAdmin):
    list_display = (
        "name", "reference", "lineage", "collection_date", "country", "lab", "qc_status",
    )  # fmt: skip
    #: references are a handful of rows; nothing else is joined
    list_select_related = ("reference",)
    # no date_hierarchy and no filter on free-text columns: both read every row for their links
    list_filter = ("reference", "collection_date", "genome_completeness", "qc_status")
    exact_search_fields = ("name", "lineage")
    search_help_text = (
        "An exact sample name or lineage, the start of a name, or a collection date "
        "(2022, 2022-01, 2022-01-18)"
    )
    raw_id_fields = ("study", "created_by_run", "updated_by_run")
    # derived by the loader from the alignments (sample index), never edited by hand
    readonly_fields = (
        "nt_mutation_ids", "aa_mutation_ids", *Sample.QC_FIELDS, "init_upload_date",
        "last_update_date",
    )  # fmt: skip
    inlines = (SampleSequenceInline, SamplePropertyInline)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """Name, lineage or date, each with a condition an index serves."""
        term = search_term.strip()
        days = date_range(term)
        if days is not None:
            return queryset.filter(collection_date__gte=days[0], collection_date__lt=days[1]), False
        if not term:
            return queryset, False
        return queryset.filter(Q(name=term) | Q(lineage=term) | Q(name__startswith=term)), False


@admin.register(Property)
class PropertyAdmin(FastListAdmin):
    list_display = ("name", "datatype", "description")
    list_filter = ("datatype",)
    search_fields = ("name",)


@admin.register(SampleProperty)
class SamplePropertyAdmin(FastListAdmin):
    list_display = (
        "sample_id", "property", "value_integer", "value_float", "value_date", "value_text",
        "value_bool",
    )  # fmt: skip
    list_select_related = ("property",)
    list_filter = ("property",)
    exact_search_fields = ("sample__name",)
    search_help_text = "Exact sample name"
    raw_id_fields = ("sample",)


@admin.register(Sequence)
class SequenceAdmin(FastListAdmin):
    list_display = ("seqhash", "length", "created")
    exact_search_fields = ("seqhash",)
    search_help_text = "Exact seqhash"
    raw_id_fields = ("created_by_run",)


@admin.register(SampleSequence)
class SampleSequenceAdmin(FastListAdmin):
    list_display = ("name", "sample_id", "sequence_id", "updated")
    exact_search_fields = ("name", "sample__name")
    search_help_text = "Exact record or sample name"
    raw_id_fields = ("sample", "sequence", "updated_by_run")


@admin.register(SampleFieldCoverage)
class SampleFieldCoverageAdmin(FastListAdmin):
    """Maintained by the loader; read-only here (editing it would break its exactness)."""

    list_display = ("reference", "field", "samples")
    list_select_related = ("reference",)
    list_filter = ("reference",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
