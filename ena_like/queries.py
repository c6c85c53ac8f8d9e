"""Reads behind the sample endpoints: filtered querysets, genome pages, statistics and plots.

Everything that takes ``filters`` goes through :func:`filtered_samples`, which compiles the
filter tree into one predicate on ``ena_like_sample`` (see ``ena_like/filters``). Pages of
genomes are assembled by :class:`ProfileBuilder` in a fixed number of queries whatever the page
size; nothing loops over samples issuing queries.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.expressions import RawSQL

import emgsonar
from analyses.models import (
    Alignment,
    AminoAcidMutation,
    Cds,
    Lineage,
    MutationCount,
    MutationEffect,
    NucleotideMutation,
    Reference,
    Replicon,
    UnknownRange,
)
from analyses.queries import clean_accession
from emgsonar.errors import NotFoundError
from ena_like.filters import FIXED_COLUMNS, FilterCompiler, FilterError, FilterNode, parse_filters
from ena_like.filters.tree import MutationCondition, ProfileCondition
from ena_like.models import (
    Property,
    Sample,
    SampleFieldCoverage,
    SampleProperty,
    SampleSequence,
    Sequence,
)

#: default ordering of sample lists (api.md); NULL dates last, ties by id (stable pages)
DEFAULT_ORDERING = "-collection_date"


# --- filtered samples ---------------------------------------------------------------------
def reference_or_none(accession: str | None) -> Reference | None:
    """The reference of ``accession`` (quotes stripped), ``None`` when not given.

    :raises NotFoundError: naming the unknown accession.
    """
    accession = clean_accession(accession)
    if not accession:
        return None
    found = Reference.objects.filter(accession=accession).first()
    if found is None:
        raise NotFoundError(f"unknown reference '{accession}'")
    return found


@dataclass
class SampleQuery:
    """A filtered sample queryset with what it was built from."""

    queryset: QuerySet[Sample]
    reference: Reference | None
    tree: FilterNode
    compiler: FilterCompiler | None
    #: every sample of the reference (or all samples): no filter, no name
    unfiltered: bool = False


def filtered_samples(
    reference_accession: str | None, filters: str | dict | None, name: str | None = None
) -> SampleQuery:
    """Samples of the reference that satisfy ``filters`` (and have that ``name``).

    :raises FilterError: bad filters, or filters without a reference.
    :raises NotFoundError: unknown reference.
    """
    reference = reference_or_none(reference_accession)
    tree = parse_filters(filters)
    qs = Sample.objects.all()
    compiler = None
    if reference is not None:
        qs = qs.filter(reference=reference)
        if not tree.is_empty():
            compiler = FilterCompiler(reference)
            qs = qs.filter(compiler.compile(tree))
    elif not tree.is_empty():
        raise FilterError(
            "'filters' needs a reference",
            hint="Add reference_accession=<accession> (or reference=)",
        )
    if name:
        qs = qs.filter(name=name)
    return SampleQuery(qs, reference, tree, compiler, unfiltered=tree.is_empty() and not name)


def match_filters(
    filters: str | None, profile_filters: list[str], param_filters: list[str]
) -> dict | str | None:
    """Sonar's ``match`` parameters as one filter tree, ANDed with ``filters``.

    ``profile_filters``: mutations (each item may hold several, all required).
    ``param_filters``: ``property=value`` (exact) or a JSON filter item.
    """
    if not profile_filters and not param_filters:
        return filters
    items: list[dict] = []
    if filters and filters.strip():
        items.append(parse_filters_json(filters))
    items.extend({"label": "DNA/AA Profile", "value": p} for p in profile_filters if p.strip())
    for param in param_filters:
        text = param.strip()
        if text.startswith("{"):
            items.append(parse_filters_json(text))
        elif "=" in text:
            name, value = text.split("=", 1)
            items.append(
                {
                    "label": "Property",
                    "property_name": name.strip(),
                    "filter_type": "exact",
                    "value": value.strip(),
                }
            )
        elif text:
            raise FilterError(f"param_filters item '{text}' is neither 'property=value' nor JSON")
    return {"andFilter": items}


def parse_filters_json(text: str) -> dict:
    """Decode JSON filter text (errors named as filter errors)."""
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FilterError(f"not valid JSON ({exc.msg})", value=text) from None
    if not isinstance(value, dict):
        raise FilterError("a filter must be a JSON object", value=text)
    return value


def filtered_count(query: SampleQuery) -> int:
    """How many samples match. Without a filter the maintained ``SampleFieldCoverage`` total
    answers, one exact mutation alone ``MutationCount`` (both exact at every commit); anything
    else is counted."""
    if query.unfiltered:
        return stored_coverage(query.reference).get(SampleFieldCoverage.TOTAL, 0)
    fast = _single_mutation_count(query)
    return fast if fast is not None else query.queryset.count()


def _collapse(node: FilterNode) -> FilterNode:
    """The node a tree of single-item wrappers stands for: an ``andFilter`` or ``orFilter``
    with exactly one non-empty item and no own condition *is* that item (sonar's clients send
    ``{"andFilter": [item]}``); empty items are ignored, as the compiler ignores them."""
    while node.condition is None:
        children = [c for c in (*node.and_, *node.or_) if not c.is_empty()]
        if len(children) != 1:
            break
        node = children[0]
    return node


def _single_mutation_count(query: SampleQuery) -> int | None:
    compiler = query.compiler
    if compiler is None:
        return None
    tree = _collapse(query.tree)
    if tree.and_ or tree.or_ or tree.condition is None:
        return None
    cond = tree.condition
    if cond.exclude or not isinstance(cond, ProfileCondition | MutationCondition):
        return None
    single = compiler.single_mutation()
    if single is None:
        return None
    level, mutation_id = single
    return (
        MutationCount.objects.filter(
            reference=query.reference, level=level, mutation_id=mutation_id
        )
        .values_list("samples", flat=True)
        .first()
    )


def _property_types() -> dict[str, Property]:
    return {p.name: p for p in Property.objects.all()}


def _custom_value(prop: Property) -> Subquery:
    return Subquery(
        SampleProperty.objects.filter(sample=OuterRef("pk"), property_id=prop.pk).values(
            prop.value_column
        )[:1]
    )


def ordered(qs: QuerySet[Sample], ordering: str | None) -> QuerySet[Sample]:
    """Order by a column or custom property (``-`` descending); NULLs last, ties by id.

    :raises FilterError: unknown field.
    """
    ordering = (ordering or DEFAULT_ORDERING).strip()
    descending = ordering.startswith("-")
    field = ordering.lstrip("-+")
    if field in FIXED_COLUMNS or field == "id":
        expression = F(field)
    else:
        prop = _property_types().get(field)
        if prop is None:
            raise FilterError(
                f"cannot order by unknown field '{field}'",
                hint="Use a sample column or property name, '-' for descending",
            )
        expression = _custom_value(prop)
    key = expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True)
    return qs.order_by(key, "-id" if descending else "id")


# --- genome profiles ------------------------------------------------------------------------
SAMPLE_COLUMNS = (
    "id",
    "name",
    *Sample.FIXED_FIELDS,
    "length",
    *Sample.QC_FIELDS,
    "nt_mutation_ids",
    "aa_mutation_ids",
    "init_upload_date",
    "last_update_date",
)


def _plain(value: Any) -> Any:
    """Dates as ISO ``YYYY-MM-DD`` (sonar shows dates without time), the rest unchanged."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


#: sonar's suffix on the NT label of an indel that shifts a reading frame (``del:28271*fs``)
FRAMESHIFT_SUFFIX = "*fs"


def is_frameshift_term(seq_ontology: str) -> bool:
    """Whether an effect term marks a frameshift (``frameshift_variant``, possibly combined
    with others as ``frameshift_variant&stop_gained``)."""
    return "frameshift_variant" in seq_ontology


def frameshift_exists() -> Exists:
    """SQL twin of :func:`is_frameshift_term` for ``NucleotideMutation`` rows: true when the
    mutation has a frameshift effect (lets streamed exports label ``*fs`` in their query)."""
    return Exists(
        MutationEffect.objects.filter(
            mutation=OuterRef("pk"), seq_ontology__contains="frameshift_variant"
        )
    )


def nt_label(label: str, frameshift: bool) -> str:
    """The NT label as sonar shows it: stored label, plus ``*fs`` for a frameshifting indel."""
    return label + FRAMESHIFT_SUFFIX if frameshift else label


class ProfileBuilder:
    """Profiles, properties and sequences of a batch of samples in a fixed number of queries.

    Queries: sample properties, sequence records, alignments, NT mutations, their effects, AA
    mutations (6); with ``show_nx`` also unknown ranges, replicon sequences and CDS
    translations (3), expanded to per-base ``N``/per-residue ``X`` labels only for this batch.
    """

    def __init__(self, samples: list[Sample], show_nx: bool = False) -> None:
        self.samples = samples
        self.show_nx = show_nx
        ids = [s.pk for s in samples]
        self.properties: dict[int, list[dict]] = defaultdict(list)
        self.sequences: dict[int, list[int]] = defaultdict(list)
        self.replicons: dict[int, set[str]] = defaultdict(set)
        self.nt: dict[int, dict] = {}
        self.effects: dict[int, list[str]] = defaultdict(list)
        #: effects of an NT mutation on one CDS: (mutation id, CDS id) → effects
        self.cds_effects: dict[tuple[int, int], list[str]] = defaultdict(list)
        #: NT mutations that shift a reading frame (their labels carry sonar's ``*fs``)
        self.frameshifts: set[int] = set()
        self.aa: dict[int, dict] = {}
        #: per sample, each AA mutation's NT parents (from its alignments' ``aa_parents``)
        self.parents: dict[int, dict[int, list[int]]] = defaultdict(dict)
        self.unknown: dict[int, list[tuple]] = defaultdict(list)
        #: per sample, the QC of each aligned replicon (``Alignment.qc``)
        self.qc: dict[int, dict[str, dict]] = defaultdict(dict)
        if not ids:
            return
        for row in (
            SampleProperty.objects.filter(sample_id__in=ids)
            .select_related("property")
            .order_by("property__name")
        ):
            self.properties[row.sample_id].append(
                {"name": row.property.name, "value": _plain(row.get_value())}
            )
        seq_of: dict[int, list[int]] = defaultdict(list)
        for sample_id, sequence_id in SampleSequence.objects.filter(sample_id__in=ids).values_list(
            "sample_id", "sequence_id"
        ):
            self.sequences[sample_id].append(sequence_id)
            seq_of[sequence_id].append(sample_id)
        alignments = list(
            Alignment.objects.filter(sequence_id__in=list(seq_of)).values_list(
                "id", "sequence_id", "replicon__accession", "aa_parents", "qc"
            )
        )
        samples_of_alignment: dict[int, list[int]] = {}
        for aln_id, sequence_id, accession, aa_parents, qc in alignments:
            samples_of_alignment[aln_id] = seq_of[sequence_id]
            for sample_id in seq_of[sequence_id]:
                self.replicons[sample_id].add(accession)
                if qc is not None:
                    self.qc[sample_id][accession] = qc
                parents = self.parents[sample_id]
                for aa_id, nt_ids in (aa_parents or {}).items():
                    parents.setdefault(int(aa_id), []).extend(nt_ids)
        nt_ids = sorted({i for s in samples for i in s.nt_mutation_ids})
        aa_ids = sorted({i for s in samples for i in s.aa_mutation_ids})
        if nt_ids:
            self.nt = {
                row["id"]: row
                for row in NucleotideMutation.objects.filter(id__in=nt_ids).values(
                    "id", "start", "end", "ref", "alt", "label", accession=F("replicon__accession")
                )
            }
            for mutation_id, cds_id, term, impact in (
                MutationEffect.objects.filter(mutation_id__in=nt_ids)
                .order_by("mutation_id", "cds_id", "id")
                .values_list("mutation_id", "cds_id", "seq_ontology", "impact")
            ):
                text = f"{term} {impact}"
                if text not in self.effects[mutation_id]:
                    self.effects[mutation_id].append(text)
                if cds_id is not None:
                    self.cds_effects[(mutation_id, cds_id)].append(text)
                if is_frameshift_term(term):
                    self.frameshifts.add(mutation_id)
        if aa_ids:
            self.aa = {
                row["id"]: row
                for row in AminoAcidMutation.objects.filter(id__in=aa_ids).values(
                    "id",
                    "start",
                    "end",
                    "ref",
                    "alt",
                    "label",
                    "cds_id",
                    symbol=F("cds__symbol"),
                    protein_id=F("cds__protein_id"),
                    accession=F("cds__replicon__accession"),
                )
            }
        if show_nx and samples_of_alignment:
            self._load_unknown(samples_of_alignment)

    def _load_unknown(self, samples_of_alignment: dict[int, list[int]]) -> None:
        rows = list(
            UnknownRange.objects.filter(alignment_id__in=list(samples_of_alignment)).values_list(
                "alignment_id",
                "level",
                "cds_id",
                "span",
                "alignment__replicon_id",
                "alignment__replicon__accession",
            )
        )
        replicon_ids = {r[4] for r in rows if r[1] == UnknownRange.Level.NUCLEOTIDE}
        cds_ids = {r[2] for r in rows if r[1] == UnknownRange.Level.AMINO_ACID and r[2]}
        sequences = dict(Replicon.objects.filter(id__in=replicon_ids).values_list("id", "sequence"))
        cds = {
            c["id"]: c
            for c in Cds.objects.filter(id__in=cds_ids).values(
                "id", "symbol", "protein_id", "translation", accession=F("replicon__accession")
            )
        }
        for aln_id, level, cds_id, span, replicon_id, accession in rows:
            for sample_id in samples_of_alignment[aln_id]:
                if level == UnknownRange.Level.NUCLEOTIDE:
                    self.unknown[sample_id].append(("nt", accession, span, sequences[replicon_id]))
                elif cds_id in cds:
                    self.unknown[sample_id].append(("aa", cds[cds_id], span, None))

    @staticmethod
    def _cds_key(accession: str, protein_id: str, symbol: str) -> str:
        return f"{accession}: {protein_id or symbol}"

    def genomic(self, sample: Sample) -> dict[str, dict[str, list[str]]]:
        """``{replicon: {label: ["<seq_ontology> <impact>", …]}}``, labels by position."""
        per: dict[str, list[tuple]] = {acc: [] for acc in sorted(self.replicons[sample.pk])}
        for mutation_id in sample.nt_mutation_ids:
            row = self.nt.get(mutation_id)
            if row is None or (not self.show_nx and "N" in row["alt"]):
                continue
            label = nt_label(row["label"], mutation_id in self.frameshifts)
            per.setdefault(row["accession"], []).append(
                (row["start"], row["end"], label, self.effects.get(mutation_id, []))
            )
        for level, accession, span, sequence in self.unknown.get(sample.pk, ()):
            if level == "nt":
                for pos in range(span.lower, span.upper):
                    per.setdefault(accession, []).append(
                        (pos, pos + 1, f"{sequence[pos]}{pos + 1}N", [])
                    )
        return {
            acc: {label: effects for _, _, label, effects in sorted(items, key=lambda t: t[:2])}
            for acc, items in sorted(per.items())
        }

    def proteomic(self, sample: Sample) -> dict[str, dict[str, list[str]]]:
        """``{"<replicon>: <CDS>": {label: ["<seq_ontology> <impact>", …]}}``, labels by
        position; an AA mutation's effects are those its NT parents (in this sample) have on
        that CDS, so it is coloured like the change that caused it."""
        per: dict[str, list[tuple]] = defaultdict(list)
        parents = self.parents.get(sample.pk, {})
        for mutation_id in sample.aa_mutation_ids:
            row = self.aa.get(mutation_id)
            if row is None or (not self.show_nx and "X" in row["alt"]):
                continue
            key = self._cds_key(row["accession"], row["protein_id"], row["symbol"])
            effects = self._parent_effects(parents.get(mutation_id, ()), row["cds_id"])
            per[key].append((row["symbol"], row["start"], row["end"], row["label"], effects))
        for level, cds, span, _ in self.unknown.get(sample.pk, ()):
            if level == "aa":
                key = self._cds_key(cds["accession"], cds["protein_id"], cds["symbol"])
                protein = cds["translation"]
                for pos in range(span.lower, min(span.upper, len(protein))):
                    label = f"{cds['symbol']}:{protein[pos]}{pos + 1}X"
                    per[key].append((cds["symbol"], pos, pos + 1, label, []))
        return {
            key: {t[3]: t[4] for t in sorted(items, key=lambda t: t[:4])}
            for key, items in sorted(per.items())
        }

    def _parent_effects(self, parent_ids: Iterable[int], cds_id: int) -> list[str]:
        """The distinct effects of ``parent_ids`` on CDS ``cds_id``, in parent order."""
        effects: list[str] = []
        for parent in sorted(set(parent_ids)):
            for text in self.cds_effects.get((parent, cds_id), ()):
                if text not in effects:
                    effects.append(text)
        return effects

    def properties_of(self, sample: Sample) -> list[dict]:
        """Custom properties, then the fixed columns with a value, then ``length``."""
        result = list(self.properties.get(sample.pk, ()))
        for name in Sample.FIXED_FIELDS:
            value = getattr(sample, name)
            if value not in (None, ""):
                result.append({"name": name, "value": _plain(value)})
        if sample.length is not None:
            result.append({"name": "length", "value": sample.length})
        for name in Sample.QC_FIELDS:
            value = getattr(sample, name)
            if value is not None:
                result.append({"name": name, "value": value})
        return result

    def qc_of(self, sample: Sample) -> dict | None:
        """The sample's QC block: its derived columns and each aligned replicon's rules."""
        if sample.qc_status is None:
            return None
        return {
            "status": sample.qc_status,
            "score": round(sample.qc_score, 2),
            "coverage": round(sample.coverage, 4),
            "missing_data": sample.missing_data,
            "replicons": dict(sorted(self.qc.get(sample.pk, {}).items())),
        }

    def genome(self, sample: Sample) -> dict:
        return {
            "id": sample.pk,
            "name": sample.name,
            "sequences": sorted(self.sequences.get(sample.pk, [])),
            "genomic_profiles": self.genomic(sample),
            "proteomic_profiles": self.proteomic(sample),
            # sonar's table reads the upload dates from ``properties`` too (as dates)
            "properties": [
                *self.properties_of(sample),
                {"name": "init_upload_date", "value": _plain(sample.init_upload_date)},
                {"name": "last_update_date", "value": _plain(sample.last_update_date)},
            ],
            "qc": self.qc_of(sample),
            "init_upload_date": sample.init_upload_date,
            "last_update_date": sample.last_update_date,
        }

    def vcf(self, sample: Sample) -> dict:
        per: dict[str, list[dict]] = {acc: [] for acc in sorted(self.replicons[sample.pk])}
        rows = sorted(
            (self.nt[i] for i in sample.nt_mutation_ids if i in self.nt),
            key=lambda r: (r["start"], r["end"]),
        )
        for row in rows:
            if not self.show_nx and "N" in row["alt"]:
                continue
            per.setdefault(row["accession"], []).append(
                {
                    "variant.id": row["id"],
                    "variant.ref": row["ref"],
                    "variant.alt": row["alt"],
                    "variant.start": row["start"],
                    "variant.end": row["end"],
                }
            )
        return {"id": sample.pk, "name": sample.name, "genomic_profiles": dict(sorted(per.items()))}


def page_of(qs: QuerySet[Sample], offset: int, limit: int) -> list[Sample]:
    """One page of samples with only the columns profiles need."""
    return list(qs.only(*SAMPLE_COLUMNS)[offset : offset + limit])


def genomes(samples: list[Sample], show_nx: bool) -> list[dict]:
    builder = ProfileBuilder(samples, show_nx)
    return [builder.genome(s) for s in samples]


def vcf_genomes(samples: list[Sample], show_nx: bool) -> list[dict]:
    builder = ProfileBuilder(samples, show_nx)
    return [builder.vcf(s) for s in samples]


def iter_batches(qs: QuerySet[Sample], size: int = 1000) -> Iterator[list[Sample]]:
    """Stream a queryset in batches through a server-side cursor (constant memory)."""
    rows = qs.only(*SAMPLE_COLUMNS).iterator(chunk_size=size)
    while batch := list(islice(rows, size)):
        yield batch


# --- statistics -------------------------------------------------------------------------------
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


_DERIVED = {SampleFieldCoverage.TOTAL, "name", *Sample.FIXED_FIELDS, "length"} | {
    "genomic_profiles",
    "proteomic_profiles",
}


def _collection_dates(reference: Reference | None) -> tuple[dt.date | None, dt.date | None]:
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


def statistics(reference: Reference | None) -> dict:
    """``samples_total``, first/latest collection date, fields with at least one value.

    Counts come from the maintained ``SampleFieldCoverage``; dates from the index.
    """
    coverage = stored_coverage(reference)
    first, latest = _collection_dates(reference)
    columns = [*Sample.FIXED_FIELDS, "length"]
    custom = sorted(name for name, n in coverage.items() if n and name not in _DERIVED)
    return {
        "samples_total": coverage.get(SampleFieldCoverage.TOTAL, 0),
        "first_sample_date": first,
        "latest_sample_date": latest,
        "populated_metadata_fields": custom + [name for name in columns if coverage.get(name)],
    }


def _has_value(field: str) -> Q:
    q = Q(**{f"{field}__isnull": False})
    if FIXED_COLUMNS.get(field) == "text":
        q &= ~Q(**{field: ""})
    return q


def metadata_coverage(query: SampleQuery) -> dict[str, int]:
    """Samples with a value, per field, plus ``genomic_profiles``/``proteomic_profiles``.

    Without a filter the maintained ``SampleFieldCoverage`` answers; with one, one pass over
    the matching samples and one ``GROUP BY`` of their property rows (``(sample, property)`` is
    unique, so ``count(*)`` is the number of samples).
    """
    columns = ["name", *Sample.FIXED_FIELDS, "length"]
    if query.unfiltered:
        stored = stored_coverage(query.reference)
        result = {name: stored.get(name, 0) for name in (*columns, *_PROFILE_FIELDS)}
        result.update(sorted((k, n) for k, n in stored.items() if k not in _DERIVED))
        return result
    qs = query.queryset
    aggregates = {name: Count("pk", filter=_has_value(name)) for name in columns}
    aggregates["genomic_profiles"] = Count("pk", filter=~Q(nt_mutation_ids=[]))
    aggregates["proteomic_profiles"] = Count("pk", filter=~Q(aa_mutation_ids=[]))
    result = qs.aggregate(**aggregates)
    for name, count in sorted(
        SampleProperty.objects.filter(sample__in=qs.values("pk"))
        .values("property__name")
        .annotate(n=Count("*"))
        .order_by()
        .values_list("property__name", "n")
    ):
        result[name] = count
    return result


_PROFILE_FIELDS = ("genomic_profiles", "proteomic_profiles")


#: a Monday (proleptic Gregorian), so ``(date - _EPOCH) / 7`` numbers ISO weeks with integer
#: arithmetic (much cheaper per row than ``date_trunc`` on a timestamp)
_EPOCH = dt.date(1, 1, 1)
#: the lineage group: the first two dot-segments (``BA.5.3.1`` → ``BA.5``, ``XBB`` → ``XBB``)
#: the ISO week of ``collection_date`` as a number (weeks since ``_EPOCH``)
_WEEK_NUMBER = RawSQL(
    f'("{Sample._meta.db_table}"."collection_date" - %s) / 7', [_EPOCH], output_field=IntegerField()
)


def _week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02}"


def samples_per_week(qs: QuerySet[Sample]) -> list[list]:
    """``[["2024-W01", 45], …]`` from the first to the last week, empty weeks as 0."""
    rows = (
        qs.filter(collection_date__isnull=False)
        .annotate(wk=_WEEK_NUMBER)
        .values("wk")
        .annotate(n=Count("*"))
        .order_by()
    )
    counts = {_EPOCH + dt.timedelta(days=7 * r["wk"]): r["n"] for r in rows}
    if not counts:
        return []
    result, day, last = [], min(counts), max(counts)
    while day <= last:
        result.append([_week(day), counts.get(day, 0)])
        day += dt.timedelta(days=7)
    return result


_GROUP_SQL = r"substring(wl.lineage from '^[^.]*(?:\.[^.]*)?')"


def grouped_lineages_per_week(qs: QuerySet[Sample], reference: Reference | None) -> list[dict]:
    """Per ISO week, the share of each lineage group (first two dot-segments, if that lineage
    exists, else ``Unknown``).

    Grouped in SQL: samples by (week number, lineage), then each lineage mapped to its group by
    a hash join on the reference's lineage names, so Postgres returns one row per (week, group).
    """
    inner = (
        qs.filter(collection_date__isnull=False)
        .annotate(wk=_WEEK_NUMBER)
        .values("wk", "lineage")
        .annotate(n=Count("*"))
        .order_by()
    )
    inner_sql, inner_params = inner.query.sql_with_params()
    lineages = Lineage._meta.db_table
    known_where, known_params = (
        ("WHERE reference_id = %s", [reference.pk]) if reference else ("", [])
    )
    sql = f"""
        SELECT wl.wk, COALESCE(k.name, 'Unknown'), sum(wl.n)::bigint
        FROM ({inner_sql}) AS wl
        LEFT JOIN (SELECT DISTINCT name FROM {lineages} {known_where}) AS k
            ON k.name = {_GROUP_SQL}
        GROUP BY 1, 2
    """
    with transaction.atomic(), connection.cursor() as cursor:
        # ~150k partial groups pass through Gather; at the default cost per tuple (0.1) the
        # planner prefers a serial scan that is 1.5x slower at 1M samples (measured)
        cursor.execute("SELECT set_config('parallel_tuple_cost', '0.03', true)")
        cursor.execute(sql, [*inner_params, *known_params])
        rows = cursor.fetchall()
    totals: dict[int, int] = defaultdict(int)
    for wk, _group, n in rows:
        totals[wk] += n
    # a few hundred weeks for tens of thousands of rows: name each week once
    weeks = {wk: _week(_EPOCH + dt.timedelta(days=7 * wk)) for wk in totals}
    rows.sort()
    return [
        {
            "week": weeks[wk],
            "lineage_group": group,
            "count": n,
            "percentage": round(n / totals[wk] * 100, 2),
        }
        for wk, group, n in rows
    ]


def _value_expression(name: str, props: dict[str, Property]) -> Any:
    if name in FIXED_COLUMNS:
        return F(name)
    prop = props.get(name)
    if prop is None:
        raise FilterError(
            f"unknown property '{name}'",
            hint="List them with GET /api/properties/distinct_property_names/",
        )
    return _custom_value(prop)


def custom_plot(qs: QuerySet[Sample], name: str) -> dict[str, dict[str, int]]:
    """``{name: {value: samples}}`` over samples that have a value."""
    value = _value_expression(name, _property_types())
    rows = (
        qs.annotate(v=value)
        .filter(v__isnull=False)
        .values("v")
        .annotate(n=Count("pk"))
        .order_by("v")
    )
    return {name: {str(_plain(r["v"])): r["n"] for r in rows}}


def custom_xy_plot(qs: QuerySet[Sample], x: str, y: str) -> dict[str, list[dict[str, int]]]:
    """``{x_value: [{y_value: samples}, …]}`` over samples with both values."""
    props = _property_types()
    rows = (
        qs.annotate(xv=_value_expression(x, props), yv=_value_expression(y, props))
        .filter(xv__isnull=False, yv__isnull=False)
        .values("xv", "yv")
        .annotate(n=Count("pk"))
        .order_by("xv", "yv")
    )
    result: dict[str, list[dict[str, int]]] = defaultdict(list)
    for r in rows:
        result[str(_plain(r["xv"]))].append({str(_plain(r["yv"])): r["n"]})
    return dict(result)


# --- lineages, sequences ---------------------------------------------------------------------
def distinct_lineages(reference: Reference | None) -> list[str | None]:
    """Lineages seen on samples (``None`` for samples without one), sorted, ``None`` last."""
    qs = Sample.objects.all() if reference is None else Sample.objects.filter(reference=reference)
    values = set(qs.values_list("lineage", flat=True).distinct().order_by())
    return sorted(v for v in values if v is not None) + ([None] if None in values else [])


def full_lineages(reference: Reference | None) -> list[str]:
    qs = Lineage.objects.all() if reference is None else Lineage.objects.filter(reference=reference)
    return list(qs.order_by("name").values_list("name", flat=True).distinct())


def sequence_data(names: Iterable[str]) -> list[dict]:
    """``{"sequence_id", "name", "sequence_seqhash"}`` per record name, nulls when unknown."""
    names = list(dict.fromkeys(names))
    found = {
        r["name"]: r
        for r in SampleSequence.objects.filter(name__in=names).values(
            "name", "sequence_id", sequence_seqhash=F("sequence__seqhash")
        )
    }
    return [
        {
            "sequence_id": found[n]["sequence_id"] if n in found else None,
            "name": n,
            "sequence_seqhash": found[n]["sequence_seqhash"] if n in found else None,
        }
        for n in names
    ]


# --- database ---------------------------------------------------------------------------------
def missing_tables() -> list[str]:
    """Tables of the installed models that do not exist in the database."""
    from django.apps import apps

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
    coverage: dict[str, int] = {}
    if total:
        columns = ["name", *Sample.FIXED_FIELDS, "length", *_PROFILE_FIELDS]
        coverage = {name: stored.get(name, 0) for name in columns}
        coverage.update(sorted((k, n) for k, n in stored.items() if k not in _DERIVED))
    earliest, latest = _collection_dates(None)
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
        **{k: _plain(v) for k, v in dates.items()},
        "unique_sequences": Sequence.objects.count(),
        "genomes": SampleSequence.objects.count(),
        "reference_genome": references,
        "database_size": size,
        "database_version": f"emgsonar {emgsonar.__version__}",
    }


def property_exists(name: str) -> bool:
    return Property.objects.filter(name__iexact=name.strip()).exists()


def properties() -> QuerySet[Property]:
    return Property.objects.order_by("name")


def property_by_id(pk: int) -> Property:
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
    qs = Sample.objects.all() if reference is None else Sample.objects.filter(reference=reference)
    value = _value_expression(name, _property_types())
    rows = qs.annotate(v=value).filter(v__isnull=False).values_list("v", flat=True)
    return [_plain(v) for v in rows.distinct().order_by("v")]


def sample_by_name(name: str) -> Sample:
    """One sample with its reference.

    :raises NotFoundError: naming the unknown sample.
    """
    found = (
        Sample.objects.select_related("reference")
        .defer("nt_mutation_ids", "aa_mutation_ids")
        .filter(name=name)
        .first()
    )
    if found is None:
        raise NotFoundError(f"unknown sample '{name}'")
    return found


# --- sonar frontend: dataset chooser, property chooser, mutation count ------------------------
#: how sonar's frontend shows a sample whose ``data_set`` is the empty string
EMPTY_DATA_SET = "-Empty-"


def dataset_options() -> dict[str, dict[str, list[str]]]:
    """Sonar's ``dataset_options``: per organism, the accessions of its references that have
    samples and the data sets of those samples (``""`` as ``-Empty-``, NULL left out).

    Only references with samples are listed, as in sonar: the home page preselects the first
    organism and accession, which must not be an empty one.
    """
    pairs = (
        Sample.objects.filter(reference__isnull=False)
        .values_list("reference_id", "data_set")
        .distinct()
        .order_by()
    )
    data_sets: dict[int, set[str]] = defaultdict(set)
    for reference_id, data_set in pairs:
        named = data_sets.setdefault(reference_id, set())  # listed even if all are NULL
        if data_set is not None:
            named.add(data_set or EMPTY_DATA_SET)
    result: dict[str, dict[str, set[str]]] = {}
    for ref in Reference.objects.filter(pk__in=list(data_sets)).order_by("id"):
        entry = result.setdefault(
            ref.organism or ref.accession, {"accessions": set(), "data_sets": set()}
        )
        entry["accessions"].add(ref.accession)
        entry["data_sets"] |= data_sets[ref.pk]
    return {
        organism: {"accessions": sorted(e["accessions"]), "data_sets": sorted(e["data_sets"])}
        for organism, e in result.items()
    }


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
    samples = Sample.objects.all()
    if reference is not None:
        samples = samples.filter(reference=reference)
    counted = [c for c in _COLUMN_INFO if c != "name" and (c in _UNTRACKED or coverage.get(c))]
    distinct = samples.aggregate(
        **{c: Count(c, distinct=True, filter=_has_value(c)) for c in counted}
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


def distinct_mutations_count(reference: Reference | None) -> int:
    """Distinct nucleotide mutations carried by at least one sample (of the reference), from
    the maintained ``MutationCount`` (rows exist only while a sample carries the mutation)."""
    rows = MutationCount.objects.filter(level=MutationCount.Level.NUCLEOTIDE)
    if reference is not None:
        rows = rows.filter(reference=reference)
    return rows.count()
