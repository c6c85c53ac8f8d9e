"""import_samples end to end on real data: the command, the flow, re-runs, confirmation, Slurm."""

from __future__ import annotations

import lzma
import threading
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from prefect.flow_runs import resume_flow_run

from analyses.models import Alignment, AminoAcidMutation, NucleotideMutation
from emgsonar.models import ImportRun
from ena_like.models import Sample, SampleSequence
from tests.flows.helpers import artifacts_by_key, flow_run
from workflows.flows import import_samples as samples_flow
from workflows.flows.import_reference import import_reference
from workflows.flows.import_samples import import_samples
from workflows.models import ClusterJob

pytestmark = [pytest.mark.prefect, pytest.mark.django_db(transaction=True)]


def sc2(shared_data: Path, name: str) -> str:
    return str(shared_data / "sars-cov-2" / name)


def db_contents() -> dict[str, object]:
    """What an import wrote, independent of ids and times (to compare two imports)."""
    samples = {}
    for s in Sample.objects.order_by("name"):
        nt = NucleotideMutation.objects.filter(id__in=s.nt_mutation_ids)
        aa = AminoAcidMutation.objects.filter(id__in=s.aa_mutation_ids)
        samples[s.name] = (
            s.lineage,
            s.collection_date,
            s.length,
            sorted(nt.values_list("label", flat=True)),
            sorted(aa.values_list("label", flat=True)),
        )
    return {
        "samples": samples,
        "records": sorted(SampleSequence.objects.values_list("name", "sequence__seqhash")),
        "alignments": sorted(
            Alignment.objects.values_list("sequence__seqhash", "covered", "frameshift_cds")
        ),
        "nt": sorted(NucleotideMutation.objects.values_list("label", "kind")),
        "aa": sorted(AminoAcidMutation.objects.values_list("label", "kind")),
    }


def test_command_imports_sars_cov_2_12_with_metadata_and_a_rerun_is_a_noop(
    shared_data: Path, sars_cov_2_reference: str, import_dirs: Path
) -> None:
    args = [
        "import_samples",
        "--reference",
        sars_cov_2_reference,
        "--fasta",
        sc2(shared_data, "SARS-CoV-2_12.fasta.xz"),
        "--metadata",
        sc2(shared_data, "SARS-CoV-2_12.tsv.xz"),
        "--cols",
        "name=name",
        "--auto-link",
        "--chunk-size",
        "5",
    ]
    out = StringIO()
    call_command(*args, stdout=out)

    assert Sample.objects.count() == 12
    assert SampleSequence.objects.count() == 12
    sample = Sample.objects.get(name="IMS-10338-CVDP-BAF51380-B921-4701-98ED-8DAACF2C7D11")
    assert sample.lineage and sample.collection_date and sample.nt_mutation_ids
    run = ImportRun.objects.get(kind="samples")
    assert run.state == "completed" and run.flow_run_id
    counts = run.summary["counts"]
    assert counts["records_read"] == 12
    assert counts["samples_created"] == 12
    assert counts["chunks"] == 3
    assert counts["records_failed"] == 0
    assert run.summary["new_mutations"]["nt"] > 100
    assert set(run.summary["steps"]) >= {"split", "align", "annotate", "load", "apply metadata"}
    assert [j["state"] for j in run.summary["cluster_jobs"]] == ["completed"] * 3
    assert "records read: 12" in out.getvalue()
    fr = flow_run(run.flow_run_id)
    assert fr.name == "samples MN908947.3 <- SARS-CoV-2_12.fasta.xz [default]"
    versions = artifacts_by_key(f"samples-import-{run.pk}-progress", run.flow_run_id)
    assert versions[0].data == 100.0
    (summary,) = artifacts_by_key(f"samples-import-{run.pk}-summary", run.flow_run_id)
    assert "| records read | 12 |" in summary.data
    assert "## Time per step" in summary.data and "## Cluster jobs" in summary.data
    # sequence QC of the 12 records: every sequence rated, the worst listed with reasons
    qc = run.summary["qc"]
    assert qc["good"] + qc["mediocre"] + qc["bad"] == 12 and qc["no_qc"] == 0
    assert qc["bad"] >= 1 and qc["worst"][0]["status"] == "bad" and qc["worst"][0]["reasons"]
    assert "## Sequence QC" in summary.data and f"`{qc['worst'][0]['record']}`" in summary.data
    before = db_contents()
    jobs = ClusterJob.objects.count()

    out = StringIO()
    call_command(*args, stdout=out)

    rerun = ImportRun.objects.filter(kind="samples").latest("created")
    assert rerun.pk != run.pk and rerun.state == "completed"
    assert rerun.summary["counts"]["sequences_to_align"] == 0
    assert rerun.summary["counts"]["records_unchanged"] == 12
    assert rerun.summary["counts"]["samples_created"] == 0
    assert rerun.summary["new_mutations"] == {"nt": 0, "aa": 0}
    assert ClusterJob.objects.count() == jobs
    assert db_contents() == before


def _with_one_changed_sequence(shared_data: Path, tmp_path: Path) -> tuple[Path, str]:
    text = lzma.open(sc2(shared_data, "SARS-CoV-2_12.fasta.xz"), "rt").read()
    records = text.split(">")[1:]
    header, *lines = records[0].splitlines()
    seq = "".join(lines)
    i = 20000
    seq = seq[:i] + ("A" if seq[i] != "A" else "C") + seq[i + 1 :]
    path = tmp_path / "changed.fasta"
    path.write_text(f">{header}\n{seq}\n")
    return path, header.split()[0]


def test_replacing_sequences_needs_yes_on_the_command_line(
    shared_data: Path, sars_cov_2_reference: str, import_dirs: Path
) -> None:
    call_command(
        "import_samples",
        "-r",
        sars_cov_2_reference,
        "-f",
        sc2(shared_data, "SARS-CoV-2_12.fasta.xz"),
        stdout=StringIO(),
    )
    changed, name = _with_one_changed_sequence(shared_data, import_dirs)
    old_hash = SampleSequence.objects.get(name=name).sequence.seqhash

    with pytest.raises(CommandError) as excinfo:
        call_command("import_samples", "-r", sars_cov_2_reference, "-f", str(changed))
    message = str(excinfo.value)
    assert f"1 sample(s) would have their sequences replaced: {name}" in message
    assert "pass --yes" in message
    assert excinfo.value.returncode == 2
    assert SampleSequence.objects.get(name=name).sequence.seqhash == old_hash
    refused = ImportRun.objects.filter(kind="samples").latest("created")
    assert refused.state == "failed" and "would have their sequences replaced" in refused.error

    call_command(
        "import_samples", "-r", sars_cov_2_reference, "-f", str(changed), "--yes", stdout=StringIO()
    )
    assert SampleSequence.objects.get(name=name).sequence.seqhash != old_hash
    done = ImportRun.objects.filter(kind="samples").latest("created")
    assert done.summary["counts"]["records_replaced"] == 1


def test_a_dashboard_run_pauses_for_the_operator_and_resumes_with_the_answer(
    shared_data: Path, sars_cov_2_reference: str, import_dirs: Path, monkeypatch
) -> None:
    import_samples(reference=sars_cov_2_reference, fasta=sc2(shared_data, "SARS-CoV-2_12.fasta.xz"))
    changed, name = _with_one_changed_sequence(shared_data, import_dirs)
    # a run started from a deployment may pause; this one is called in-process like one
    monkeypatch.setattr(samples_flow, "can_ask_operator", lambda: True)
    outcome: dict[str, object] = {}
    worker = threading.Thread(
        target=lambda: outcome.update(
            r=import_samples(reference=sars_cov_2_reference, fasta=str(changed))
        )
    )
    worker.start()
    deadline = time.monotonic() + 60
    run = None
    while time.monotonic() < deadline:
        run = ImportRun.objects.filter(kind="samples", state="awaiting_confirmation").first()
        if run is not None and flow_run(run.flow_run_id).state.is_paused():
            break
        time.sleep(0.5)
    assert run is not None, "the flow did not pause"
    (note,) = artifacts_by_key(f"samples-import-{run.pk}-replace", run.flow_run_id)
    assert name in note.data

    resume_flow_run(run.flow_run_id, run_input={"replace": True})
    worker.join(timeout=60)

    run.refresh_from_db()
    assert run.state == "completed"
    assert run.summary["counts"]["records_replaced"] == 1
    assert outcome["r"]["import_run_id"] == run.pk


def test_influenza_segments_are_grouped_into_samples_by_the_metadata(
    shared_data: Path, import_dirs: Path
) -> None:
    flu = shared_data / "influenza" / "influenza-A" / "H1N1PDM_California"
    import_reference(genbank=[str(p) for p in sorted(flu.glob("*.gb"))])
    call_command(
        "import_samples",
        "-r",
        "NC_026438.1",
        "-f",
        str(flu / "H1N1.sequences.fasta.xz"),
        "-t",
        str(flu / "H1N1PDM.sequences.tsv"),
        "--cols",
        "name=name",
        "sequences=sequences",
        "collection_date=date",
        stdout=StringIO(),
    )
    run = ImportRun.objects.get(kind="samples")
    assert run.state == "completed"
    assert Sample.objects.count() == 18
    counts = run.summary["counts"]
    assert counts["records_read"] == 67
    # A/PR/8/34 (LC662537-44.1) is ~20% divergent: the fallback preset aligns all 8 segments
    assert counts["records_failed"] == 0
    assert run.summary.get("failures", []) == []
    assert SampleSequence.objects.count() == 67
    assert Sample.objects.get(name="A/PR/8/34").records.count() == 8
    ep = Sample.objects.get(name="EP2483428")
    assert ep.records.count() == 8
    assert ep.collection_date.isoformat() == "2023-01-01"


def test_bad_input_fails_the_import_run_with_the_reason(
    sars_cov_2_reference: str, import_dirs: Path
) -> None:
    bad = import_dirs / "bad.fasta"
    bad.write_text(">x\nACGT!!\n")
    with pytest.raises(CommandError, match=r"bad\.fasta"):
        call_command("import_samples", "-r", sars_cov_2_reference, "-f", str(bad))
    run = ImportRun.objects.get(kind="samples")
    assert run.state == "failed" and "bad.fasta" in run.error
    with pytest.raises(CommandError, match="unknown reference 'NOPE'"):
        call_command("import_samples", "-r", "NOPE", "-f", str(bad))


def test_the_metadata_file_is_parsed_once_per_run(
    shared_data: Path,
    sars_cov_2_reference: str,
    import_dirs: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tsv = sc2(shared_data, "SARS-CoV-2_12.tsv.xz")
    with lzma.open(tsv, "rt") as handle:
        names = {line.split("\t")[0] for line in list(handle)[1:] if line.strip()}
    parsed = []
    real = samples_flow.read_metadata

    def counting_read_metadata(path: Path, *args: object, **kwargs: object) -> object:
        parsed.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(samples_flow, "read_metadata", counting_read_metadata)
    import_samples(reference=sars_cov_2_reference, metadata=tsv, cols={"name": "name"})

    assert parsed == ["SARS-CoV-2_12.tsv.xz"]
    assert set(Sample.objects.values_list("name", flat=True)) == names


def test_the_summary_lists_the_metadata_columns_that_were_ignored(
    sars_cov_2_reference: str, import_dirs: Path
) -> None:
    tsv = import_dirs / "meta.tsv"
    tsv.write_text("name\tlineage\tFreezer_Box\tcountry\nS1\tB.1\tbox 7\tDE\n")
    out = StringIO()
    call_command(
        "import_samples",
        "-r",
        sars_cov_2_reference,
        "-t",
        str(tsv),
        "--cols",
        "name=name",
        "country=country",
        stdout=out,
    )
    run = ImportRun.objects.get(kind="samples")
    # lineage is a sample field, but only --auto-link maps columns by their name
    assert run.summary["ignored_metadata_columns"] == ["lineage", "Freezer_Box"]
    assert "metadata columns ignored (not mapped): lineage, Freezer_Box" in out.getvalue()
    (summary,) = artifacts_by_key(f"samples-import-{run.pk}-summary", run.flow_run_id)
    assert "## Metadata columns ignored" in summary.data and "`Freezer_Box`" in summary.data

    call_command(
        "import_samples",
        "-r",
        sars_cov_2_reference,
        "-t",
        str(tsv),
        "--cols",
        "name=name",
        "--auto-link",
        stdout=StringIO(),
    )
    linked = ImportRun.objects.filter(kind="samples").latest("created")
    assert linked.summary["ignored_metadata_columns"] == ["Freezer_Box"]
    assert Sample.objects.get(name="S1").lineage == "B.1"


@pytest.mark.slurm
def test_slurm_executor_gives_the_same_database_as_local(
    shared_data: Path, import_dirs: Path, slurm_cluster: None
) -> None:
    gb = sc2(shared_data, "MN908947.nextclade.gb")
    fasta, tsv = (
        sc2(shared_data, "SARS-CoV-2_12.fasta.xz"),
        sc2(shared_data, "SARS-CoV-2_12.tsv.xz"),
    )
    contents = {}
    for executor in ("local", "slurm"):
        call_command("flush", interactive=False, verbosity=0)
        import_reference(genbank=[gb])
        call_command(
            "import_samples",
            "-r",
            "MN908947.3",
            "-f",
            fasta,
            "-t",
            tsv,
            "--cols",
            "name=name",
            "--auto-link",
            "--chunk-size",
            "4",
            "--executor",
            executor,
            stdout=StringIO(),
        )
        run = ImportRun.objects.get(kind="samples")
        assert run.state == "completed"
        assert {j["backend"] for j in run.summary["cluster_jobs"]} == {executor}
        if executor == "slurm":
            # the align step was ONE job array: its 3 chunks (12 records / 4) are its tasks
            names = {
                job.job_id.partition("_")[0]: job.spec["name"]
                for job in ClusterJob.objects.filter(import_run=run)
            }
            assert len(names) == 1, names
            tasks = sorted(
                job.job_id.partition("_")[2] for job in ClusterJob.objects.filter(import_run=run)
            )
            assert tasks == ["1", "2", "3"]
            assert set(names.values()) <= {f"emgsonar-run{run.pk}-align-{i}" for i in (1, 2, 3)}
        contents[executor] = db_contents()
    assert contents["slurm"] == contents["local"]
    assert len(contents["slurm"]["samples"]) == 12
