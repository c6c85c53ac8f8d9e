"""Genome profiles of a batch of samples, for every format that shows them.

:class:`ProfileBuilder` assembles mutations, effects, properties, sequences and QC of a batch of
samples in a fixed number of queries whatever the batch size (nothing loops over samples issuing
queries). The JSON and VCF pages of ``samples/genomes/`` use it through :func:`genomes` and
:func:`vcf_genomes`; the CSV export (``ena_like/exports.py``) streams :func:`iter_batches` through
it (with ``showNX``) and shares its labels (:func:`nt_label`, :func:`frameshift_exists`).
"""

from collections import defaultdict
from collections.abc import Iterable, Iterator
from itertools import islice

from django.db.models import Exists, F, OuterRef, QuerySet

from analyses.models import (
    Alignment,
    AminoAcidMutation,
    Cds,
    MutationEffect,
    NucleotideMutation,
    Replicon,
    UnknownRange,
)
from ena_like.models import Sample, SampleProperty, SampleSequence
from ena_like.queries.values import plain_value

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


def cds_key(replicon_accession: str, cds_symbol: str) -> str:
    """The one name of a CDS in ``proteomic_profiles`` keys and CSV columns: replicon and CDS
    symbol (``MN908947.3: S``), the symbol AA labels carry (``S:D614G``).

    Not the protein id: GenBank files give it for some CDS and not others (Nextclade's SARS-CoV-2
    file has ``QHD43416.1`` for S but ``ORF1a`` for ORF1a), so keys of one reference mixed two
    namings; the symbol is unique per reference and always there.
    """
    return f"{replicon_accession}: {cds_symbol}"


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
                {"name": row.property.name, "value": plain_value(row.get_value())}
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
                "id", "symbol", "translation", accession=F("replicon__accession")
            )
        }
        for aln_id, level, cds_id, span, replicon_id, accession in rows:
            for sample_id in samples_of_alignment[aln_id]:
                if level == UnknownRange.Level.NUCLEOTIDE:
                    self.unknown[sample_id].append(("nt", accession, span, sequences[replicon_id]))
                elif cds_id in cds:
                    self.unknown[sample_id].append(("aa", cds[cds_id], span, None))

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
            key = cds_key(row["accession"], row["symbol"])
            effects = self._parent_effects(parents.get(mutation_id, ()), row["cds_id"])
            per[key].append((row["symbol"], row["start"], row["end"], row["label"], effects))
        for level, cds, span, _ in self.unknown.get(sample.pk, ()):
            if level == "aa":
                key = cds_key(cds["accession"], cds["symbol"])
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
                result.append({"name": name, "value": plain_value(value)})
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
                {"name": "init_upload_date", "value": plain_value(sample.init_upload_date)},
                {"name": "last_update_date", "value": plain_value(sample.last_update_date)},
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
