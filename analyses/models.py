"""References and everything computed against them: alignments, mutations, effects, lineages.

Coordinates are 0-based and half-open everywhere in the database (like BED and Python slices);
1-based labels are made only at the edges (``label`` columns, API). See docs/design.md.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField, IntegerRangeField
from django.contrib.postgres.indexes import GistIndex
from django.db import models

from analyses.calling.types import QcStatus as CoreQcStatus
from emgsonar.models import ImportRun, TimeStampedModel


class QcStatus(models.TextChoices):
    """Nextclade's QC category of a sequence (the calling core's :class:`CoreQcStatus`)."""

    GOOD = CoreQcStatus.GOOD.value
    MEDIOCRE = CoreQcStatus.MEDIOCRE.value
    BAD = CoreQcStatus.BAD.value


class Strand(models.IntegerChoices):
    """Strand of a feature on its replicon."""

    FORWARD = 1, "+"
    REVERSE = -1, "-"


class Reference(TimeStampedModel):
    """A reference genome (organism): one or more replicons imported together from GenBank."""

    accession = models.CharField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    organism = models.CharField(max_length=255, blank=True)
    #: SHA-256 of the parsed content: the same files again are a no-op, different ones a clash
    content_hash = models.CharField(max_length=64)
    source_files = models.JSONField(default=list, blank=True)
    import_run = models.ForeignKey(ImportRun, null=True, blank=True, on_delete=models.SET_NULL)

    def __str__(self) -> str:
        return self.accession


class Replicon(models.Model):
    """One molecule of a reference (chromosome, segment): one GenBank record."""

    reference = models.ForeignKey(Reference, on_delete=models.CASCADE, related_name="replicons")
    accession = models.CharField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    molecule_type = models.CharField(max_length=32, blank=True)
    topology = models.CharField(max_length=16, blank=True)
    #: order of the record within the reference import (segment number for influenza)
    position = models.PositiveSmallIntegerField(default=0)
    length = models.IntegerField()
    sequence = models.TextField()

    class Meta:
        ordering = ["reference_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["reference", "position"], name="uniq_replicon_pos")
        ]

    def __str__(self) -> str:
        return self.accession


class Gene(models.Model):
    """A ``gene`` feature (span only; coding parts are :class:`Cds`)."""

    replicon = models.ForeignKey(Replicon, on_delete=models.CASCADE, related_name="genes")
    symbol = models.CharField(max_length=100)
    locus_tag = models.CharField(max_length=100, blank=True)
    description = models.TextField(blank=True)
    start = models.IntegerField()
    end = models.IntegerField()
    strand = models.SmallIntegerField(choices=Strand.choices)

    class Meta:
        ordering = ["replicon_id", "start", "symbol"]
        indexes = [models.Index(fields=["symbol"])]

    def __str__(self) -> str:
        return self.symbol


class Cds(models.Model):
    """A coding sequence with its reference protein; AA mutations are relative to it.

    ``symbol`` is the name used in AA labels (``S:D614G``) and is unique per reference.
    """

    replicon = models.ForeignKey(Replicon, on_delete=models.CASCADE, related_name="cds")
    gene = models.ForeignKey(
        Gene, null=True, blank=True, on_delete=models.SET_NULL, related_name="cds"
    )
    symbol = models.CharField(max_length=100)
    locus_tag = models.CharField(max_length=100, blank=True)
    protein_id = models.CharField(max_length=64, blank=True)
    product = models.TextField(blank=True)
    strand = models.SmallIntegerField(choices=Strand.choices)
    #: span on the replicon covering all segments, for overlap lookups
    start = models.IntegerField()
    end = models.IntegerField()
    nt_length = models.IntegerField()
    translation = models.TextField()
    transl_table = models.PositiveSmallIntegerField(default=1)
    codon_start = models.PositiveSmallIntegerField(default=1)

    class Meta:
        verbose_name = "CDS"
        verbose_name_plural = "CDS"
        ordering = ["replicon_id", "start", "symbol"]
        indexes = [models.Index(fields=["symbol"])]

    def __str__(self) -> str:
        return self.symbol


class CdsSegment(models.Model):
    """One part of a (possibly joined) CDS, in translation order."""

    cds = models.ForeignKey(Cds, on_delete=models.CASCADE, related_name="segments")
    order = models.PositiveSmallIntegerField()
    start = models.IntegerField()
    end = models.IntegerField()
    strand = models.SmallIntegerField(choices=Strand.choices)

    class Meta:
        ordering = ["cds_id", "order"]
        constraints = [models.UniqueConstraint(fields=["cds", "order"], name="uniq_cds_segment")]

    def __str__(self) -> str:
        return f"{self.cds_id}#{self.order} {self.start}-{self.end}"


class MutationKind(models.TextChoices):
    """Kinds of mutation, shared by nucleotide and amino-acid tables."""

    SUBSTITUTION = "sub"
    DELETION = "del"
    INSERTION = "ins"


class NucleotideMutation(models.Model):
    """One distinct nucleotide change on a replicon, stored once for all sequences.

    Insertions: ``start`` = anchor position, ``end`` = start + 1, ``ref`` = anchor base, ``alt`` =
    anchor + inserted bases. Deletions: ``alt`` is empty. The id is a 32-bit integer because
    alignments and samples hold ids in ``int4[]`` arrays (``gin__int_ops`` works on int4 only).
    """

    id = models.AutoField(primary_key=True)
    replicon = models.ForeignKey(Replicon, on_delete=models.CASCADE, related_name="mutations")
    kind = models.CharField(max_length=3, choices=MutationKind.choices)
    start = models.IntegerField()
    end = models.IntegerField()
    ref = models.TextField()
    alt = models.TextField(blank=True)
    #: sonar label without replicon prefix (``A23403G``, ``del:11288-11296``)
    label = models.CharField(max_length=255)
    first_seen_run = models.ForeignKey(
        ImportRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["replicon", "start", "end", "ref", "alt"], name="uniq_nt_mutation"
            )
        ]
        indexes = [
            models.Index(fields=["replicon", "label"]),
            models.Index(fields=["replicon", "start"]),
        ]

    def __str__(self) -> str:
        return self.label


class AminoAcidMutation(models.Model):
    """One distinct amino-acid change in a CDS (residue coordinates, 0-based half-open)."""

    id = models.AutoField(primary_key=True)
    cds = models.ForeignKey(Cds, on_delete=models.CASCADE, related_name="mutations")
    kind = models.CharField(max_length=3, choices=MutationKind.choices)
    start = models.IntegerField()
    end = models.IntegerField()
    ref = models.TextField()
    alt = models.TextField(blank=True)
    #: sonar label with CDS prefix (``S:D614G``, ``S:del:69-70``)
    label = models.CharField(max_length=255)
    first_seen_run = models.ForeignKey(
        ImportRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["cds", "start", "end", "ref", "alt"], name="uniq_aa_mutation"
            )
        ]
        indexes = [models.Index(fields=["cds", "label"]), models.Index(fields=["label"])]

    def __str__(self) -> str:
        return self.label


class Impact(models.TextChoices):
    """SnpEff's putative impact classes."""

    HIGH = "HIGH"
    MODERATE = "MODERATE"
    LOW = "LOW"
    MODIFIER = "MODIFIER"


class MutationEffect(models.Model):
    """The effect of a nucleotide mutation on one CDS (or on none: intergenic/upstream)."""

    mutation = models.ForeignKey(
        NucleotideMutation, on_delete=models.CASCADE, related_name="effects"
    )
    cds = models.ForeignKey(Cds, null=True, blank=True, on_delete=models.CASCADE)
    seq_ontology = models.CharField(max_length=64)
    impact = models.CharField(max_length=8, choices=Impact.choices)

    class Meta:
        constraints = [
            # intergenic effects have no CDS: NULLs must not count as distinct here
            models.UniqueConstraint(
                fields=["mutation", "cds", "seq_ontology"],
                name="uniq_mutation_effect",
                nulls_distinct=False,
            )
        ]
        indexes = [models.Index(fields=["seq_ontology"]), models.Index(fields=["impact"])]

    def __str__(self) -> str:
        return f"{self.mutation_id} {self.seq_ontology} {self.impact}"


class Alignment(models.Model):
    """The calls of one distinct sequence against one replicon.

    The mutation links are integer arrays of mutation ids (GIN ``gin__int_ops``): one row per
    alignment instead of ~100 link rows, and a containment query (``@>``) answers "which
    alignments carry these mutations" from the index. ``aa_parents`` maps each AA mutation id to
    the NT mutation ids of *this* sequence that caused it.
    """

    sequence = models.ForeignKey(
        "ena_like.Sequence", on_delete=models.CASCADE, related_name="alignments"
    )
    replicon = models.ForeignKey(Replicon, on_delete=models.CASCADE, related_name="alignments")
    #: reference span from the first to the last aligned base
    covered = IntegerRangeField()
    #: reverse-complemented input that was called on the forward strand
    reverse_complemented = models.BooleanField(default=False)
    frameshift_cds = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    nt_mutation_ids = ArrayField(models.IntegerField(), default=list, blank=True)
    aa_mutation_ids = ArrayField(models.IntegerField(), default=list, blank=True)
    aa_parents = models.JSONField(default=dict, blank=True)
    aligner = models.CharField(max_length=64, blank=True)
    #: sequence QC (docs/calling.md): overall status and score, coverage of the replicon, N
    #: bases; ``qc`` holds every rule (``analyses.calling.qc.qc_json``). NULL for alignments
    #: loaded before QC existed. Not indexed: queries filter the samples' copies.
    qc_status = models.CharField(max_length=8, choices=QcStatus.choices, null=True, blank=True)
    qc_score = models.FloatField(null=True, blank=True)
    coverage = models.FloatField(null=True, blank=True)
    missing_data = models.IntegerField(null=True, blank=True)
    qc = models.JSONField(null=True, blank=True)
    import_run = models.ForeignKey(ImportRun, null=True, blank=True, on_delete=models.SET_NULL)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sequence", "replicon"], name="uniq_alignment")
        ]
        # No GIN on these arrays: queries filter the Sample arrays (the derived index); the
        # alignment arrays are read by primary key only, and their GIN indexes cost two thirds
        # of the index build at 1M genomes (bench/RESULTS.md). The replicon FK has its index.

    def __str__(self) -> str:
        return f"{self.sequence_id}→{self.replicon_id}"


class UnknownRange(models.Model):
    """A stretch without information inside the covered range: N run or unaligned gap (NT), or
    residues that cannot be read (AA: N, outside coverage, after a frameshift).

    Stored as ranges, never one row per base; with ``showNX`` the API expands them to sonar's
    per-base labels, and ``G10147N`` queries use the GiST index.
    """

    class Level(models.TextChoices):
        NUCLEOTIDE = "nt"
        AMINO_ACID = "aa"

    alignment = models.ForeignKey(
        Alignment, on_delete=models.CASCADE, related_name="unknown_ranges"
    )
    level = models.CharField(max_length=2, choices=Level.choices)
    cds = models.ForeignKey(Cds, null=True, blank=True, on_delete=models.CASCADE)
    span = IntegerRangeField()

    class Meta:
        indexes = [
            models.Index(fields=["alignment", "level"]),
            GistIndex(fields=["span"], name="unknown_span_gist"),
        ]

    def __str__(self) -> str:
        return f"{self.alignment_id} {self.level} {self.span}"


class Lineage(models.Model):
    """A lineage name of a reference's nomenclature (Pango for SARS-CoV-2).

    Several parents are allowed: recombinants (``XBB``) descend from two lineages.
    ``full_name`` is the alias-expanded name (``BA.5`` → ``B.1.1.529.5``).
    """

    reference = models.ForeignKey(Reference, on_delete=models.CASCADE, related_name="lineages")
    name = models.CharField(max_length=100)
    full_name = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    withdrawn = models.BooleanField(default=False)
    parents = models.ManyToManyField("self", symmetrical=False, related_name="children", blank=True)
    import_run = models.ForeignKey(ImportRun, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["reference_id", "name"]
        constraints = [models.UniqueConstraint(fields=["reference", "name"], name="uniq_lineage")]

    def __str__(self) -> str:
        return self.name


class LineageAlias(models.Model):
    """A Pango alias prefix (``BA`` → ``B.1.1.529``; recombinants list their parents)."""

    reference = models.ForeignKey(Reference, on_delete=models.CASCADE, related_name="aliases")
    alias = models.CharField(max_length=32)
    expansion = models.CharField(max_length=255, blank=True)
    recombinant_parents = ArrayField(models.CharField(max_length=255), default=list, blank=True)

    class Meta:
        verbose_name_plural = "lineage aliases"
        constraints = [
            models.UniqueConstraint(fields=["reference", "alias"], name="uniq_lineage_alias")
        ]

    def __str__(self) -> str:
        return f"{self.alias} → {self.expansion or self.recombinant_parents}"


class MutationCount(TimeStampedModel):
    """Samples per mutation and reference, maintained by the loader.

    Answers the most common question ("how many samples carry S:L452R?") without touching the
    sample table; see docs/design.md.
    """

    class Level(models.TextChoices):
        NUCLEOTIDE = "nt"
        AMINO_ACID = "aa"

    reference = models.ForeignKey(Reference, on_delete=models.CASCADE)
    level = models.CharField(max_length=2, choices=Level.choices)
    mutation_id = models.IntegerField()
    samples = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["reference", "level", "mutation_id"], name="uniq_mutation_count"
            )
        ]

    def __str__(self) -> str:
        return f"{self.level}:{self.mutation_id}={self.samples}"
