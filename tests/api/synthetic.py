"""A small hand-made dataset on the real SARS-CoV-2 reference, for exact filter semantics.

Six samples whose mutations, properties and lineages are chosen so that every label and filter
type separates them differently (the real-data tests in ``test_real_data.py`` check the same
engine against what the calling engine and loader produce).

======  ======================================  ========  ==========  ====  =====  =======
sample  NT mutations                            lineage   date        age   euro   country
======  ======================================  ========  ==========  ====  =====  =======
S1      A23403G C241T del:21765-21770           BA.1      2022-01-03  48    63.33  DE
S2      A23403G T22204TGAGCCAGAA                BA.1.1    2022-01-05  18    31.16  DE
S3      A23403T C3037T                          AY.4      2021-12-30  --    10.0   FR
S4      C241T                                   BA.2      --          60    --     --
S5      A23403G C241T G22813K                   XEC       2022-01-20  5     --     --
S6      (none; N at 10147-10149)                --        2022-01-04  --    --     DE
======  ======================================  ========  ==========  ====  =====  =======
"""

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from django.db import connection
from psycopg.types.range import Range

from analyses.models import (
    Alignment,
    AminoAcidMutation,
    Cds,
    MutationCount,
    MutationEffect,
    NucleotideMutation,
    Reference,
    UnknownRange,
)
from analyses.services.lineages import import_lineages
from analyses.services.references import import_reference
from ena_like.models import Property, Sample, SampleProperty, SampleSequence, Sequence
from ena_like.services.sample_index import rebuild_coverage, rebuild_week_counts

NT = {
    # label: (start, end, ref, alt, effects [(cds or None, term, impact)])
    "A23403G": (23402, 23403, "A", "G", [("S", "missense_variant", "MODERATE")]),
    "A23403T": (23402, 23403, "A", "T", [("S", "missense_variant", "MODERATE")]),
    "C241T": (240, 241, "C", "T", [(None, "upstream_gene_variant", "MODIFIER")]),
    "C3037T": (3036, 3037, "C", "T", [("ORF1a", "synonymous_variant", "LOW")]),
    "del:21765-21770": (
        21764,
        21770,
        "TACATG",
        "",
        [("S", "conservative_inframe_deletion", "MODERATE")],
    ),
    "T22204TGAGCCAGAA": (
        22203,
        22204,
        "T",
        "TGAGCCAGAA",
        [("S", "disruptive_inframe_insertion", "MODERATE")],
    ),
    "G22813K": (22812, 22813, "G", "K", []),
}
AA = {
    "S:D614G": ("S", 613, 614, "D", "G"),
    "S:D614V": ("S", 613, 614, "D", "V"),
    "S:del:69-70": ("S", 68, 70, "HV", ""),
    "S:R214REPE": ("S", 213, 214, "R", "REPE"),
    "S:K417X": ("S", 416, 417, "K", "X"),
}
#: the NT mutations each AA mutation comes from (the alignments' ``aa_parents``)
AA_PARENTS = {
    "S:D614G": ["A23403G"],
    "S:D614V": ["A23403T"],
    "S:del:69-70": ["del:21765-21770"],
    "S:R214REPE": ["T22204TGAGCCAGAA"],
}
SAMPLES = {
    "S1": (
        ["A23403G", "C241T", "del:21765-21770"],
        ["S:D614G", "S:del:69-70"],
        dict(lineage="BA.1", collection_date=dt.date(2022, 1, 3), country="DE"),
        {"age": 48, "euro": 63.33, "comments": "vending machine"},
    ),
    "S2": (
        ["A23403G", "T22204TGAGCCAGAA"],
        ["S:D614G", "S:R214REPE"],
        dict(lineage="BA.1.1", collection_date=dt.date(2022, 1, 5), country="DE"),
        {"age": 18, "euro": 31.16, "comments": "socks"},
    ),
    "S3": (
        ["A23403T", "C3037T"],
        ["S:D614V", "S:K417X"],
        dict(lineage="AY.4", collection_date=dt.date(2021, 12, 30), country="FR"),
        {"euro": 10.0},
    ),
    "S4": (["C241T"], [], dict(lineage="BA.2"), {"age": 60}),
    "S5": (
        ["A23403G", "C241T", "G22813K"],
        ["S:D614G"],
        dict(lineage="XEC", collection_date=dt.date(2022, 1, 20)),
        {"age": 5},
    ),
    "S6": ([], [], dict(collection_date=dt.date(2022, 1, 4), country="DE"), {}),
}


@dataclass
class Synthetic:
    reference: Reference
    nt: dict[str, int]
    aa: dict[str, int]
    samples: dict[str, Sample]


def build(shared_data: Path) -> Synthetic:
    """Create the dataset (reference and lineage tree imported through their services)."""
    ref_id = import_reference([shared_data / "sars-cov-2/MN908947.nextclade.gb"]).reference_id
    reference = Reference.objects.get(pk=ref_id)
    import_lineages(
        reference.accession, lineages_tsv=shared_data / "sars-cov-2/lineages/lineages_test.tsv"
    )
    replicon = reference.replicons.get()
    cds = {c.symbol: c for c in Cds.objects.filter(replicon=replicon)}
    nt, aa = {}, {}
    for label, (start, end, ref, alt, effects) in NT.items():
        kind = "del" if not alt else ("ins" if len(alt) > 1 else "sub")
        m = NucleotideMutation.objects.create(
            replicon=replicon, kind=kind, start=start, end=end, ref=ref, alt=alt, label=label
        )
        nt[label] = m.pk
        for cds_symbol, term, impact in effects:
            MutationEffect.objects.create(
                mutation=m, cds=cds.get(cds_symbol), seq_ontology=term, impact=impact
            )
    for label, (symbol, start, end, ref, alt) in AA.items():
        kind = "del" if not alt else ("ins" if len(alt) > 1 else "sub")
        aa[label] = AminoAcidMutation.objects.create(
            cds=cds[symbol], kind=kind, start=start, end=end, ref=ref, alt=alt, label=label
        ).pk
    for name in ("age", "euro", "comments"):
        Property.objects.get_or_create(
            name=name, datatype={"age": "integer", "euro": "float"}.get(name, "text")
        )
    props = {p.name: p for p in Property.objects.all()}
    samples = {}
    for i, (name, (nts, aas, fixed, custom)) in enumerate(SAMPLES.items()):
        sample = Sample.objects.create(
            name=name,
            reference=reference,
            length=29_000 + i,
            nt_mutation_ids=sorted(nt[x] for x in nts),
            aa_mutation_ids=sorted(aa[x] for x in aas),
            **fixed,
        )
        sequence = Sequence.objects.create(seqhash=f"{i:064d}", length=29_000 + i)
        SampleSequence.objects.create(name=f"{name}.1", sample=sample, sequence=sequence)
        alignment = Alignment.objects.create(
            sequence=sequence,
            replicon=replicon,
            covered=Range(54, 29_800),
            nt_mutation_ids=sample.nt_mutation_ids,
            aa_mutation_ids=sample.aa_mutation_ids,
            aa_parents={
                str(aa[x]): [nt[p] for p in AA_PARENTS.get(x, []) if p in nts] for x in aas
            },
        )
        if name == "S6":
            UnknownRange.objects.create(alignment=alignment, level="nt", span=Range(10_146, 10_149))
        if name == "S3":
            UnknownRange.objects.create(
                alignment=alignment, level="aa", cds=cds["ORF1a"], span=Range(3_000, 3_002)
            )
        for prop_name, value in custom.items():
            prop = props[prop_name]
            SampleProperty.objects.create(
                sample=sample, property=prop, **{prop.value_column: value}
            )
        samples[name] = sample
    for level, ids in (("nt", nt), ("aa", aa)):
        for mutation_id in ids.values():
            column = f"{level}_mutation_ids__contains"
            n = Sample.objects.filter(**{column: [mutation_id]}).count()
            if n:
                MutationCount.objects.create(
                    reference=reference, level=level, mutation_id=mutation_id, samples=n
                )
    with connection.cursor() as cursor:  # built by hand like MutationCount above
        rebuild_coverage(cursor)
        rebuild_week_counts(cursor)
    return Synthetic(reference, nt, aa, samples)
