"""Write references into the database: the one place that creates Reference rows.

Reading and checking the GenBank files happens entirely in the calling core
(:func:`analyses.calling.reference.read_genbank`) before the first write, so a broken file or a
CDS whose translation does not match leaves the database untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from analyses.calling.reference import CdsSpec, ReferenceSpec, RepliconSpec, read_genbank
from analyses.models import Cds, CdsSegment, Gene, Reference, Replicon
from emgsonar.errors import ConflictError


@dataclass(frozen=True)
class ImportReferenceResult:
    """What an import did; ``created`` is false when the same reference was already there."""

    reference_id: int
    accession: str
    created: bool
    replicons: int
    genes: int
    cds: int


def import_reference(
    paths: Sequence[Path], import_run_id: int | None = None
) -> ImportReferenceResult:
    """Import one reference from GenBank files: one replicon per record.

    The same content again is a no-op (compared by content hash), so re-running an import is
    always safe.

    :raises InputFormatError: a file is not GenBank or is truncated (nothing written).
    :raises ReferenceDataError: a CDS translation mismatch (nothing written).
    :raises ConflictError: different content under an existing reference or replicon accession.
    """
    spec = read_genbank([Path(p) for p in paths])
    existing = Reference.objects.filter(accession=spec.accession).first()
    if existing is not None:
        if existing.content_hash != spec.content_hash:
            raise ConflictError(
                f"reference {spec.accession} already exists with different content",
                path=", ".join(str(p) for p in paths),
                hint="a changed reference needs a new accession.version; delete the old "
                "reference first only if no samples use it",
            )
        return _result(existing, created=False)
    _check_replicon_accessions(spec)
    with transaction.atomic():
        reference = Reference.objects.create(
            accession=spec.accession,
            description=spec.description,
            organism=spec.organism or "",
            content_hash=spec.content_hash,
            source_files=[str(p) for p in paths],
            import_run_id=import_run_id,
        )
        for position, replicon_spec in enumerate(spec.replicons):
            _write_replicon(reference, position, replicon_spec)
    return _result(reference, created=True)


def _check_replicon_accessions(spec: ReferenceSpec) -> None:
    """A replicon accession identifies one molecule: it may belong to one reference only."""
    accessions = [r.accession for r in spec.replicons]
    clash = Replicon.objects.filter(accession__in=accessions).select_related("reference").first()
    if clash is not None:
        raise ConflictError(
            f"replicon {clash.accession} already belongs to reference {clash.reference.accession}",
            hint="import each GenBank record under one reference only",
        )


def _write_replicon(reference: Reference, position: int, spec: RepliconSpec) -> None:
    """Replicon, genes, CDS and CDS segments, in bulk."""
    replicon = Replicon.objects.create(
        reference=reference,
        accession=spec.accession,
        description=spec.description,
        molecule_type=spec.molecule_type or "",
        topology=spec.topology or "",
        position=position,
        length=spec.length or len(spec.sequence),
        sequence=spec.sequence,
    )
    genes = Gene.objects.bulk_create(
        Gene(
            replicon=replicon,
            symbol=g.symbol,
            locus_tag=g.locus_tag or "",
            description=g.description or "",
            start=g.start,
            end=g.end,
            strand=g.strand,
        )
        for g in spec.genes
    )
    by_symbol: dict[str, Gene] = {}
    for gene in genes:
        by_symbol.setdefault(gene.symbol, gene)
        if gene.locus_tag:
            by_symbol.setdefault(gene.locus_tag, gene)
    # A CDS without a gene feature (yellow fever) still gets a gene row, so genes/ lists it.
    orphans = [c for c in spec.cds if _gene_key(c) not in by_symbol]
    for gene in Gene.objects.bulk_create(_gene_for_cds(replicon, c) for c in orphans):
        by_symbol.setdefault(gene.symbol, gene)
    cds_rows = Cds.objects.bulk_create(
        Cds(
            replicon=replicon,
            gene=by_symbol.get(_gene_key(c)) or by_symbol.get(c.symbol),
            symbol=c.symbol,
            locus_tag=c.locus_tag or "",
            protein_id=c.protein_id or "",
            product=c.product or "",
            strand=c.strand,
            start=c.start,
            end=c.end,
            nt_length=c.nt_length,
            translation=c.translation,
            transl_table=c.transl_table,
            codon_start=c.codon_start,
        )
        for c in spec.cds
    )
    CdsSegment.objects.bulk_create(
        CdsSegment(cds=row, order=order, start=seg.start, end=seg.end, strand=seg.strand)
        for row, c in zip(cds_rows, spec.cds, strict=True)
        for order, seg in enumerate(c.segments)
    )


def _gene_key(cds: CdsSpec) -> str:
    """The gene a CDS belongs to: its /gene, else its locus tag, else its own symbol."""
    return cds.gene_symbol or cds.locus_tag or cds.symbol


def _gene_for_cds(replicon: Replicon, cds: CdsSpec) -> Gene:
    return Gene(
        replicon=replicon,
        symbol=_gene_key(cds),
        locus_tag=cds.locus_tag or "",
        description=cds.product or "",
        start=cds.start,
        end=cds.end,
        strand=cds.strand,
    )


def _result(reference: Reference, created: bool) -> ImportReferenceResult:
    return ImportReferenceResult(
        reference_id=reference.pk,
        accession=reference.accession,
        created=created,
        replicons=Replicon.objects.filter(reference=reference).count(),
        genes=Gene.objects.filter(replicon__reference=reference).count(),
        cds=Cds.objects.filter(replicon__reference=reference).count(),
    )
