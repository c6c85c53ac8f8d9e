"""Loading real data: counts, idempotence, replacement without stale links, metadata types."""

from __future__ import annotations

import csv
import datetime as dt
import lzma
from pathlib import Path

import pytest
from django.core.management import call_command

from analyses.calling.seqio import read_fasta
from analyses.models import Alignment, MutationCount, NucleotideMutation, UnknownRange
from emgsonar.errors import ConflictError, EmgsonarError
from emgsonar.versions import tool_versions
from ena_like.models import Property, Sample, SampleProperty, SampleSequence, Sequence
from ena_like.services.properties import add_property
from tests.helpers.checks import index_problems, snapshot
from tests.helpers.load import load_dataset
from workflows.steps.plan import plan_import
from workflows.steps.split import split_fasta

REF = "MN908947.3"
SC2 = "sars-cov-2"


def _sc2_12(shared_data: Path) -> tuple[Path, Path]:
    return shared_data / SC2 / "SARS-CoV-2_12.fasta.xz", shared_data / SC2 / "SARS-CoV-2_12.tsv.xz"


def _write_fasta(path: Path, records: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f">{name}\n{seq}\n" for name, seq in records))
    return path


@pytest.mark.django_db
def test_sonar_12_with_typed_metadata(sars_cov_2_reference: int, shared_data: Path) -> None:
    add_property("age", "integer", "age in years")
    add_property("euro", "float")
    summary = load_dataset(REF, *_sc2_12(shared_data))
    assert summary["load"]["failed"] == []
    assert summary["manifest"]["records"] == 12 and summary["plan"]["new_samples"] == 12
    samples = Sample.objects.filter(reference_id=sars_cov_2_reference)
    assert samples.count() == 12
    assert SampleSequence.objects.filter(sample__in=samples).count() == 12
    assert Alignment.objects.filter(replicon__reference_id=sars_cov_2_reference).count() == 12
    assert index_problems(sars_cov_2_reference) == []
    assert summary["metadata"]["new_text_properties"] == ["sample_type", "comments"]
    assert set(Property.objects.values_list("name", "datatype")) >= {
        ("age", "integer"), ("euro", "float"), ("sample_type", "text"), ("comments", "text"),
    }  # fmt: skip
    first = Sample.objects.get(name="IMS-10338-CVDP-BAF51380-B921-4701-98ED-8DAACF2C7D11")
    assert (first.lineage, first.collection_date, first.zip_code, first.lab) == (
        "AY.4", dt.date(2021, 12, 30), "60327", "DEMIS-SL-10338",
    )  # fmt: skip
    fasta = {r.id: r for r in read_fasta(shared_data / SC2 / "SARS-CoV-2_12.fasta.xz")}
    assert first.length == len(fasta[first.name].sequence)
    # numbers compare as numbers: 9 < 48 as integers, not as text ("9" > "48"); expected from
    # the TSV itself, read here with csv
    with lzma.open(_sc2_12(shared_data)[1], "rt") as handle:
        ages = {row["name"]: int(row["age"]) for row in csv.DictReader(handle, delimiter="\t")}
    age = SampleProperty.objects.filter(property__name="age")
    assert age.get(sample=first).value_integer == 48
    older = {name for name, years in ages.items() if years > 9}
    assert len(older) == 12 and sum(1 for years in ages.values() if str(years) > "9") == 3
    assert set(age.filter(value_integer__gt=9).values_list("sample__name", flat=True)) == older
    assert SampleProperty.objects.get(sample=first, property__name="euro").value_float == 63.33
    # a sample carries its calls: the well-known Delta spike mutation of this AY.4 genome
    labels = set(
        NucleotideMutation.objects.filter(id__in=first.nt_mutation_ids).values_list(
            "label", flat=True
        )
    )
    assert "A23403G" in labels
    counted = MutationCount.objects.get(
        reference_id=sars_cov_2_reference,
        level="nt",
        mutation_id=NucleotideMutation.objects.get(label="A23403G").id,
    )
    assert (
        counted.samples == samples.filter(nt_mutation_ids__contains=[counted.mutation_id]).count()
    )
    assert UnknownRange.objects.filter(alignment__sequence__records__sample=first).exists()


@pytest.mark.django_db
def test_reimport_changes_nothing(sars_cov_2_reference: int, shared_data: Path) -> None:
    args = (REF, *_sc2_12(shared_data))
    load_dataset(*args)
    before = snapshot()
    again = load_dataset(*args)
    assert snapshot() == before
    assert again["manifest"]["new_sequences"] == 0
    assert again["plan"]["replaced_samples"] == []
    assert (again["load"]["records_unchanged"], again["load"]["samples_changed"]) == (12, 0)
    assert (again["metadata"]["samples_unchanged"], again["metadata"]["samples_updated"]) == (12, 0)


@pytest.mark.django_db
def test_changed_sequence_replaces_calls(
    sars_cov_2_reference: int, shared_data: Path, tmp_path: Path
) -> None:
    source = shared_data / SC2 / "SARS-CoV-2_12.fasta.xz"
    load_dataset(REF, source)
    records = [(r.id, r.sequence) for r in read_fasta(source)]
    before_b = set(Sample.objects.get(name=records[1][0]).nt_mutation_ids)
    (a, _), (b, seq_b), (_, seq_c) = records[0], records[1], records[5]
    old_hashes = set(
        SampleSequence.objects.filter(name__in=[a, b]).values_list("sequence__seqhash", flat=True)
    )
    # a gets another stored genome's sequence; b gets one new substitution (C→T at 10000)
    pos = next(i for i in range(9999, 12000) if seq_b[i] == "C")
    mutated = seq_b[:pos] + "T" + seq_b[pos + 1 :]
    changed = _write_fasta(tmp_path / "changed.fasta", [(a, seq_c), (b, mutated)])
    manifest = split_fasta(changed, tmp_path / "work", 10, sars_cov_2_reference)
    plan = plan_import(sars_cov_2_reference, manifest.all_records())
    assert plan.replaced_samples == sorted([a, b]) and plan.needs_confirmation
    assert (manifest.new_sequences, manifest.already_aligned) == (1, 1)

    summary = load_dataset(REF, changed)
    assert summary["load"]["records_replaced"] == 2
    assert summary["load"]["sequences_collected"] == 2
    assert not Sequence.objects.filter(seqhash__in=old_hashes).exists()  # no stale alignments
    assert Sequence.objects.count() == 11 and Alignment.objects.count() == 11
    assert index_problems(sars_cov_2_reference) == []
    sample_a, sample_c = Sample.objects.get(name=a), Sample.objects.get(name=records[5][0])
    assert sample_a.nt_mutation_ids == sample_c.nt_mutation_ids
    gained = set(Sample.objects.get(name=b).nt_mutation_ids) - before_b
    assert len(gained) == 1  # exactly the one substitution, nothing stale, nothing lost
    new_mutation = NucleotideMutation.objects.get(id=gained.pop())
    assert (new_mutation.kind, new_mutation.ref, new_mutation.alt) == ("sub", "C", "T")
    alignment = Alignment.objects.get(sequence__records__name=b)
    assert {int(k) for k in alignment.aa_parents} <= set(alignment.aa_mutation_ids)
    assert {n for v in alignment.aa_parents.values() for n in v} <= set(alignment.nt_mutation_ids)
    # back to the originals: the same state as a fresh load of the file
    load_dataset(REF, source)
    assert index_problems(sars_cov_2_reference) == []
    assert Sequence.objects.count() == 12


@pytest.mark.django_db
def test_sonar_10_iso_dates_and_header_suffix(sars_cov_2_reference: int, shared_data: Path) -> None:
    summary = load_dataset(
        REF,
        shared_data / SC2 / "SARS-CoV-2_10.fasta.xz",
        shared_data / SC2 / "SARS-CoV-2_10.tsv.xz",
        {
            "name": "igs_id",
            "collection_date": "date_of_sampling",
            "lineage": "lineages",
            "sequencing_tech": "sequencing_platform",
            "data_set": "data_set",
        },
        chunk_size=4,
    )
    assert summary["manifest"]["chunks"] == 3 and summary["load"]["failed"] == []
    sample = Sample.objects.get(name="IGS-10285-CVDP-D2CF5004-DAC2-48D6-B6A4-7F76D5D3C8EA")
    assert (sample.collection_date, sample.lineage, sample.sequencing_tech, sample.data_set) == (
        dt.date(2024, 11, 5), "XEC", "OXFORD_NANOPORE", "RKI",
    )  # fmt: skip
    assert Sample.objects.filter(reference_id=sars_cov_2_reference).count() == 10
    assert index_problems(sars_cov_2_reference) == []


@pytest.mark.django_db
def test_sonar_6_autolink(sars_cov_2_reference: int, shared_data: Path) -> None:
    summary = load_dataset(
        REF,
        shared_data / SC2 / "SARS-CoV-2_6.fasta.gz",
        shared_data / SC2 / "SARS-CoV-2_6.meta_autolink.tsv",
        {"name": "IMS_ID"},
        auto_link=True,
    )
    assert summary["metadata"]["rows"] == 5 and summary["metadata"]["samples_created"] == 0
    dates = dict(
        Sample.objects.filter(name__startswith="IMS-10025-CVDP-00960").values_list(
            "name", "collection_date"
        )
    )
    # exact names: the "-1" record is its own sample, without the other one's metadata
    assert dates == {
        "IMS-10025-CVDP-00960": dt.date(2021, 2, 9),
        "IMS-10025-CVDP-00960-1": None,
    }
    assert Sample.objects.get(name="IMS-10025-CVDP-00960").sequencing_tech == "ION_TORRENT"
    assert Sample.objects.filter(reference_id=sars_cov_2_reference).count() == 6
    assert index_problems(sars_cov_2_reference) == []


@pytest.mark.django_db
def test_influenza_segments_grouped(influenza_h1n1_reference: int, shared_data: Path) -> None:
    flu = shared_data / "influenza/influenza-A/H1N1PDM_California"
    summary = load_dataset(
        "NC_026438.1",
        flu / "H1N1.sequences.fasta.xz",
        flu / "H1N1PDM.sequences.tsv",
        {"name": "name", "sequences": "sequences", "collection_date": "date", "place": "location"},
        chunk_size=20,
    )
    # A/PR/8/34 (a 1934 laboratory strain) is ~20% divergent from the 2009 pandemic
    # reference: asm5 finds nothing, the sensitive fallback preset aligns every segment
    assert summary["load"]["failed"] == []
    assert summary["manifest"]["records"] == 67
    assert Sample.objects.filter(reference_id=influenza_h1n1_reference).count() == 18
    pr8 = Sample.objects.get(name="A/PR/8/34")
    assert SampleSequence.objects.filter(sample=pr8).count() == 8
    assert (
        Alignment.objects.filter(sequence__records__sample=pr8)
        .values("replicon")
        .distinct()
        .count()
        == 8
    )
    # the alignment records which preset made it: the fallback for this divergent strain only
    assert set(
        Alignment.objects.filter(sequence__records__sample=pr8).values_list("aligner", flat=True)
    ) == {f"minimap2/mappy {tool_versions()['mappy']} map-ont"}
    assert (
        not Alignment.objects.exclude(sequence__records__sample=pr8)
        .exclude(aligner__endswith=" asm5")
        .exists()
    )
    patent = Sample.objects.get(name="EP2483428")
    records = SampleSequence.objects.filter(sample=patent)
    assert records.count() == 8
    replicons = set(
        Alignment.objects.filter(sequence__records__sample=patent).values_list(
            "replicon__accession", flat=True
        )
    )
    assert len(replicons) == 8  # one segment per replicon
    assert patent.collection_date == dt.date(2023, 1, 1)
    assert not NucleotideMutation.objects.filter(
        replicon__reference_id=influenza_h1n1_reference, label__contains="NC_"
    ).exists()  # labels are stored without the replicon prefix
    assert index_problems(influenza_h1n1_reference) == []


@pytest.mark.django_db
def test_properties_service_and_command(capsys: pytest.CaptureFixture[str]) -> None:
    prop = add_property("ct_value", "float", "cycle threshold")
    assert add_property("ct_value", "float") == prop  # idempotent
    with pytest.raises(ConflictError) as caught:
        add_property("ct_value", "integer")
    assert str(caught.value) == (
        "property 'ct_value' already exists with type float (got 'integer'). "
        "Choose another name, or delete the property and its values first."
    )
    with pytest.raises(ConflictError, match="'lineage' is a fixed sample column"):
        add_property("lineage", "text")
    with pytest.raises(EmgsonarError, match="unknown property type"):
        add_property("x", "number")
    call_command("add_property", "vaccinated", "--type", "bool", "--description", "yes/no")
    assert Property.objects.get(name="vaccinated").datatype == "bool"
    assert capsys.readouterr().out == "property vaccinated (bool)\n"


@pytest.mark.django_db
def test_identical_sequences_aligned_once(
    sars_cov_2_reference: int, shared_data: Path, tmp_path: Path
) -> None:
    records = list(read_fasta(shared_data / SC2 / "SARS-CoV-2_12.fasta.xz"))[:2]
    same, other = records[0].sequence, records[1].sequence
    path = _write_fasta(
        tmp_path / "dups.fasta", [("s1", same), ("s2", other), ("s3", same), ("s4", same)]
    )
    manifest = split_fasta(path, tmp_path / "work", 1, sars_cov_2_reference)
    assert (manifest.distinct_sequences, manifest.new_sequences) == (2, 2)
    # a record joins the chunk that aligns its sequence, wherever it is in the file
    assert [[r.record_name for r in c.records] for c in manifest.chunks] == [
        ["s1", "s3", "s4"],
        ["s2"],
    ]
    load_dataset(REF, path, chunk_size=1)
    assert Sequence.objects.count() == 2 and Alignment.objects.count() == 2
    s1, s3 = Sample.objects.get(name="s1"), Sample.objects.get(name="s3")
    assert s1.nt_mutation_ids == s3.nt_mutation_ids
    shared = set(s1.nt_mutation_ids) - set(Sample.objects.get(name="s2").nt_mutation_ids)
    counts = MutationCount.objects.filter(level="nt", mutation_id__in=shared)
    assert set(counts.values_list("samples", flat=True)) == {3}
    assert index_problems(sars_cov_2_reference) == []
