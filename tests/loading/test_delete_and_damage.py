"""Deleting leaves nothing behind; damaged input loads nothing; failures are listed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from analyses.calling.seqio import read_fasta
from analyses.calling.types import UnknownAa
from emgsonar.errors import InputFormatError, NotFoundError
from ena_like.models import Sample, SampleSequence
from ena_like.services.deletion import delete_samples, delete_sequences
from tests.helpers.checks import index_problems, snapshot
from tests.helpers.load import load_dataset
from workflows.steps.align_chunk import align_chunk
from workflows.steps.annotate import annotate_chunk
from workflows.steps.load import load_chunk
from workflows.steps.manifest import read_chunk_results
from workflows.steps.reference_spec import reference_spec_from_db
from workflows.steps.split import split_fasta

REF = "MN908947.3"
SC2_12 = "sars-cov-2/SARS-CoV-2_12.fasta.xz"
KEPT = ("nt_mutation", "aa_mutation", "effect")  # the mutation dictionary is kept on purpose


def _without_dictionary(state: dict) -> dict:
    return {k: v for k, v in state.items() if k not in KEPT}


@pytest.mark.django_db
def test_delete_samples_is_clean(sars_cov_2_reference: int, shared_data: Path) -> None:
    before = snapshot()
    load_dataset(REF, shared_data / SC2_12, shared_data / "sars-cov-2/SARS-CoV-2_12.tsv.xz")
    samples = Sample.objects.filter(reference_id=sars_cov_2_reference)
    names = list(samples.values_list("name", flat=True))
    assert delete_samples(REF, [*names[:3], "no-such-sample"]) == (3, 3)
    assert index_problems(sars_cov_2_reference) == []
    assert delete_samples(REF, names) == (9, 9)
    assert _without_dictionary(snapshot()) == _without_dictionary(before)
    assert delete_samples(REF, names) == (0, 0)
    with pytest.raises(NotFoundError, match="unknown reference 'XX1'"):
        delete_samples("XX1", names)


@pytest.mark.django_db
def test_delete_sequences_of_grouped_sample(
    influenza_h1n1_reference: int, shared_data: Path
) -> None:
    flu = shared_data / "influenza/influenza-A/H1N1PDM_California"
    load_dataset(
        "NC_026438.1",
        flu / "H1N1.sequences.fasta.xz",
        flu / "H1N1PDM.sequences.tsv",
        {"name": "name", "sequences": "sequences"},
    )
    patent = Sample.objects.get(name="EP2483428")
    full = set(patent.nt_mutation_ids)
    assert delete_sequences("NC_026438.1", ["JB147291.1"]) == (1, 0)
    patent.refresh_from_db()
    assert set(patent.nt_mutation_ids) < full  # the PB2 segment's calls are gone
    assert SampleSequence.objects.filter(sample=patent).count() == 7
    assert index_problems(influenza_h1n1_reference) == []
    rest = [f"JB14729{i}.1" for i in range(2, 9)]
    assert delete_sequences("NC_026438.1", rest) == (7, 1)
    assert not Sample.objects.filter(name="EP2483428").exists()
    assert index_problems(influenza_h1n1_reference) == []


@pytest.mark.django_db
def test_truncated_archive_loads_nothing(
    sars_cov_2_reference: int, shared_data: Path, tmp_path: Path
) -> None:
    data = (shared_data / SC2_12).read_bytes()
    broken = tmp_path / "cut.fasta.xz"
    broken.write_bytes(data[: len(data) // 2])
    before = snapshot()
    work = tmp_path / "work"
    with pytest.raises(InputFormatError, match="xz archive is truncated or corrupt"):
        split_fasta(broken, work, 5, sars_cov_2_reference)
    assert list(work.iterdir()) == []  # no chunk, no manifest, no staging left
    with pytest.raises(InputFormatError, match="not a FASTA file"):
        split_fasta(shared_data / "sars-cov-2/SARS-CoV-2_6.tsv", work, 5, sars_cov_2_reference)
    assert snapshot() == before


@pytest.mark.django_db
def test_bad_records_listed_together(sars_cov_2_reference: int, tmp_path: Path) -> None:
    path = tmp_path / "bad.fasta"
    path.write_text(">a\nACGTJ\n>b\nACGT\n>a\nACGT\n>c\nAC*T\n")
    with pytest.raises(InputFormatError) as caught:
        split_fasta(path, tmp_path / "work", 5, sars_cov_2_reference)
    assert str(caught.value) == (
        f"{path}: 3 bad record(s): record 'a', position 5: character is not an IUPAC "
        "nucleotide code (got 'J'); record 'a' (line 5) occurs twice (first on line 1); "
        "record 'c', position 3: character is not an IUPAC nucleotide code (got '*'). "
        "Fix the records, or import with a policy that skips bad records."
    )
    path.write_text(">a\nACGTJ\n>b\nACGT\n>c\nAC*T\n")  # duplicates are never skipped
    manifest = split_fasta(path, tmp_path / "work", 5, sars_cov_2_reference, bad_records="silent")
    assert [r.record_name for r in manifest.all_records()] == ["b"]
    assert [name for name, _ in manifest.rejected] == ["a", "c"]


@pytest.mark.django_db
def test_uncallable_records_are_listed(
    sars_cov_2_reference: int, shared_data: Path, tmp_path: Path
) -> None:
    sc2 = next(iter(read_fasta(shared_data / SC2_12)))
    flu_fasta = shared_data / "influenza/influenza-A/H1N1PDM_California/H1N1.sequences.fasta.xz"
    flu = next(iter(read_fasta(flu_fasta)))
    path = tmp_path / "mixed.fasta"
    path.write_text(f">{sc2.id}\n{sc2.sequence}\n>{flu.id}\n{flu.sequence}\n")
    summary = load_dataset(REF, path)
    assert summary["load"]["failed"] == [[flu.id, "does not align to MN908947.3"]]
    assert summary["load"]["records_new"] == 1
    assert not Sample.objects.filter(name=flu.id).exists()


@pytest.mark.django_db
def test_results_of_another_reference_load_nothing(
    sars_cov_2_reference: int, shared_data: Path, tmp_path: Path
) -> None:
    """Only what the results file can get wrong is the user's error, naming what is unknown; a
    mutation missing from the id map is the caller's bug and stays a KeyError."""
    sc2 = next(iter(read_fasta(shared_data / SC2_12)))
    path = tmp_path / "one.fasta"
    path.write_text(f">{sc2.id}\n{sc2.sequence}\n")
    (chunk,) = split_fasta(path, tmp_path / "work", 5, sars_cov_2_reference).chunks
    spec = reference_spec_from_db(sars_cov_2_reference)
    align_chunk(spec, Path(chunk.fasta), Path(chunk.results))
    (result,) = read_chunk_results(chunk)
    assert result.nt_mutations  # so an empty id map misses some
    foreign = dataclasses.replace(result, unknown_aa=(*result.unknown_aa, UnknownAa("HA", 0, 5)))
    ids = annotate_chunk(sars_cov_2_reference, [foreign])
    before = snapshot()
    with pytest.raises(InputFormatError, match="names CDS HA, which this reference does not have"):
        load_chunk(sars_cov_2_reference, chunk.records, [foreign], ids)
    with pytest.raises(KeyError):
        load_chunk(sars_cov_2_reference, chunk.records, [result], {})
    assert snapshot() == before
