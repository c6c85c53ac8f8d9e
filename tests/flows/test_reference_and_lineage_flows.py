"""import_reference and import_lineages: flows as functions, the commands, artifacts."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from analyses.models import Lineage, Reference
from emgsonar.models import ImportRun
from tests.flows.helpers import artifacts_by_key, flow_run
from workflows.flows.import_lineages import ImportLineagesParams, import_lineages
from workflows.flows.import_reference import import_reference

pytestmark = [pytest.mark.prefect, pytest.mark.django_db(transaction=True)]


def test_import_reference_flow_records_the_run_and_is_idempotent(shared_data: Path) -> None:
    gb = shared_data / "sars-cov-2" / "MN908947.nextclade.gb"
    first = import_reference(genbank=[str(gb)])
    again = import_reference(genbank=[str(gb)])

    assert Reference.objects.filter(accession="MN908947.3").count() == 1
    assert first["counts"] == {"replicons": 1, "genes": 12, "cds": 12, "references_created": 1}
    assert again["counts"]["references_created"] == 0
    run = ImportRun.objects.get(pk=first["import_run_id"])
    assert (run.kind, run.state) == ("reference", "completed")
    assert {"emgsonar", "python", "mappy", "biopython", "prefect"} <= set(run.tool_versions)
    assert run.started and run.finished and run.flow_run_id
    fr = flow_run(run.flow_run_id)
    assert fr.name == "reference MN908947.nextclade.gb"
    assert fr.state.is_completed()
    (summary,) = artifacts_by_key(f"reference-import-{run.pk}-summary", run.flow_run_id)
    assert "Reference MN908947.3 imported" in summary.data
    assert f"/admin/analyses/reference/{run.summary['reference_id']}/change/" in summary.data


def test_import_reference_command_runs_the_flow_and_reports_errors(shared_data: Path) -> None:
    gb = shared_data / "sars-cov-2" / "MN908947.nextclade.gb"
    out = StringIO()
    call_command("import_reference", "--genbank", str(gb), stdout=out)
    assert out.getvalue().startswith("imported MN908947.3: 1 replicon(s), 12 gene(s), 12 CDS")

    with pytest.raises(CommandError, match=r"no-such\.gb: no such file") as excinfo:
        call_command("import_reference", "--genbank", "/no-such.gb")
    assert excinfo.value.returncode == 2
    failed = ImportRun.objects.get(kind="reference", state="failed")
    assert "no-such.gb: no such file" in failed.error


def test_import_lineage_command_tsv_then_pango(
    shared_data: Path, sars_cov_2_reference: str
) -> None:
    out = StringIO()
    tsv = shared_data / "sars-cov-2" / "lineages" / "lineages_test.tsv"
    call_command(
        "import_lineage", "--reference", sars_cov_2_reference, "--lineages", str(tsv), stdout=out
    )
    assert "created" in out.getvalue()
    created = Lineage.objects.count()
    assert created > 0
    again = import_lineages(reference=sars_cov_2_reference, lineages=str(tsv))
    assert again["counts"]["lineages_created"] == 0
    assert Lineage.objects.count() == created

    pango = shared_data / "peers" / "pango"
    call_command(
        "import_lineage",
        "-r",
        sars_cov_2_reference,
        "--pango",
        str(pango / "alias_key.json"),
        str(pango / "lineage_notes.txt"),
        stdout=out,
    )
    assert Lineage.objects.count() > 5000
    runs = ImportRun.objects.filter(kind="lineages", state="completed")
    assert runs.count() == 3


def test_lineage_params_need_exactly_one_source() -> None:
    with pytest.raises(Exception, match="either a lineage TSV or Pango"):
        ImportLineagesParams(reference="MN908947.3")
