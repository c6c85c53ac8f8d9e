"""Response schemas of the reference-data endpoints (``references/``, ``replicons/``, ``genes/``)."""

from ninja import Field, Schema


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
