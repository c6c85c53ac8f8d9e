"""Admin pages for references, annotations, alignments, mutations and lineages.

Mutations, effects, alignments and unknown ranges run to millions of rows: their list pages
join only small tables (replicons, CDS, references), show the ids of big related rows, and
search by exact, indexed values.
"""

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
from emgsonar.admin_tools import FastListAdmin


class RepliconInline(admin.TabularInline):
    model = Replicon
    extra = 0
    fields = ("position", "accession", "description", "length", "molecule_type")
    readonly_fields = fields
    show_change_link = True


@admin.register(Reference)
class ReferenceAdmin(FastListAdmin):
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
class RepliconAdmin(FastListAdmin):
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
class GeneAdmin(FastListAdmin):
    list_display = ("symbol", "replicon", "start", "end", "strand")
    list_filter = ("replicon__reference",)
    search_fields = ("symbol", "locus_tag")
    inlines = (CdsInline,)


class CdsSegmentInline(admin.TabularInline):
    model = CdsSegment
    extra = 0


@admin.register(Cds)
class CdsAdmin(FastListAdmin):
    list_display = ("symbol", "replicon", "strand", "start", "end", "nt_length", "transl_table")
    list_filter = ("replicon__reference",)
    search_fields = ("symbol", "locus_tag", "protein_id")
    inlines = (CdsSegmentInline,)


@admin.register(NucleotideMutation)
class NucleotideMutationAdmin(FastListAdmin):
    list_display = ("label", "replicon", "kind", "start", "end")
    list_select_related = ("replicon",)
    list_filter = ("kind", "replicon")
    exact_search_fields = ("label",)
    search_help_text = "Exact label, e.g. C241T or del:11288-11296"


@admin.register(AminoAcidMutation)
class AminoAcidMutationAdmin(FastListAdmin):
    list_display = ("label", "cds", "kind", "start", "end")
    list_select_related = ("cds",)
    list_filter = ("kind",)
    exact_search_fields = ("label",)
    search_help_text = "Exact label, e.g. S:N501Y"


@admin.register(MutationEffect)
class MutationEffectAdmin(FastListAdmin):
    list_display = ("mutation_id", "cds", "seq_ontology", "impact")
    list_select_related = ("cds",)
    # a filter on seq_ontology would read every row for its links; search it instead
    list_filter = ("impact",)
    exact_search_fields = ("seq_ontology", "mutation__label")
    search_help_text = "Exact Sequence Ontology term or mutation label"
    raw_id_fields = ("mutation", "cds")


@admin.register(Alignment)
class AlignmentAdmin(FastListAdmin):
    list_display = (
        "id", "sequence_id", "replicon", "covered", "qc_status", "qc_score", "created",
    )  # fmt: skip
    list_select_related = ("replicon",)
    list_filter = ("replicon", "qc_status")
    exact_search_fields = ("sequence__seqhash",)
    search_help_text = "Exact seqhash of the sequence"
    raw_id_fields = ("sequence", "import_run")


@admin.register(UnknownRange)
class UnknownRangeAdmin(FastListAdmin):
    list_display = ("alignment_id", "level", "cds", "span")
    list_select_related = ("cds",)
    list_filter = ("level",)
    raw_id_fields = ("alignment", "cds")


@admin.register(Lineage)
class LineageAdmin(FastListAdmin):
    list_display = ("name", "reference", "full_name", "withdrawn")
    list_filter = ("reference", "withdrawn")
    search_fields = ("name", "full_name")
    filter_horizontal = ("parents",)


@admin.register(LineageAlias)
class LineageAliasAdmin(FastListAdmin):
    list_display = ("alias", "reference", "expansion")
    search_fields = ("alias", "expansion")


@admin.register(MutationCount)
class MutationCountAdmin(FastListAdmin):
    list_display = ("reference", "level", "mutation_id", "samples")
    list_select_related = ("reference",)
    list_filter = ("reference", "level")


@admin.register(CdsSegment)
class CdsSegmentAdmin(FastListAdmin):
    list_display = ("cds", "order", "start", "end", "strand")
    raw_id_fields = ("cds",)
