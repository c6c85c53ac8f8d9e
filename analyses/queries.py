"""Reads of reference data, with their joins prefetched so list endpoints run a fixed number of
queries whatever the page size."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from analyses.models import Alignment, Cds, CdsSegment, Gene, Lineage, Reference, Replicon
from emgsonar.errors import NotFoundError


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
    from analyses.services.lineages import descendants

    found = Lineage.objects.filter(pk=pk).values_list("reference_id", "name").first()
    if found is None:
        raise NotFoundError("unknown lineage", value=pk)
    return sorted(descendants(found[0], [found[1]], include_self=True))
