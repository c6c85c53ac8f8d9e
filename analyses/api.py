"""Reference-data endpoints: ``references/``, ``replicons/``, ``genes/``, ``alignments/``,
``lineages/`` (+ ``get_sublineages``), and sonar's lookups on them that its frontend and CLI
call (``distinct_accessions``, ``distinct_gene_symbols``, ``get_molecule_data``,
``get_gene_data``, ``get_alignment_data``, ``resources/get_translation_table``)."""

from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate
from pydantic import ConfigDict

from analyses import queries
from analyses.models import Alignment, Gene, Lineage, Reference, Replicon
from analyses.schemas import (
    AccessionsOut,
    AlignmentDataOut,
    AlignmentOut,
    ForbidExtra,
    GeneOut,
    GeneSymbolsOut,
    LineageOut,
    MoleculeOut,
    ReferenceOut,
    RepliconDetailOut,
    RepliconOut,
    SublineagesOut,
)
from emgsonar.auth import READ_AUTH
from emgsonar.pagination import SonarPagination
from emgsonar.schemas import ErrorOut

router = Router(tags=["reference data"], auth=READ_AUTH)


#: error responses every read may give (401 only when reads are not public)
ERRORS = {401: ErrorOut, 404: ErrorOut, 422: ErrorOut}


class ReferenceFilter(Schema):
    """Restrict a list to one reference (``reference`` is sonar's alias)."""

    reference_accession: str | None = None
    reference: str | None = None

    def accession(self) -> str | None:
        return queries.clean_accession(self.reference_accession or self.reference)


class ReferenceParams(ReferenceFilter):
    """Sonar's lookups: an optional reference, nothing else."""

    model_config = ConfigDict(extra="forbid")


class MoleculeParams(ReferenceParams):
    """``get_molecule_data``: one replicon by id, or all of a reference."""

    replicon_id: int | None = None


class GeneDataParams(ForbidExtra):
    """``get_gene_data``: genes of a reference, of a replicon (id) or of a replicon (accession)."""

    ref_acc: str | None = None
    replicon_id: int | None = None
    replicon_acc: str | None = None


class TranslationParams(ForbidExtra):
    """The NCBI genetic code (``transl_table``); sonar serves the standard code, 1."""

    translation_id: int = Field(1, ge=1, le=33)


@router.get("references/", response={200: list[ReferenceOut], **ERRORS})
@paginate(SonarPagination)
def list_references(request: HttpRequest):
    """All references (organisms) with their replicon accessions."""
    return queries.references()


@router.get("references/get_all_references/", response={200: list[ReferenceOut], **ERRORS})
def get_all_references(request: HttpRequest):
    """Every reference, unpaginated (sonar's CLI lists them with this)."""
    return queries.references()


@router.get("references/distinct_accessions/", response={200: list[str], **ERRORS})
def reference_accessions(request: HttpRequest):
    """Every reference accession (a plain list, as sonar answers)."""
    return queries.reference_accessions()


@router.get("references/{int:pk}/", response={200: ReferenceOut, **ERRORS})
def get_reference(request: HttpRequest, pk: int) -> Reference:
    """One reference by id."""
    return queries.reference(pk)


@router.get("replicons/", response={200: list[RepliconOut], **ERRORS})
@paginate(SonarPagination)
def list_replicons(request: HttpRequest, filters: Query[ReferenceFilter]):
    """Replicons, optionally of one reference; sequences only on the detail endpoint."""
    return queries.replicons(filters.accession())


@router.get("replicons/distinct_accessions/", response={200: AccessionsOut, **ERRORS})
def replicon_accessions(request: HttpRequest, params: Query[ReferenceParams]):
    """Replicon accessions of the reference (the frontend's replicon filter options)."""
    return {"accessions": queries.replicon_accessions(params.accession())}


@router.get(
    "replicons/get_molecule_data/", response={200: list[MoleculeOut], 400: ErrorOut, **ERRORS}
)
def get_molecule_data(request: HttpRequest, params: Query[MoleculeParams]):
    """Replicons with their sequence, by ``replicon_id`` or ``reference`` (sonar's CLI)."""
    return queries.molecule_data(params.replicon_id, params.accession())


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


@router.get("genes/distinct_gene_symbols/", response={200: GeneSymbolsOut, **ERRORS})
def gene_symbols(request: HttpRequest, params: Query[ReferenceParams]):
    """CDS and gene symbols of the reference, as amino-acid queries accept them."""
    return {"gene_symbols": queries.gene_symbols(params.accession())}


@router.get("genes/get_gene_data/", response={200: list[dict[str, Any]], 400: ErrorOut, **ERRORS})
def get_gene_data(request: HttpRequest, params: Query[GeneDataParams]):
    """Sonar's flat gene rows with their CDS (0-based, end exclusive), by reference or replicon."""
    return queries.gene_data(params.ref_acc, params.replicon_id, params.replicon_acc)


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


@router.get(
    "alignments/get_alignment_data/{seqhash}/{int:replicon_id}/",
    response={200: AlignmentDataOut, **ERRORS},
)
def get_alignment_data(request: HttpRequest, seqhash: str, replicon_id: int):
    """The alignment of one sequence (seqhash) to one replicon, with a record name."""
    return queries.alignment_data(seqhash, replicon_id)


@router.get(
    "resources/get_translation_table/", response={200: dict[str, str], **ERRORS}, tags=["resources"]
)
def get_translation_table(request: HttpRequest, params: Query[TranslationParams]):
    """Codon → amino acid over IUPAC codes and gaps (sonar's translation table resource)."""
    return queries.translation_table(params.translation_id)


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
