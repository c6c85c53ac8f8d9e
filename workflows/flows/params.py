"""Parameter models of the import flows that other layers (API, commands) share.

Kept apart from the flow modules so that the API can validate a request body without importing
a flow's tasks; the flow signature uses the same class, so the dashboard form, the CLI flags and
``POST /api/imports/`` can never disagree.
"""

from pydantic import BaseModel, ConfigDict, Field, model_validator

from emgsonar.config import Executor


class ImportSamplesParams(BaseModel):
    """Parameters of a sample import (rendered as the run form in the Prefect dashboard)."""

    model_config = ConfigDict(extra="forbid")

    reference: str = Field(
        min_length=1, description="accession of an imported reference, e.g. MN908947.3"
    )
    fasta: str | None = Field(
        default=None,
        description="genomes: local path, http(s) URL or ena:ACC1,ACC2; plain, gz, xz, zst or zip",
    )
    fasta_sha256: str | None = Field(
        default=None, description="expected SHA-256 of the FASTA file as stored (optional)"
    )
    metadata: str | None = Field(
        default=None, description="metadata table (TSV/CSV), one row per sample; path or URL"
    )
    metadata_sha256: str | None = Field(default=None, description="expected SHA-256 (optional)")
    cols: dict[str, str] = Field(
        default_factory=dict,
        description='property → metadata column, e.g. {"name": "IMS_ID"}',
    )
    auto_link: bool = Field(
        default=False,
        description="also map columns named like a sample field or a declared property",
    )
    skip_invalid_rows: bool = Field(
        default=False,
        description="leave out metadata rows with bad values (listed in the summary) "
        "instead of refusing the whole file",
    )
    executor: Executor | None = Field(
        default=None,
        description="where chunks are aligned: local processes or Slurm jobs "
        "(default: EMGSONAR_IMPORTS__EXECUTOR)",
    )
    chunk_size: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="sequences per chunk / cluster job (default: EMGSONAR_IMPORTS__CHUNK_SIZE)",
    )
    confirm_replace: bool = Field(
        default=False,
        description="replace the sequences of existing samples without asking "
        "(otherwise the run pauses for the operator's confirmation)",
    )

    @model_validator(mode="after")
    def _something_to_import(self) -> "ImportSamplesParams":
        if not self.fasta and not self.metadata:
            raise ValueError("give a FASTA file (fasta), a metadata table (metadata), or both")
        return self
