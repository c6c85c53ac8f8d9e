"""Sequence QC end to end: SARS-CoV-2_12 imported through the pipeline steps, then the QC as
stored, shown (genomes ``qc`` block and properties), filtered (``Property`` label), exported
(CSV), plotted (``plot_custom``) and summarised for the import run.

Expected values are recomputed from the FASTA text with plain Python: N bases, other
non-ACGT bases and their rule scores; the overall status from those plus the per-rule scores
the response reports for the rules that need calls (frameshifts, stops, SNP clusters).
"""

from __future__ import annotations

import csv
import io
import json
import lzma
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test import Client

from analyses.models import Alignment, QcStatus, Reference
from emgsonar.models import ImportRun
from ena_like.filters import FilterCompiler, parse_filters
from ena_like.models import Sample
from tests.helpers.load import load_dataset
from workflows.prefect_utils.artifacts import summary_markdown
from workflows.queries import qc_summary

pytestmark = pytest.mark.django_db

SC2 = "MN908947.3"
REF_LENGTH = 29903


def _fasta(path: Path) -> dict[str, str]:
    records: dict[str, list[str]] = {}
    name = ""
    with lzma.open(path, "rt") as handle:
        for line in handle:
            line = line.strip()
            if line.startswith(">"):
                name = line[1:].split()[0]
                records[name] = []
            elif line:
                records[name].append(line.upper())
    return {n: "".join(parts) for n, parts in records.items()}


def _status(score: float) -> str:
    return "bad" if score >= 100 else "mediocre" if score >= 30 else "good"


@pytest.fixture
def sc2_12(sars_cov_2_reference, shared_data: Path) -> dict[str, dict]:
    """Imported (as import run #run), with what the FASTA text says about each record."""
    fasta = shared_data / "sars-cov-2/SARS-CoV-2_12.fasta.xz"
    run = ImportRun.objects.create(kind=ImportRun.Kind.SAMPLES)
    load_dataset(SC2, fasta, shared_data / "sars-cov-2/SARS-CoV-2_12.tsv.xz", import_run_id=run.pk)
    expected = {}
    for name, seq in _fasta(fasta).items():
        n = seq.count("N")
        mixed = sum(1 for ch in seq if ch not in "ACGTN")
        expected[name] = {
            "n": n,
            "mixed": mixed,
            "length": len(seq),
            "missing_score": max(0.0, (n - 300) * 100 / 2700),
            "mixed_score": 100 * mixed / 10,
        }
    expected["_run"] = {"id": run.pk}
    return expected


def genomes(client: Client, **params) -> list[dict]:
    body = client.get("/api/samples/genomes/", {"reference": SC2, "limit": 100, **params}).json()
    return body["results"]


def count(client: Client, *conditions: dict) -> int:
    filters = {"andFilter": [{"label": "Property", **c} for c in conditions]}
    response = client.get(
        "/api/samples/filtered_statistics/", {"reference": SC2, "filters": json.dumps(filters)}
    )
    assert response.status_code == 200, response.content
    return response.json()["filtered_total_count"]


def prop(name: str, filter_type: str, value, **extra) -> dict:
    return {"property_name": name, "filter_type": filter_type, "value": value, **extra}


def test_qc_block_properties_and_filters(client: Client, sc2_12: dict[str, dict]) -> None:
    results = genomes(client)
    assert len(results) == 12
    statuses: Counter[str] = Counter()
    for genome in results:
        name, qc = genome["name"], genome["qc"]
        facts = sc2_12[name]
        seq_qc = qc["replicons"][SC2]
        rules = seq_qc["rules"]
        # counted in the FASTA text
        assert qc["missing_data"] == seq_qc["missing_data"] == facts["n"], name
        assert seq_qc["mixed_sites"] == facts["mixed"], name
        assert rules["missing_data"]["score"] == pytest.approx(facts["missing_score"], abs=0.01)
        assert rules["mixed_sites"]["score"] == pytest.approx(facts["mixed_score"], abs=0.01)
        # overall: Nextclade's sum of squares / 100, the call-based rules as reported
        called = sum(rules[r]["score"] ** 2 for r in ("frameshifts", "stop_codons", "snp_clusters"))
        score = (facts["missing_score"] ** 2 + facts["mixed_score"] ** 2 + called) / 100
        assert qc["score"] == pytest.approx(score, abs=0.02), name
        assert qc["status"] == seq_qc["status"] == _status(score), name
        assert (
            qc["coverage"] >= (facts["length"] - facts["n"] - facts["mixed"]) / REF_LENGTH - 0.005
        )
        assert set(rules) == {"missing_data", "mixed_sites", "frameshifts", "stop_codons",
                              "snp_clusters"}  # fmt: skip
        shown = {p["name"]: p["value"] for p in genome["properties"]}
        assert shown["qc_status"] == qc["status"]
        assert shown["missing_data"] == facts["n"]
        assert round(shown["coverage"], 4) == qc["coverage"]
        assert round(shown["qc_score"], 2) == qc["score"]
        statuses[qc["status"]] += 1
    # the file has all three: N runs, IUPAC codes, a frameshift
    assert set(statuses) == {"good", "mediocre", "bad"}

    # Property filters on the QC columns, against the counts above and the FASTA text
    for status, n in statuses.items():
        assert count(client, prop("qc_status", "exact", status)) == n, status
    assert count(client, prop("qc_status", "exact", "good", exclude=True)) == 12 - statuses["good"]
    assert count(client, prop("qc_status", "in", "mediocre,bad")) == 12 - statuses["good"]
    many_n = sum(1 for k, f in sc2_12.items() if k != "_run" and f["n"] > 300)
    assert 0 < many_n < 12
    assert count(client, prop("missing_data", "gt", 300)) == many_n
    lower = [
        (f["length"] - f["n"] - f["mixed"]) / REF_LENGTH for k, f in sc2_12.items() if k != "_run"
    ]
    assert min(lower) > 0.905  # so every sample has coverage >= 0.9
    assert count(client, prop("coverage", "gte", 0.9)) == 12
    high = sum(1 for g in results if g["qc"]["coverage"] >= 0.99)
    assert 0 < high < 12
    assert count(client, prop("coverage", "gte", 0.99)) == high
    assert count(client, prop("qc_score", "lt", 30)) == statuses["good"]
    # statuses compare case-insensitively; a typo is a 400 naming the statuses, not 0 samples
    assert count(client, prop("qc_status", "exact", "GOOD")) == statuses["good"]
    bad = client.get(
        "/api/samples/filtered_statistics/",
        {
            "reference": SC2,
            "filters": json.dumps(
                {"andFilter": [{"label": "Property", **prop("qc_status", "exact", "great")}]}
            ),
        },
    )
    assert bad.status_code == 400
    assert "'qc_status' is one of good, mediocre, bad" in bad.json()["detail"]
    assert (
        count(client, prop("qc_status", "exact", "good"), prop("coverage", "gte", 0.9))
        == statuses["good"]
    )


def test_qc_columns_are_indexed_sample_predicates(sc2_12: dict[str, dict]) -> None:
    """``qc_status``/``coverage`` filters are predicates on the sample row (no join), and the
    planner can answer them from the ``(reference, qc_status)`` / ``(reference, coverage)``
    indexes (checked with sequential scans off, as the planner would choose on a large
    table)."""
    reference = Reference.objects.get(accession=SC2)
    for item, column in (
        (prop("qc_status", "exact", "good"), "qc_status"),
        (prop("coverage", "gte", 0.9), "coverage"),
    ):
        tree = parse_filters(json.dumps({"andFilter": [{"label": "Property", **item}]}))
        q = FilterCompiler(reference).compile(tree)
        qs = Sample.objects.filter(reference=reference).filter(q).values("id")
        sql, params = qs.query.sql_with_params()
        assert "JOIN" not in sql and "EXISTS" not in sql, sql
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "Index" in plan and column in plan, plan


def test_csv_and_plot_custom(client: Client, sc2_12: dict[str, dict]) -> None:
    response = client.get(
        "/api/samples/genomes/",
        {
            "reference": SC2,
            "csv_stream": "true",
            "columns": "name,qc_status,qc_score,coverage,missing_data",
        },
    )
    assert response.status_code == 200
    rows = list(
        csv.reader(io.StringIO(b"".join(response.streaming_content).decode()), delimiter=";")
    )
    assert rows[0] == ["name", "qc_status", "qc_score", "coverage", "missing_data"]
    by_name = {r[0]: r for r in rows[1:]}
    assert set(by_name) == set(sc2_12) - {"_run"}
    for name, facts in sc2_12.items():
        if name != "_run":
            assert int(by_name[name][4]) == facts["n"], name
            assert by_name[name][1] in ("good", "mediocre", "bad")
    shown = Counter(g["qc"]["status"] for g in genomes(client))
    plot = client.get("/api/samples/plot_custom/", {"reference": SC2, "property": "qc_status"})
    assert plot.json() == {"qc_status": dict(sorted(shown.items()))}
    names = client.get("/api/properties/distinct_property_names/").json()["property_names"]
    assert {"qc_status", "qc_score", "coverage", "missing_data"} <= set(names)


def test_stored_per_sequence_and_summarised_for_the_run(sc2_12: dict[str, dict]) -> None:
    alignments = list(Alignment.objects.all())
    assert len(alignments) == 12  # distinct sequences of the file
    for a in alignments:
        assert a.qc_status in QcStatus.values
        assert a.qc["status"] == a.qc_status and a.qc["missing_data"] == a.missing_data
    # one record per sample: the sample's columns are its alignment's
    for sample in Sample.objects.all():
        a = Alignment.objects.get(sequence__records__sample=sample)
        assert (sample.qc_status, sample.qc_score, sample.coverage, sample.missing_data) == (
            a.qc_status, a.qc_score, a.coverage, a.missing_data
        )  # fmt: skip
    summary = qc_summary(sc2_12["_run"]["id"])
    statuses = Counter(a.qc_status for a in alignments)
    assert {k: summary[k] for k in ("good", "mediocre", "bad")} == {
        s: statuses.get(s, 0) for s in ("good", "mediocre", "bad")
    }
    worst = summary["worst"]
    assert worst and worst[0]["score"] == round(max(a.qc_score for a in alignments), 2)
    assert worst[0]["record"] in sc2_12 and worst[0]["reasons"]
    text = summary_markdown("Samples import", {"qc": summary}, {})
    assert "## Sequence QC" in text and f"`{worst[0]['record']}`" in text
    assert f"| bad | {summary['bad']} |" in text


def test_segmented_sample_takes_the_worst_segment(
    client: Client, influenza_h1n1_reference, shared_data: Path
) -> None:
    """Influenza: 8 records per sample; the sample's QC is the worst segment's status and score,
    the length-weighted coverage over all 8 replicons, and the N bases summed."""
    folder = shared_data / "influenza/influenza-A/H1N1PDM_California"
    cols = {"name": "name", "sequences": "sequences", "collection_date": "date"}
    load_dataset(
        "NC_026438.1", folder / "H1N1.sequences.fasta.xz", folder / "H1N1PDM.sequences.tsv", cols
    )
    reference = Reference.objects.get(accession="NC_026438.1")
    lengths = dict(reference.replicons.values_list("id", "length"))
    total = sum(lengths.values())
    checked = 0
    for sample in Sample.objects.filter(reference=reference):
        alignments = list(Alignment.objects.filter(sequence__records__sample=sample))
        if len(alignments) < 2:
            continue
        checked += 1
        worst = max(alignments, key=lambda a: a.qc_score)
        assert (sample.qc_status, sample.qc_score) == (worst.qc_status, worst.qc_score)
        assert sample.missing_data == sum(a.missing_data for a in alignments)
        weighted = sum(a.coverage * lengths[a.replicon_id] for a in alignments) / total
        assert sample.coverage == pytest.approx(weighted)
        genome = genomes(client, reference="NC_026438.1", name=sample.name)[0]
        assert len(genome["qc"]["replicons"]) == len(alignments)
        assert genome["qc"]["status"] == sample.qc_status
    assert checked
