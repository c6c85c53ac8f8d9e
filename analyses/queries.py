"""Reads of reference data, with their joins prefetched so list endpoints run a fixed number of
queries whatever the page size."""

from __future__ import annotations

from functools import lru_cache

from django.db.models import Min, Prefetch, QuerySet

from analyses.lineage_graph import descendants
from analyses.models import Alignment, Cds, CdsSegment, Gene, Lineage, Reference, Replicon
from emgsonar.errors import EmgsonarError, NotFoundError


def clean_accession(value: str | None) -> str | None:
    """Strip the surrounding quotes sonar clients send (``"MN908947.3"``)."""
    if value is None:
        return None
    return value.strip().strip("\"'") or None


def references() -> QuerySet[Reference]:
    """All references with their replicon accessions."""
    return Reference.objects.prefetch_related(
        Prefetch("replicons", queryset=Replicon.objects.only("id", "accession", "reference_id"))
    ).order_by("id")


def reference(pk: int) -> Reference:
    """One reference by id.

    :raises NotFoundError: naming the unknown id.
    """
    found = references().filter(pk=pk).first()
    if found is None:
        raise NotFoundError("unknown reference", value=pk)
    return found


def reference_by_accession(accession: str) -> Reference:
    """The reference of that accession.

    :raises NotFoundError: naming the unknown accession.
    """
    try:
        return Reference.objects.get(accession=clean_accession(accession))
    except Reference.DoesNotExist:
        raise NotFoundError("unknown reference", value=accession) from None


def replicons(reference: str | None = None) -> QuerySet[Replicon]:
    """Replicons (without their sequence), optionally of one reference."""
    qs = Replicon.objects.select_related("reference").defer("sequence").order_by("id")
    if reference:
        qs = qs.filter(reference=reference_by_accession(reference))
    return qs


def replicon(pk: int) -> Replicon:
    """One replicon with its sequence."""
    try:
        return Replicon.objects.select_related("reference").get(pk=pk)
    except Replicon.DoesNotExist:
        raise NotFoundError("unknown replicon", value=pk) from None


def genes(reference: str | None = None, symbol: str | None = None) -> QuerySet[Gene]:
    """Genes with their CDS and segments, optionally filtered by reference and symbol."""
    qs = (
        Gene.objects.select_related("replicon__reference")
        .prefetch_related(
            Prefetch(
                "cds",
                queryset=Cds.objects.prefetch_related(
                    Prefetch("segments", queryset=CdsSegment.objects.order_by("order"))
                ).order_by("start", "symbol"),
            )
        )
        .order_by("replicon__reference_id", "replicon__position", "start", "symbol")
    )
    if reference:
        qs = qs.filter(replicon__reference=reference_by_accession(reference))
    if symbol:
        qs = qs.filter(symbol=symbol)
    return qs


def gene(pk: int) -> Gene:
    """One gene with its CDS."""
    found = genes().filter(pk=pk).first()
    if found is None:
        raise NotFoundError("unknown gene", value=pk)
    return found


def alignments(
    reference: str | None = None, replicon: str | None = None, seqhash: str | None = None
) -> QuerySet[Alignment]:
    """Alignments (without their mutation arrays' content in the output), optionally filtered."""
    qs = Alignment.objects.select_related("replicon", "sequence").order_by("id")
    if reference:
        qs = qs.filter(replicon__reference=reference_by_accession(reference))
    if replicon:
        qs = qs.filter(replicon__accession=clean_accession(replicon))
    if seqhash:
        qs = qs.filter(sequence__seqhash=seqhash)
    return qs


def alignment(pk: int) -> Alignment:
    found = alignments().filter(pk=pk).first()
    if found is None:
        raise NotFoundError("unknown alignment", value=pk)
    return found


def lineages(
    reference: str | None = None, name: str | None = None, parent: str | None = None
) -> QuerySet[Lineage]:
    """Lineages with their parents prefetched, optionally filtered."""
    qs = (
        Lineage.objects.select_related("reference")
        .prefetch_related(Prefetch("parents", queryset=Lineage.objects.only("id", "name")))
        .order_by("reference_id", "name")
    )
    if reference:
        qs = qs.filter(reference=reference_by_accession(reference))
    if name:
        qs = qs.filter(name=name)
    if parent:
        qs = qs.filter(parents__name=parent)
    return qs


def lineage(pk: int) -> Lineage:
    found = lineages().filter(pk=pk).first()
    if found is None:
        raise NotFoundError("unknown lineage", value=pk)
    return found


def sublineages(pk: int) -> list[str]:
    """The lineage and all its descendants (recombinants included), sorted."""
    found = Lineage.objects.filter(pk=pk).values_list("reference_id", "name").first()
    if found is None:
        raise NotFoundError("unknown lineage", value=pk)
    return sorted(descendants(found[0], [found[1]], include_self=True))


# --- sonar's lookup endpoints (frontend option lists, CLI) -----------------------------------
def reference_accessions() -> list[str]:
    """Every reference accession, sorted (sonar's ``references/distinct_accessions``)."""
    return list(Reference.objects.order_by("accession").values_list("accession", flat=True))


def replicon_accessions(reference: str | None = None) -> list[str]:
    """Replicon accessions (of one reference) in reference and segment order."""
    return list(replicons(reference).values_list("accession", flat=True))


def gene_symbols(reference: str | None = None) -> list[str]:
    """Symbols a ``GENE:`` prefix of an amino-acid query accepts: CDS and gene symbols."""
    cds = Cds.objects.all()
    gene = Gene.objects.all()
    if reference:
        ref = reference_by_accession(reference)
        cds, gene = cds.filter(replicon__reference=ref), gene.filter(replicon__reference=ref)
    symbols = set(cds.values_list("symbol", flat=True)) | set(gene.values_list("symbol", flat=True))
    return sorted(s for s in symbols if s)


def molecule_data(replicon_id: int | None, reference: str | None) -> list[dict]:
    """Sonar's ``get_molecule_data``: replicon rows with their sequence, by id or reference.

    Keys are ours plus sonar's names (``type``, ``segment_number``, ``reference_id``,
    ``translation_id`` = the genetic code of the replicon's CDS, 1 when it has none).

    :raises EmgsonarError: neither a replicon id nor a reference given (400).
    """
    if replicon_id is None and not reference:
        raise EmgsonarError(
            "say which molecules", hint="Give replicon_id=<id> or reference=<accession>"
        )
    qs = Replicon.objects.select_related("reference").order_by("reference_id", "position")
    qs = (
        qs.filter(pk=replicon_id)
        if replicon_id is not None
        else qs.filter(reference=reference_by_accession(reference or ""))
    )
    tables = dict(
        Cds.objects.filter(replicon__in=qs).values_list("replicon_id", "transl_table").distinct()
    )
    return [
        {
            "id": r.pk,
            "accession": r.accession,
            "description": r.description,
            "length": r.length,
            "sequence": r.sequence,
            "molecule_type": r.molecule_type,
            "type": r.molecule_type,
            "topology": r.topology,
            "position": r.position,
            "segment_number": r.position,
            "reference_id": r.reference_id,
            "reference": r.reference.accession,
            "translation_id": tables.get(r.pk, 1),
        }
        for r in qs
    ]


def gene_data(reference: str | None, replicon_id: int | None, replicon: str | None) -> list[dict]:
    """Sonar's ``get_gene_data``: one flat row per gene with its reference, replicon and CDS
    (``cds_list`` with segments), selected by reference, replicon id or replicon accession.

    Coordinates are sonar's: 0-based start, exclusive end. ``cds.sequence`` is the protein.
    A gene is one segment here (``gene_segment.*`` repeats the gene's span); we store no
    mature peptides, so ``peptide_list`` is empty.

    :raises EmgsonarError: no selector given (400).
    """
    if not (reference or replicon_id is not None or replicon):
        raise EmgsonarError(
            "say which genes", hint="Give ref_acc=<reference>, replicon_id=<id> or replicon_acc="
        )
    qs = genes(reference)
    if replicon_id is not None:
        qs = qs.filter(replicon_id=replicon_id)
    if replicon:
        qs = qs.filter(replicon__accession=clean_accession(replicon))
    return [_gene_row(g) for g in qs.select_related("replicon__reference")]


def _gene_row(gene: Gene) -> dict:
    replicon, reference = gene.replicon, gene.replicon.reference
    return {
        "reference.id": reference.pk,
        "reference.accession": reference.accession,
        "reference.description": reference.description,
        "reference.organism": reference.organism,
        "replicon.id": replicon.pk,
        "replicon.accession": replicon.accession,
        "replicon.description": replicon.description,
        "replicon.length": replicon.length,
        "replicon.segment_number": replicon.position,
        "gene.id": gene.pk,
        "gene.start": gene.start,
        "gene.end": gene.end,
        "gene.description": gene.description,
        "gene.gene_symbol": gene.symbol,
        "gene.gene_accession": gene.locus_tag,
        "gene_segment.gene_id": gene.pk,
        "gene_segment.start": gene.start,
        "gene_segment.end": gene.end,
        "gene_segment.forward_strand": gene.strand >= 0,
        "gene_segment.order": 0,
        "cds_list": [
            {
                "cds.id": cds.pk,
                "cds.accession": cds.protein_id or cds.symbol,
                "cds.symbol": cds.symbol,
                "cds.sequence": cds.translation,
                "cds.description": cds.product,
                "cds_segments": [
                    {
                        "cds_segment.order": seg.order,
                        "cds_segment.start": seg.start,
                        "cds_segment.end": seg.end,
                        "cds_segment.forward_strand": seg.strand >= 0,
                    }
                    for seg in cds.segments.all()
                ],
                "peptide_list": [],
            }
            for cds in gene.cds.all()
        ],
    }


def alignment_data(seqhash: str, replicon_id: int) -> dict:
    """Sonar's ``get_alignment_data``: the alignment of one sequence to one replicon, with the
    name of a record holding the sequence.

    :raises NotFoundError: no such alignment.
    """
    found = (
        Alignment.objects.filter(sequence__seqhash=seqhash, replicon_id=replicon_id)
        .values("id", "replicon_id", "sequence_id")
        .annotate(sequence_name=Min("sequence__records__name"))
        .first()
    )
    if found is None:
        raise NotFoundError(
            f"no alignment of sequence '{seqhash}' to replicon {replicon_id}", value=seqhash
        )
    return {"alignment_id": found["id"], **found}


#: IUPAC nucleotide codes and the bases each stands for
_IUPAC = {
    "A": "A", "C": "C", "G": "G", "T": "T", "R": "AG", "Y": "CT", "S": "CG", "W": "AT",
    "K": "GT", "M": "AC", "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT",
}  # fmt: skip
#: amino-acid ambiguity codes: the residue pairs an ambiguous codon may still name
_AA_AMBIGUITY = {frozenset("DN"): "B", frozenset("EQ"): "Z", frozenset("IL"): "J"}


@lru_cache(maxsize=8)
def translation_table(table_id: int = 1) -> dict[str, str]:
    """Codon → amino acid for every codon over IUPAC bases and ``-`` (sonar's translation
    table resource: 16³ = 4096 codons).

    An ambiguous codon translates to the one residue all its expansions give, to ``B``/``Z``/
    ``J`` for the pairs those codes name, else ``X``; ``---`` is a gap (``-``), a codon with
    one or two gaps has no translation (``""``).

    >>> t = translation_table()
    >>> (t["ATG"], t["TAR"], t["RAY"], t["GCN"], t["NNN"], t["A-G"], t["---"])
    ('M', '*', 'B', 'A', 'X', '', '-')

    :raises NotFoundError: unknown NCBI genetic code.
    """
    from itertools import product

    from Bio.Data.CodonTable import unambiguous_dna_by_id

    code = unambiguous_dna_by_id.get(table_id)
    if code is None:
        raise NotFoundError("unknown genetic code (NCBI transl_table)", value=table_id)
    residue = {**code.forward_table, **dict.fromkeys(code.stop_codons, "*")}
    letters = "-" + "".join(_IUPAC)
    table: dict[str, str] = {}
    for codon in map("".join, product(letters, repeat=3)):
        if "-" in codon:
            table[codon] = "-" if codon == "---" else ""
            continue
        found = {residue["".join(c)] for c in product(*(_IUPAC[b] for b in codon))}
        table[codon] = found.pop() if len(found) == 1 else _AA_AMBIGUITY.get(frozenset(found), "X")
    return table
