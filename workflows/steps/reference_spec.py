"""Step ``write-reference-file``: the calling engine's reference, rebuilt from the database.

The align jobs read it from a JSON file (:func:`analyses.results_io.write_reference_spec`), so
a cluster node needs no database.
"""

from __future__ import annotations

from analyses.calling.reference import CdsSpec, GeneSpec, ReferenceSpec, RepliconSpec, Segment
from analyses.models import Cds, CdsSegment, Gene, Reference, Replicon
from emgsonar.errors import NotFoundError


def reference_spec_from_db(reference_id: int) -> ReferenceSpec:
    """Rebuild the calling engine's reference from the rows ``import_reference`` wrote.

    Genes and CDS come back in file order (their ids), CDS segments in translation order.
    Not stored, hence not restored: source file paths and the CDS partial flags (the engine
    does not use them); a gene row the importer created for a CDS without ``gene`` feature
    comes back as a gene.

    :raises NotFoundError: no such reference.
    """
    reference = Reference.objects.filter(pk=reference_id).first()
    if reference is None:
        raise NotFoundError(f"no reference with id {reference_id}")
    replicons = list(Replicon.objects.filter(reference_id=reference_id).order_by("position"))
    ids = [r.pk for r in replicons]
    genes: dict[int, list[GeneSpec]] = {i: [] for i in ids}
    for g in Gene.objects.filter(replicon_id__in=ids).order_by("id"):
        genes[g.replicon_id].append(
            GeneSpec(g.symbol, g.locus_tag or None, g.description or None, g.start, g.end, g.strand)
        )
    segments: dict[int, list[Segment]] = {}
    for s in CdsSegment.objects.filter(cds__replicon_id__in=ids).order_by("cds_id", "order"):
        segments.setdefault(s.cds_id, []).append(Segment(s.start, s.end, s.strand))
    accession_of = {r.pk: r.accession for r in replicons}
    cds: dict[int, list[CdsSpec]] = {i: [] for i in ids}
    for c in Cds.objects.filter(replicon_id__in=ids).select_related("gene").order_by("id"):
        cds[c.replicon_id].append(
            CdsSpec(
                symbol=c.symbol,
                gene_symbol=c.gene.symbol if c.gene else None,
                locus_tag=c.locus_tag or None,
                protein_id=c.protein_id or None,
                product=c.product or None,
                strand=c.strand,
                segments=tuple(segments.get(c.pk, ())),
                translation=c.translation,
                transl_table=c.transl_table,
                codon_start=c.codon_start,
                replicon=accession_of[c.replicon_id],
            )
        )
    organism = reference.organism or None
    return ReferenceSpec(
        accession=reference.accession,
        description=reference.description,
        organism=organism,
        replicons=tuple(
            RepliconSpec(
                accession=r.accession,
                description=r.description,
                organism=organism,
                molecule_type=r.molecule_type or None,
                topology=r.topology or None,
                sequence=r.sequence,
                genes=tuple(genes[r.pk]),
                cds=tuple(cds[r.pk]),
                length=r.length,
            )
            for r in replicons
        ),
        content_hash=reference.content_hash,
    )
