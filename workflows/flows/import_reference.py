"""Flow ``import_reference``: register a reference genome from GenBank files.

Sequence: start the ImportRun → download each GenBank file (paths, URLs) → import them as one
reference (one replicon per record) → summary artifact. The same files again are a no-op, so a
re-run is always safe. ``python manage.py import_reference`` runs this same flow in-process.
"""

import workflows.prefect_utils.django_setup  # noqa: F401

# isort: split
import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from analyses.services.references import ImportReferenceResult
from analyses.services.references import import_reference as import_reference_service
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

KIND = ImportRun.Kind.REFERENCE


class ImportReferenceParams(BaseModel):
    """Parameters of a reference import (rendered as the run form in the dashboard)."""

    model_config = ConfigDict(extra="forbid")

    genbank: list[str] = Field(
        min_length=1,
        description="GenBank files (local paths or URLs), one record per replicon; all files "
        "together make one reference (e.g. the 8 segments of an influenza virus)",
    )


def validate_reference_params(params: ImportReferenceParams) -> None:
    """Check what can be checked before any I/O: no empty file names."""
    if any(not source.strip() for source in params.genbank):
        raise ValueError("an empty GenBank file name was given")


@django_task(name="import-genbank")
def import_genbank(paths: list[Path], import_run_id: int) -> ImportReferenceResult:
    """Parse, check and store the reference (nothing is written if a file is broken)."""
    result = import_reference_service(paths, import_run_id=import_run_id)
    services.update_summary(
        import_run_id,
        reference_id=result.reference_id,
        counts={
            "replicons": result.replicons,
            "genes": result.genes,
            "cds": result.cds,
            "references_created": int(result.created),
        },
    )
    return result


def _run_name() -> str:
    files = run_parameter("genbank")
    first = Path(str((files or ["?"])[0])).name
    more = f" +{len(files) - 1}" if files and len(files) > 1 else ""
    return f"reference {first}{more}"


@django_flow(name="import_reference", flow_run_name=_run_name, log_prints=True, **HOOKS)
@flat_parameters(ImportReferenceParams)
def import_reference(
    params: ImportReferenceParams,
    import_run_id: int | None = Field(
        default=None,
        description="an ImportRun recorded beforehand (POST /api/imports/ sets it); "
        "leave empty to record a new one",
    ),
) -> dict[str, Any]:
    """Import one reference from GenBank files and record it as an ImportRun.

    :param import_run_id: an ImportRun created beforehand (by the API), else one is created.
    :returns: the ImportRun's id and summary.
    """
    validate_reference_params(params)
    run_id = start_import_run(KIND, params.model_dump(mode="json"), import_run_id)
    fetched = [download(source) for source in params.genbank]
    result = import_genbank([f.path for f in fetched], run_id)
    verb = "imported" if result.created else "already present (unchanged)"
    summary = finish_import_run(
        KIND,
        run_id,
        f"Reference {result.accession} {verb}",
        {
            f"reference {result.accession} (admin)": admin_url(
                "analyses", "reference", result.reference_id
            ),
            f"import run #{run_id} (admin)": admin_url("emgsonar", "importrun", run_id),
        },
    )
    return {"import_run_id": run_id, "accession": result.accession, **summary}
