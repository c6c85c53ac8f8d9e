"""``MutationWeekCount`` (the weekly plots' pre-aggregate) stays exactly what the base tables say
through every writer — import, re-import, metadata changes of lineage and date, a replaced
sequence, deleted records and samples — and both weekly plots answer a single-mutation filter
from it with the same rows as the plain ``GROUP BY`` over the matching samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analyses.calling.seqio import read_fasta
from analyses.models import MutationCount
from ena_like.metadata import read_header, read_metadata
from ena_like.models import MutationWeekCount, Sample
from ena_like.queries.filtering import SampleQuery, filtered_samples
from ena_like.queries.statistics import grouped_lineages_per_week, samples_per_week
from ena_like.services.deletion import delete_samples, delete_sequences
from ena_like.services.properties import declared_properties
from ena_like.services.samples import apply_metadata
from tests.helpers.checks import index_problems, snapshot, week_count_problems
from tests.helpers.load import load_dataset

REF = "MN908947.3"
FASTA = "sars-cov-2/SARS-CoV-2_12.fasta.xz"
TSV = "sars-cov-2/SARS-CoV-2_12.tsv.xz"


def _metadata(path: Path):
    return read_metadata(
        path, {c: c for c in read_header(path) if c}, properties=declared_properties()
    )


def _filter(label: str) -> dict:
    return {"andFilter": [{"label": "DNA/AA Profile", "value": label}]}


def _mutation_labels(reference_id: int) -> list[str]:
    """Labels of every counted mutation (NT and AA) of the reference."""
    from analyses.models import AminoAcidMutation, NucleotideMutation

    labels = []
    for level, model in (("nt", NucleotideMutation), ("aa", AminoAcidMutation)):
        ids = MutationCount.objects.filter(reference_id=reference_id, level=level).values_list(
            "mutation_id", flat=True
        )
        labels += sorted(model.objects.filter(pk__in=list(ids)).values_list("label", flat=True))
    return labels


def _check_plots(reference_id: int, limit: int = 40) -> int:
    """For (up to ``limit``) mutations: the aggregate's answer equals the scan's.

    :returns: how many single-mutation filters were compared.
    """
    assert week_count_problems() == []
    compared = 0
    for label in _mutation_labels(reference_id)[:limit]:
        query = filtered_samples(REF, _filter(label))
        # the same samples without the single-mutation shortcut: no compiler, so the plots
        # group the matching sample rows
        scan = SampleQuery(query.queryset, query.reference, query.tree, None)
        assert samples_per_week(query) == samples_per_week(scan), label
        assert grouped_lineages_per_week(query) == grouped_lineages_per_week(scan), label
        compared += 1
    return compared


@pytest.mark.django_db
def test_week_counts_exact_through_imports_and_deletions(
    client, sars_cov_2_reference: int, shared_data: Path, tmp_path: Path
) -> None:
    load_dataset(REF, shared_data / FASTA, shared_data / TSV)
    assert MutationWeekCount.objects.exists()
    assert index_problems(sars_cov_2_reference) == []
    assert _check_plots(sars_cov_2_reference) > 10
    # re-import of the same data changes nothing (the aggregate is in the snapshot)
    before = snapshot()
    load_dataset(REF, shared_data / FASTA, shared_data / TSV)
    assert snapshot() == before

    # metadata moves samples to other weeks and lineage groups
    names = list(Sample.objects.order_by("name").values_list("name", flat=True))
    update = tmp_path / "update.tsv"
    update.write_text(
        "name\tlineage\tcollection_date\n"
        f"{names[0]}\tBA.2.75.1\t2021-03-04\n"
        f"{names[1]}\tXBB.1.5\t2019-12-30\n"
        f"{names[2]}\tXBB\t\n"
    )
    apply_metadata(_metadata(update), reference_id=sars_cov_2_reference)
    assert Sample.objects.get(name=names[1]).lineage == "XBB.1.5"
    assert index_problems(sars_cov_2_reference) == []
    _check_plots(sars_cov_2_reference)

    # a replaced sequence (arrays change), then deletions: a record, samples, everything
    records = [(r.id, r.sequence) for r in read_fasta(shared_data / FASTA)]
    changed = tmp_path / "changed.fasta"
    changed.write_text(f">{records[0][0]}\n{records[5][1]}\n")
    load_dataset(REF, changed)
    assert index_problems(sars_cov_2_reference) == []
    _check_plots(sars_cov_2_reference)
    assert delete_sequences(REF, [records[1][0]]) == (1, 1)
    assert index_problems(sars_cov_2_reference) == []
    assert delete_samples(REF, [records[2][0], records[3][0]]) == (2, 2)
    assert index_problems(sars_cov_2_reference) == []
    _check_plots(sars_cov_2_reference)
    # the API path answers from the aggregate too
    label = _mutation_labels(sars_cov_2_reference)[0]
    response = client.get(
        "/api/samples/plot_samples_per_week/",
        {"reference": REF, "filters": json.dumps(_filter(label))},
    )
    assert response.status_code == 200
    scan_query = filtered_samples(REF, _filter(label))
    assert response.json() == samples_per_week(
        SampleQuery(scan_query.queryset, scan_query.reference, scan_query.tree, None)
    )
    delete_samples(REF, Sample.objects.values_list("name", flat=True))
    assert not MutationWeekCount.objects.exists()
