"""Reference-data endpoints: ``references/``, ``replicons/``, ``genes/``, ``alignments/``,
``lineages/`` (+ ``get_sublineages``)."""

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.pagination import paginate

from analyses import queries
from analyses.models import Alignment, Gene, Lineage, Reference, Replicon
from analyses.schemas import (
    AlignmentOut,
    GeneOut,
    LineageOut,
    ReferenceOut,
    RepliconDetailOut,
    RepliconOut,
    SublineagesOut,
)
from emgsonar.auth import READ_AUTH
from emgsonar.pagination import SonarPagination

router = Router(tags=["reference data"], auth=READ_AUTH)


class ErrorOut(Schema):
    """Every error body: a message naming the problem and a machine-readable code."""

    detail: str
    code: str | None = None


#: error responses every read may give (401 only when reads are not public)
ERRORS = {401: ErrorOut, 404: ErrorOut, 422: ErrorOut}


class ReferenceFilter(Schema):
    """Restrict a list to one reference (``reference`` is sonar's alias)."""

    reference_accession: str | None = None
    reference: str | None = None

    def accession(self) -> str | None:
        return queries.clean_accession(self.reference_accession or self.reference)


@router.get("references/", response={200: list[ReferenceOut], **ERRORS})
@paginate(SonarPagination)
def list_references(request: HttpRequest):
    """All references (organisms) with their replicon accessions."""
    return queries.references()


@router.get("references/{int:pk}/", response={200: ReferenceOut, **ERRORS})
def get_reference(request: HttpRequest, pk: int) -> Reference:
    """One reference by id."""
    return queries.reference(pk)


@router.get("replicons/", response={200: list[RepliconOut], **ERRORS})
@paginate(SonarPagination)
def list_replicons(request: HttpRequest, filters: Query[ReferenceFilter]):
    """Replicons, optionally of one reference; sequences only on the detail endpoint."""
    return queries.replicons(filters.accession())


@router.get("replicons/{int:pk}/", response={200: RepliconDetailOut, **ERRORS})
def get_replicon(request: HttpRequest, pk: int) -> Replicon:
    """One replicon with its sequence."""
    return queries.replicon(pk)


class GeneFilter(ReferenceFilter):
    """Genes of one reference and/or one symbol."""

    symbol: str | None = None


@router.get("genes/", response={200: list[GeneOut], **ERRORS})
@paginate(SonarPagination)
def list_genes(request: HttpRequest, filters: Query[GeneFilter]):
    """Genes with their CDS (segments 1-based inclusive), optionally filtered."""
    return queries.genes(filters.accession(), filters.symbol)


@router.get("genes/{int:pk}/", response={200: GeneOut, **ERRORS})
def get_gene(request: HttpRequest, pk: int) -> Gene:
    """One gene by id."""
    return queries.gene(pk)


class AlignmentFilter(ReferenceFilter):
    """Alignments of one reference, replicon and/or sequence."""

    replicon: str | None = None
    seqhash: str | None = None


@router.get("alignments/", response={200: list[AlignmentOut], **ERRORS})
@paginate(SonarPagination)
def list_alignments(request: HttpRequest, filters: Query[AlignmentFilter]):
    """Alignments (one per sequence and replicon) with covered range and mutation counts."""
    return queries.alignments(filters.accession(), filters.replicon, filters.seqhash)


@router.get("alignments/{int:pk}/", response={200: AlignmentOut, **ERRORS})
def get_alignment(request: HttpRequest, pk: int) -> Alignment:
    """One alignment by id."""
    return queries.alignment(pk)


class LineageFilter(ReferenceFilter):
    """Lineages of one reference, by name or parent."""

    name: str | None = None
    parent: str | None = None


@router.get("lineages/", response={200: list[LineageOut], **ERRORS})
@paginate(SonarPagination)
def list_lineages(request: HttpRequest, filters: Query[LineageFilter]):
    """Lineages with their parents."""
    return queries.lineages(filters.accession(), filters.name, filters.parent)


@router.get("lineages/{int:pk}/", response={200: LineageOut, **ERRORS})
def get_lineage(request: HttpRequest, pk: int) -> Lineage:
    """One lineage by id."""
    return queries.lineage(pk)


@router.get("lineages/{int:pk}/get_sublineages/", response={200: SublineagesOut, **ERRORS})
def get_sublineages(request: HttpRequest, pk: int) -> dict:
    """The lineage and all its descendants (sonar's ``get_sublineages``)."""
    return {"sublineages": queries.sublineages(pk)}
