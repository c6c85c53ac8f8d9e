"""Admin pages for studies, samples, properties and sequences."""

from django.contrib import admin

from ena_like.models import (
    Property,
    Sample,
    SampleFieldCoverage,
    SampleProperty,
    SampleSequence,
    Sequence,
    Study,
)


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
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
class SampleAdmin(admin.ModelAdmin):
    list_display = (
        "name", "reference", "lineage", "collection_date", "country", "lab", "qc_status",
    )  # fmt: skip
    list_filter = ("reference", "genome_completeness", "data_set", "qc_status")
    search_fields = ("name", "lineage")
    date_hierarchy = "collection_date"
    raw_id_fields = ("study", "created_by_run", "updated_by_run")
    # derived by the loader from the alignments (sample index), never edited by hand
    readonly_fields = (
        "nt_mutation_ids", "aa_mutation_ids", *Sample.QC_FIELDS, "init_upload_date",
        "last_update_date",
    )  # fmt: skip
    inlines = (SampleSequenceInline, SamplePropertyInline)
    show_full_result_count = False


@admin.register(Property)
class PropertyAdmin(admin.ModelAdmin):
    list_display = ("name", "datatype", "description")
    list_filter = ("datatype",)
    search_fields = ("name",)


@admin.register(SampleProperty)
class SamplePropertyAdmin(admin.ModelAdmin):
    list_display = (
        "sample",
        "property",
        "value_integer",
        "value_float",
        "value_date",
        "value_text",
        "value_bool",
    )
    list_filter = ("property",)
    raw_id_fields = ("sample",)
    show_full_result_count = False


@admin.register(Sequence)
class SequenceAdmin(admin.ModelAdmin):
    list_display = ("seqhash", "length", "created")
    search_fields = ("=seqhash",)
    raw_id_fields = ("created_by_run",)
    show_full_result_count = False


@admin.register(SampleSequence)
class SampleSequenceAdmin(admin.ModelAdmin):
    list_display = ("name", "sample", "sequence", "updated")
    search_fields = ("name", "sample__name")
    raw_id_fields = ("sample", "sequence", "updated_by_run")
    show_full_result_count = False


@admin.register(SampleFieldCoverage)
class SampleFieldCoverageAdmin(admin.ModelAdmin):
    """Maintained by the loader; read-only here (editing it would break its exactness)."""

    list_display = ("reference", "field", "samples")
    list_filter = ("reference",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
