"""Flow ``import_lineages``: a reference's lineage graph from a sonar TSV or Pango's files.

Sequence: start the ImportRun → download the source files → import (merge; the same file again
is a no-op) → summary artifact. ``python manage.py import_lineage`` runs this same flow.
"""

import workflows.prefect_utils.django_setup  # noqa: F401

# isort: split
import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from analyses.services.lineages import import_lineages as import_lineages_service
from analyses.services.lineages import validate_lineage_sources
from emgsonar.models import ImportRun
from workflows import services
from workflows.flows.common import (
    HOOKS,
    download,
    finish_import_run,
    run_parameter,
    start_import_run,
)
from workflows.flows.params import flat_parameters
from workflows.prefect_utils.artifacts import admin_url
from workflows.prefect_utils.tasks import django_flow, django_task

logger = logging.getLogger(__name__)

KIND = ImportRun.Kind.LINEAGES


class ImportLineagesParams(BaseModel):
    """Parameters of a lineage import: a sonar TSV, or Pango's alias key and lineage notes."""

    model_config = ConfigDict(extra="forbid")

    reference: str = Field(description="accession of the reference, e.g. MN908947.3")
    lineages: str | None = Field(
        default=None,
        description="sonar lineage TSV (columns lineage, sublineage); path or URL",
    )
    pango_alias_key: str | None = Field(
        default=None, description="Pango's alias_key.json; path or URL (with pango_notes)"
    )
    pango_notes: str | None = Field(
        default=None, description="Pango's lineage_notes.txt; path or URL (with pango_alias_key)"
    )

    @model_validator(mode="after")
    def _one_source(self) -> "ImportLineagesParams":
        validate_lineage_sources(
            Path(self.lineages) if self.lineages else None,
            Path(self.pango_alias_key) if self.pango_alias_key else None,
            Path(self.pango_notes) if self.pango_notes else None,
        )
        return self


@django_task(name="import-lineage-graph")
def import_lineage_graph(
    reference: str,
    lineages_tsv: Path | None,
    alias_key: Path | None,
    notes: Path | None,
    import_run_id: int,
) -> dict[str, Any]:
    """Merge the lineage graph into the reference's; record the counts in the ImportRun."""
    result = import_lineages_service(
        reference,
        lineages_tsv=lineages_tsv,
        alias_key=alias_key,
        notes=notes,
        import_run_id=import_run_id,
    )
    warnings = list(result.pop("warnings", []) or [])
    services.update_summary(import_run_id, counts=result, warnings=warnings[:100])
    return result


def _run_name() -> str:
    source = run_parameter("lineages") or run_parameter("pango_notes") or "?"
    return f"lineages {run_parameter('reference')} <- {Path(str(source)).name}"


@django_flow(name="import_lineages", flow_run_name=_run_name, log_prints=True, **HOOKS)
@flat_parameters(ImportLineagesParams)
def import_lineages(
    params: ImportLineagesParams,
    import_run_id: int | None = Field(
        default=None,
        description="an ImportRun recorded beforehand (POST /api/imports/ sets it); "
        "leave empty to record a new one",
    ),
) -> dict[str, Any]:
    """Import a lineage graph for a reference and record it as an ImportRun.

    :param import_run_id: an ImportRun created beforehand (by the API), else one is created.
    :returns: the ImportRun's id and summary.
    """
    run_id = start_import_run(KIND, params.model_dump(mode="json"), import_run_id)
    tsv = download(params.lineages) if params.lineages else None
    alias_key = download(params.pango_alias_key) if params.pango_alias_key else None
    notes = download(params.pango_notes) if params.pango_notes else None
    counts = import_lineage_graph(
        params.reference,
        tsv.path if tsv else None,
        alias_key.path if alias_key else None,
        notes.path if notes else None,
        run_id,
    )
    summary = finish_import_run(
        KIND,
        run_id,
        f"Lineages of {params.reference}: {counts.get('lineages', 0)} "
        f"({counts.get('lineages_created', 0)} new)",
        {
            "lineages (admin)": admin_url("analyses", "lineage"),
            f"import run #{run_id} (admin)": admin_url("emgsonar", "importrun", run_id),
        },
    )
    return {"import_run_id": run_id, **summary}
