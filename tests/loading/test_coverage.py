"""``SampleFieldCoverage`` stays exact through every writer: import, re-import, metadata
before/after sequences, metadata updates, replaced sequences, deleted records and samples —
and ``statistics``/``get_database_info``/``plot_metadata_coverage`` read it with the same
answers a scan of the samples gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyses.calling.seqio import read_fasta
from ena_like.filters import parse_filters
from ena_like.metadata import read_header, read_metadata
from ena_like.models import Sample, SampleFieldCoverage
from ena_like.queries.filtering import SampleQuery, filtered_samples, reference_or_none
from ena_like.queries.statistics import metadata_coverage
from ena_like.services.deletion import delete_samples, delete_sequences
from ena_like.services.properties import add_property, declared_properties
from ena_like.services.samples import apply_metadata
from tests.helpers.checks import coverage_problems, index_problems, snapshot
from tests.helpers.load import load_dataset

REF = "MN908947.3"
FASTA = "sars-cov-2/SARS-CoV-2_12.fasta.xz"
TSV = "sars-cov-2/SARS-CoV-2_12.tsv.xz"


def _metadata(path: Path):
    return read_metadata(
        path, {c: c for c in read_header(path) if c}, properties=declared_properties()
    )


def _scanned(reference) -> dict[str, int]:
    """``plot_metadata_coverage`` the way a filter computes it (a pass over the samples)."""
    query = SampleQuery(
        Sample.objects.filter(reference=reference),
        reference,
        parse_filters({"label": "Reference", "accession": REF}),
        None,
    )
    return metadata_coverage(query)


def _check_reads(client, reference_id: int) -> None:
    """Every reader of the stored coverage answers what a scan answers."""
    assert coverage_problems() == []
    reference = reference_or_none(REF)
    stored = metadata_coverage(filtered_samples(REF, None))
    assert stored == _scanned(reference)
    samples = Sample.objects.filter(reference_id=reference_id)
    stats = client.get("/api/samples/statistics/", {"reference": REF}).json()
    assert stats["samples_total"] == samples.count()
    derived = ("name", "genomic_profiles", "proteomic_profiles")
    assert sorted(stats["populated_metadata_fields"]) == sorted(
        k for k, n in stored.items() if n and k not in derived
    )
    dates = sorted(d for d in samples.values_list("collection_date", flat=True) if d)
    if dates:
        assert (stats["first_sample_date"], stats["latest_sample_date"]) == (
            dates[0].isoformat(),
            dates[-1].isoformat(),
        )
    info = client.get("/api/database/get_database_info/").json()["detail"]
    assert info["samples_total"] == Sample.objects.count()
    if info["samples_total"]:
        assert {k: int(v.split()[0]) for k, v in info["metadata_coverage"].items()} == stored


@pytest.mark.django_db
def test_coverage_exact_through_every_writer(
    client, sars_cov_2_reference: int, shared_data: Path, tmp_path: Path
) -> None:
    add_property("age", "integer")
    add_property("euro", "float")
    # metadata first: samples without a reference, counted under reference NULL
    apply_metadata(_metadata(shared_data / TSV))
    assert coverage_problems() == []
    assert SampleFieldCoverage.objects.filter(reference=None, field="*").get().samples == 12
    # the sequences arrive: the samples move to the reference, with all their fields
    load_dataset(REF, shared_data / FASTA)
    assert not SampleFieldCoverage.objects.filter(reference=None).exists()
    assert index_problems(sars_cov_2_reference) == []
    _check_reads(client, sars_cov_2_reference)
    # re-import of the same data changes nothing (coverage included in the snapshot)
    before = snapshot()
    load_dataset(REF, shared_data / FASTA, shared_data / TSV)
    assert snapshot() == before

    # a metadata update: values changed, values added, a metadata-only sample created
    names = list(Sample.objects.order_by("name").values_list("name", flat=True))
    update = tmp_path / "update.tsv"
    update.write_text(
        "name\tlineage\thost\tage\tcomments\n"
        f"{names[0]}\tBA.2\tHuman\t77\t\n"
        f"{names[1]}\t\tHuman\t\tnew comment\n"
        "metadata-only\tXBB.1\t\t5\t\n"
    )
    stats = apply_metadata(_metadata(update), reference_id=sars_cov_2_reference)
    assert stats.samples_created == 1
    host = SampleFieldCoverage.objects.get(reference_id=sars_cov_2_reference, field="host")
    assert host.samples == 2
    assert index_problems(sars_cov_2_reference) == []
    _check_reads(client, sars_cov_2_reference)

    # a replaced sequence: one record gets another genome's sequence (arrays change)
    records = [(r.id, r.sequence) for r in read_fasta(shared_data / FASTA)]
    changed = tmp_path / "changed.fasta"
    changed.write_text(f">{records[0][0]}\n{records[5][1]}\n")
    load_dataset(REF, changed)
    assert index_problems(sars_cov_2_reference) == []
    _check_reads(client, sars_cov_2_reference)

    # deletions: a record (its sample goes with it), samples, then everything
    assert delete_sequences(REF, [records[1][0]]) == (1, 1)
    assert index_problems(sars_cov_2_reference) == []
    assert delete_samples(REF, [records[2][0], "metadata-only"]) == (1, 2)
    assert index_problems(sars_cov_2_reference) == []
    _check_reads(client, sars_cov_2_reference)
    delete_samples(REF, Sample.objects.values_list("name", flat=True))
    assert not SampleFieldCoverage.objects.exists()
    _check_reads(client, sars_cov_2_reference)
