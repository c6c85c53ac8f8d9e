"""Reads of reference data, with their joins prefetched so list endpoints run a fixed number of
queries whatever the page size."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from analyses.models import Cds, CdsSegment, Gene, Reference, Replicon
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
