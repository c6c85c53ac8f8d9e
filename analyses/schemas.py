"""Response schemas of the reference-data endpoints."""

from ninja import Field, Schema
from pydantic import ConfigDict


class ForbidExtra(Schema):
    """Input schema base: unknown parameters are an error."""

    model_config = ConfigDict(extra="forbid")


class ReferenceOut(Schema):
    """A reference genome (organism) with the accessions of its replicons."""

    id: int
    accession: str = Field(description="Accession.version of the first GenBank record")
    description: str
    organism: str
    replicons: list[str] = Field(description="Replicon accessions in import order")
    created: str = Field(description="Import time (ISO 8601)")

    @staticmethod
    def resolve_replicons(obj) -> list[str]:
        return [r.accession for r in obj.replicons.all()]

    @staticmethod
    def resolve_created(obj) -> str:
        return obj.created.isoformat()


class RepliconOut(Schema):
    """One molecule (GenBank record) of a reference; the sequence itself only on detail."""

    id: int
    accession: str
    description: str
    molecule_type: str
    topology: str
    length: int
    position: int = Field(description="Order within the reference (segment number)")
    reference: str = Field(description="Accession of the reference")

    @staticmethod
    def resolve_reference(obj) -> str:
        return obj.reference.accession


class RepliconDetailOut(RepliconOut):
    """A replicon with its sequence."""

    sequence: str


class SegmentOut(Schema):
    """One part of a CDS; coordinates 1-based inclusive like GenBank."""

    order: int
    start: int = Field(description="1-based first base")
    end: int = Field(description="1-based last base (inclusive)")
    strand: int

    @staticmethod
    def resolve_start(obj) -> int:
        return obj.start + 1


class CdsOut(Schema):
    """A CDS of a gene with its reference protein."""

    id: int
    symbol: str
    locus_tag: str
    protein_id: str
    product: str
    strand: int
    nt_length: int
    transl_table: int
    translation: str
    segments: list[SegmentOut]

    @staticmethod
    def resolve_segments(obj) -> list:
        return list(obj.segments.all())


class GeneOut(Schema):
    """A gene (or a CDS without gene feature, listed under its own symbol) and its CDS."""

    id: int
    symbol: str
    locus_tag: str
    description: str
    start: int = Field(description="1-based first base")
    end: int = Field(description="1-based last base (inclusive)")
    strand: int
    replicon: str
    reference: str
    cds: list[CdsOut]

    @staticmethod
    def resolve_start(obj) -> int:
        return obj.start + 1

    @staticmethod
    def resolve_replicon(obj) -> str:
        return obj.replicon.accession

    @staticmethod
    def resolve_reference(obj) -> str:
        return obj.replicon.reference.accession

    @staticmethod
    def resolve_cds(obj) -> list:
        return list(obj.cds.all())


class AlignmentOut(Schema):
    """The calls of one distinct sequence against one replicon (mutation ids not listed)."""

    id: int
    sequence_id: int
    seqhash: str
    replicon: str = Field(description="Replicon accession")
    covered_start: int = Field(description="1-based first aligned reference base")
    covered_end: int = Field(description="1-based last aligned reference base (inclusive)")
    reverse_complemented: bool
    frameshift_cds: list[str]
    nt_mutations: int = Field(description="Number of nucleotide mutations")
    aa_mutations: int = Field(description="Number of amino-acid mutations")

    @staticmethod
    def resolve_seqhash(obj) -> str:
        return obj.sequence.seqhash

    @staticmethod
    def resolve_replicon(obj) -> str:
        return obj.replicon.accession

    @staticmethod
    def resolve_covered_start(obj) -> int:
        return obj.covered.lower + 1

    @staticmethod
    def resolve_covered_end(obj) -> int:
        return obj.covered.upper

    @staticmethod
    def resolve_nt_mutations(obj) -> int:
        return len(obj.nt_mutation_ids)

    @staticmethod
    def resolve_aa_mutations(obj) -> int:
        return len(obj.aa_mutation_ids)


class LineageOut(Schema):
    """A lineage with its parents (several for recombinants)."""

    id: int
    name: str
    full_name: str
    description: str
    withdrawn: bool
    reference: str
    parents: list[str]

    @staticmethod
    def resolve_reference(obj) -> str:
        return obj.reference.accession

    @staticmethod
    def resolve_parents(obj) -> list[str]:
        return sorted(p.name for p in obj.parents.all())


class SublineagesOut(Schema):
    """The lineage itself and all its descendants, sorted."""

    sublineages: list[str]


class AccessionsOut(Schema):
    accessions: list[str]


class GeneSymbolsOut(Schema):
    gene_symbols: list[str] = Field(description="CDS and gene symbols, sorted")


class MoleculeOut(Schema):
    """A replicon as sonar's ``get_molecule_data`` answers it (our names and sonar's)."""

    id: int
    accession: str
    description: str
    length: int
    sequence: str
    molecule_type: str
    type: str = Field(description="Sonar's name of molecule_type")
    topology: str
    position: int
    segment_number: int = Field(description="Sonar's name of position")
    reference_id: int
    reference: str
    translation_id: int = Field(description="NCBI genetic code of the replicon's CDS")


class AlignmentDataOut(Schema):
    """One alignment as sonar's ``get_alignment_data`` answers it."""

    id: int
    alignment_id: int = Field(description="Same as id (sonar's key)")
    replicon_id: int
    sequence_id: int
    sequence_name: str | None = Field(description="A record holding the sequence")
