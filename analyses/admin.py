"""Admin pages for references, annotations, alignments, mutations and lineages."""

from django.contrib import admin

from analyses.models import (
    Alignment,
    AminoAcidMutation,
    Cds,
    CdsSegment,
    Gene,
    Lineage,
    LineageAlias,
    MutationCount,
    MutationEffect,
    NucleotideMutation,
    Reference,
    Replicon,
    UnknownRange,
)


class RepliconInline(admin.TabularInline):
    model = Replicon
    extra = 0
    fields = ("position", "accession", "description", "length", "molecule_type")
    readonly_fields = fields
    show_change_link = True


@admin.register(Reference)
class ReferenceAdmin(admin.ModelAdmin):
    list_display = ("accession", "organism", "description", "created")
    search_fields = ("accession", "organism")
    readonly_fields = ("content_hash", "created", "updated")
    inlines = (RepliconInline,)


class GeneInline(admin.TabularInline):
    model = Gene
    extra = 0
    fields = ("symbol", "locus_tag", "start", "end", "strand")
    readonly_fields = fields


@admin.register(Replicon)
class RepliconAdmin(admin.ModelAdmin):
    list_display = ("accession", "reference", "position", "length", "molecule_type")
    list_filter = ("reference",)
    search_fields = ("accession",)
    inlines = (GeneInline,)


class CdsInline(admin.TabularInline):
    model = Cds
    extra = 0
    fields = ("symbol", "protein_id", "strand", "start", "end", "nt_length")
    readonly_fields = fields
    show_change_link = True


@admin.register(Gene)
class GeneAdmin(admin.ModelAdmin):
    list_display = ("symbol", "replicon", "start", "end", "strand")
    list_filter = ("replicon__reference",)
    search_fields = ("symbol", "locus_tag")
    inlines = (CdsInline,)


class CdsSegmentInline(admin.TabularInline):
    model = CdsSegment
    extra = 0


@admin.register(Cds)
class CdsAdmin(admin.ModelAdmin):
    list_display = ("symbol", "replicon", "strand", "start", "end", "nt_length", "transl_table")
    list_filter = ("replicon__reference",)
    search_fields = ("symbol", "locus_tag", "protein_id")
    inlines = (CdsSegmentInline,)


@admin.register(NucleotideMutation)
class NucleotideMutationAdmin(admin.ModelAdmin):
    list_display = ("label", "replicon", "kind", "start", "end")
    list_filter = ("kind", "replicon")
    search_fields = ("label",)
    show_full_result_count = False


@admin.register(AminoAcidMutation)
class AminoAcidMutationAdmin(admin.ModelAdmin):
    list_display = ("label", "cds", "kind", "start", "end")
    list_filter = ("kind",)
    search_fields = ("label",)
    show_full_result_count = False


@admin.register(MutationEffect)
class MutationEffectAdmin(admin.ModelAdmin):
    list_display = ("mutation", "cds", "seq_ontology", "impact")
    list_filter = ("impact", "seq_ontology")
    raw_id_fields = ("mutation", "cds")
    show_full_result_count = False


@admin.register(Alignment)
class AlignmentAdmin(admin.ModelAdmin):
    list_display = ("id", "sequence", "replicon", "covered", "qc_status", "qc_score", "created")
    list_filter = ("replicon", "qc_status")
    raw_id_fields = ("sequence", "import_run")
    show_full_result_count = False


@admin.register(UnknownRange)
class UnknownRangeAdmin(admin.ModelAdmin):
    list_display = ("alignment", "level", "cds", "span")
    list_filter = ("level",)
    raw_id_fields = ("alignment", "cds")
    show_full_result_count = False


@admin.register(Lineage)
class LineageAdmin(admin.ModelAdmin):
    list_display = ("name", "reference", "full_name", "withdrawn")
    list_filter = ("reference", "withdrawn")
    search_fields = ("name", "full_name")
    filter_horizontal = ("parents",)


@admin.register(LineageAlias)
class LineageAliasAdmin(admin.ModelAdmin):
    list_display = ("alias", "reference", "expansion")
    search_fields = ("alias", "expansion")


@admin.register(MutationCount)
class MutationCountAdmin(admin.ModelAdmin):
    list_display = ("reference", "level", "mutation_id", "samples")
    list_filter = ("reference", "level")


@admin.register(CdsSegment)
class CdsSegmentAdmin(admin.ModelAdmin):
    list_display = ("cds", "order", "start", "end", "strand")
    raw_id_fields = ("cds",)
