"""ENA-like objects: studies, samples, their metadata, and sequence records.

A *sample* is what users query (one genome of one organism, possibly several segment records).
A *sequence* is content: one row per distinct harmonised sequence (``seqhash``), aligned once,
shared by every record that carries it. A *sequence record* (``SampleSequence``) is a named
FASTA record of a sample pointing at its content; replacing a record's sequence re-points it, so
a sample can never keep calls of a sequence it no longer has.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F

from analyses.models import QcStatus
from emgsonar.models import ImportRun, TimeStampedModel


class Study(TimeStampedModel):
    """A group of samples submitted together (ENA project/study or a lab's batch)."""

    accession = models.CharField(max_length=64, unique=True)
    title = models.TextField(blank=True)
    description = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.accession


class Sample(models.Model):
    """One genome of one organism with sonar's fixed metadata columns.

    The fixed columns are real, indexed columns because the API filters, groups and plots on
    them at a million rows; anything else is a typed :class:`SampleProperty`.
    ``nt_mutation_ids``/``aa_mutation_ids`` are the union of the mutation ids of the sample's
    current alignments: a derived index maintained only by the loader, so that a mutation
    filter is one GIN lookup on the table that is counted (see docs/design.md).
    """

    class Completeness(models.TextChoices):
        COMPLETE = "complete"
        PARTIAL = "partial"

    name = models.CharField(max_length=255, unique=True)
    study = models.ForeignKey(Study, null=True, blank=True, on_delete=models.SET_NULL)
    reference = models.ForeignKey(
        "analyses.Reference",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="samples",
    )
    lineage = models.CharField(max_length=100, null=True, blank=True)
    collection_date = models.DateField(null=True, blank=True)
    country = models.CharField(max_length=100, null=True, blank=True)
    host = models.CharField(max_length=100, null=True, blank=True)
    zip_code = models.CharField(max_length=20, null=True, blank=True)
    lab = models.CharField(max_length=255, null=True, blank=True)
    sequencing_tech = models.CharField(max_length=100, null=True, blank=True)
    sequencing_reason = models.CharField(max_length=100, null=True, blank=True)
    genome_completeness = models.CharField(
        max_length=16, choices=Completeness.choices, null=True, blank=True
    )
    data_set = models.CharField(max_length=100, null=True, blank=True)
    #: total length of the sample's sequences (sonar's ``length`` property)
    length = models.IntegerField(null=True, blank=True)
    nt_mutation_ids = ArrayField(models.IntegerField(), default=list, blank=True)
    aa_mutation_ids = ArrayField(models.IntegerField(), default=list, blank=True)
    #: sequence QC over the sample's current alignments, derived with the arrays: the worst
    #: status and score, coverage of the whole reference, N bases in total
    qc_status = models.CharField(max_length=8, choices=QcStatus.choices, null=True, blank=True)
    qc_score = models.FloatField(null=True, blank=True)
    coverage = models.FloatField(null=True, blank=True)
    missing_data = models.IntegerField(null=True, blank=True)
    init_upload_date = models.DateTimeField(auto_now_add=True)
    last_update_date = models.DateTimeField(auto_now=True)
    created_by_run = models.ForeignKey(
        ImportRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by_run = models.ForeignKey(
        ImportRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    #: sonar's fixed sample columns, in the order the API lists them
    FIXED_FIELDS = (
        "lineage",
        "collection_date",
        "country",
        "host",
        "zip_code",
        "lab",
        "sequencing_tech",
        "sequencing_reason",
        "genome_completeness",
        "data_set",
    )
    #: the derived QC columns, listed as properties after ``length`` (filter, plot, export)
    QC_FIELDS = ("qc_status", "qc_score", "coverage", "missing_data")

    class Meta:
        indexes = [
            models.Index(fields=["reference", "collection_date"]),
            # the genomes page order (sonar's default -collection_date, nulls last, then id):
            # serves a page of 10 from the index instead of sorting a million rows
            models.Index(
                F("reference"),
                F("collection_date").desc(nulls_last=True),
                F("id").desc(),
                name="sample_ref_date_desc",
            ),
            models.Index(fields=["reference", "lineage"]),
            models.Index(fields=["lineage"]),
            models.Index(fields=["country"]),
            models.Index(fields=["lab"]),
            models.Index(fields=["init_upload_date"]),
            # Property filters on QC (``qc_status exact good``, ``coverage gte 0.9``)
            models.Index(fields=["reference", "qc_status"]),
            models.Index(fields=["reference", "qc_score"]),
            models.Index(fields=["reference", "coverage"]),
            models.Index(fields=["reference", "missing_data"]),
            GinIndex(
                fields=["nt_mutation_ids"], name="sample_nt_mut_gin", opclasses=["gin__int_ops"]
            ),
            GinIndex(
                fields=["aa_mutation_ids"], name="sample_aa_mut_gin", opclasses=["gin__int_ops"]
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Property(models.Model):
    """A typed custom metadata field (sonar's ``add_property``)."""

    class DataType(models.TextChoices):
        INTEGER = "integer"
        FLOAT = "float"
        DATE = "date"
        TEXT = "text"
        VARCHAR = "varchar"
        ZIP = "zip"
        BOOL = "bool"

    name = models.CharField(max_length=100, unique=True)
    datatype = models.CharField(max_length=10, choices=DataType.choices)
    description = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "properties"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.datatype})"

    @property
    def value_column(self) -> str:
        """The :class:`SampleProperty` column that holds values of this type."""
        return {
            self.DataType.INTEGER: "value_integer",
            self.DataType.FLOAT: "value_float",
            self.DataType.DATE: "value_date",
            self.DataType.BOOL: "value_bool",
        }.get(self.datatype, "value_text")


class SampleProperty(models.Model):
    """One value of a custom property for one sample, in the column of its type.

    Typed columns (not text) so that ``gt``/``range`` compare numbers and dates as such, each
    with a ``(property, value)`` index.
    """

    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="properties")
    property = models.ForeignKey(Property, on_delete=models.CASCADE, related_name="values")
    value_integer = models.BigIntegerField(null=True, blank=True)
    value_float = models.FloatField(null=True, blank=True)
    value_date = models.DateField(null=True, blank=True)
    value_text = models.TextField(null=True, blank=True)
    value_bool = models.BooleanField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "sample properties"
        constraints = [
            models.UniqueConstraint(fields=["sample", "property"], name="uniq_sample_property")
        ]
        indexes = [
            models.Index(fields=["property", "value_integer"]),
            models.Index(fields=["property", "value_float"]),
            models.Index(fields=["property", "value_date"]),
            models.Index(fields=["property", "value_text"]),
        ]

    def __str__(self) -> str:
        return f"{self.sample_id}:{self.property_id}"

    def get_value(self) -> object:
        """The value, whatever its type."""
        return getattr(self, self.property.value_column)


class SampleFieldCoverage(models.Model):
    """How many samples of a reference have a value in a field: a maintained aggregate.

    ``field`` is a fixed column (``lineage`` …), ``name``, ``length``, ``genomic_profiles`` /
    ``proteomic_profiles`` (non-empty mutation arrays), a custom property's name (samples with
    a value row), or ``*`` (all samples). ``reference`` is null for samples without one.
    Property names cannot clash: fixed and derived names are reserved and ``*`` is not a valid
    property name. Written only by :mod:`ena_like.services.coverage` (called by the loader, the
    metadata service and deletion), exact at every commit; rows that reach 0 are removed. It
    lets ``statistics``/``get_database_info`` answer without scanning a million samples.
    """

    reference = models.ForeignKey(
        "analyses.Reference", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    field = models.CharField(max_length=100)
    samples = models.IntegerField(default=0)

    #: the field holding the number of samples
    TOTAL = "*"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["reference", "field"],
                name="uniq_sample_field_coverage",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return f"{self.reference_id}:{self.field}={self.samples}"


class MutationWeekCount(models.Model):
    """Samples per mutation, collection week and lineage prefix: a maintained aggregate.

    One row per (reference, level, mutation id, week, lineage prefix) with at least one sample:
    samples of the reference with a collection date whose array holds the mutation. ``week`` is
    the number of weeks since 0001-01-01 (a Monday), the week key of the weekly plots;
    ``lineage_group`` is the first two dot-segments of the sample's lineage (``BA.5.3.1`` →
    ``BA.5``; ``''`` without a lineage) — a function of the sample alone, so re-importing the
    lineage tree never invalidates a row (the plot maps a prefix that is not a known lineage to
    ``Unknown`` when it reads). It answers both weekly plots for a single-mutation filter from
    a few thousand rows instead of grouping hundreds of thousands of samples.

    Written only by :mod:`ena_like.services.sample_index` (the loader, the metadata service and
    deletion go through it), exact at every commit; rows that reach 0 are removed.
    """

    pk = models.CompositePrimaryKey("reference", "level", "mutation_id", "week", "lineage_group")
    reference = models.ForeignKey(
        "analyses.Reference", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    level = models.CharField(max_length=2)
    mutation_id = models.IntegerField()
    week = models.IntegerField()
    lineage_group = models.CharField(max_length=100)
    samples = models.IntegerField()

    #: SQL of a sample row's ``week`` (``{table}``: the sample table's name or alias); the weekly
    #: plots group by the same expression
    WEEK_SQL = "({table}.collection_date - DATE '0001-01-01') / 7"
    #: SQL of a lineage's prefix (first two dot-segments); NULL for a NULL lineage
    PREFIX_SQL = r"substring({lineage} from '^[^.]*(?:\.[^.]*)?')"

    def __str__(self) -> str:
        return f"{self.level}:{self.mutation_id}@{self.week}/{self.lineage_group}={self.samples}"


class Sequence(models.Model):
    """A distinct harmonised sequence, identified by its SHA-256 (``seqhash``).

    The sequence text itself is not kept: reference + calls reproduce it outside N runs, and at a
    million genomes the raw text would be ~30 GB.
    """

    seqhash = models.CharField(max_length=64, unique=True)
    length = models.IntegerField()
    created = models.DateTimeField(auto_now_add=True)
    created_by_run = models.ForeignKey(
        ImportRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return self.seqhash[:12]


class SampleSequence(models.Model):
    """A named sequence record (FASTA record id) of a sample: one per segment for influenza."""

    name = models.CharField(max_length=255, unique=True)
    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="records")
    sequence = models.ForeignKey(Sequence, on_delete=models.PROTECT, related_name="records")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    updated_by_run = models.ForeignKey(
        ImportRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["sequence"]), models.Index(fields=["sample"])]

    def __str__(self) -> str:
        return self.name
