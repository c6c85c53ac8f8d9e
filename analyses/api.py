"""Reference-data endpoints: ``references/``, ``replicons/``, ``genes/``."""

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.pagination import paginate

from analyses import queries
from analyses.models import Gene, Reference, Replicon
from analyses.schemas import GeneOut, ReferenceOut, RepliconDetailOut, RepliconOut
from emgsonar.pagination import SonarPagination

router = Router(tags=["reference data"])


class ErrorOut(Schema):
    """Every error body: a message naming the problem and a machine-readable code."""

    detail: str
    code: str | None = None


class ReferenceFilter(Schema):
    """Restrict a list to one reference (``reference`` is sonar's alias)."""

    reference_accession: str | None = None
    reference: str | None = None

    def accession(self) -> str | None:
        return queries.clean_accession(self.reference_accession or self.reference)


@router.get("references/", response=list[ReferenceOut])
@paginate(SonarPagination)
def list_references(request: HttpRequest):
    """All references (organisms) with their replicon accessions."""
    return queries.references()


@router.get("references/{int:pk}/", response={200: ReferenceOut, 404: ErrorOut})
def get_reference(request: HttpRequest, pk: int) -> Reference:
    """One reference by id."""
    return queries.reference(pk)


@router.get("replicons/", response={200: list[RepliconOut], 404: ErrorOut})
@paginate(SonarPagination)
def list_replicons(request: HttpRequest, filters: Query[ReferenceFilter]):
    """Replicons, optionally of one reference; sequences only on the detail endpoint."""
    return queries.replicons(filters.accession())


@router.get("replicons/{int:pk}/", response={200: RepliconDetailOut, 404: ErrorOut})
def get_replicon(request: HttpRequest, pk: int) -> Replicon:
    """One replicon with its sequence."""
    return queries.replicon(pk)


class GeneFilter(ReferenceFilter):
    """Genes of one reference and/or one symbol."""

    symbol: str | None = None


@router.get("genes/", response={200: list[GeneOut], 404: ErrorOut})
@paginate(SonarPagination)
def list_genes(request: HttpRequest, filters: Query[GeneFilter]):
    """Genes with their CDS (segments 1-based inclusive), optionally filtered."""
    return queries.genes(filters.accession(), filters.symbol)


@router.get("genes/{int:pk}/", response={200: GeneOut, 404: ErrorOut})
def get_gene(request: HttpRequest, pk: int) -> Gene:
    """One gene by id."""
    return queries.gene(pk)
