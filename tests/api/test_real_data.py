"""The query API on real data loaded through the calling engine and the loader
(``tests.helpers.load.load_dataset``): SARS-CoV-2_12 and _10 with their metadata and the test
lineage tree, and the 8-segment influenza set for replicon-prefixed queries."""

import json
import lzma
import re
from collections import Counter
from pathlib import Path

import pytest
from django.test import Client

from analyses.services.lineages import import_lineages
from ena_like.services.properties import add_property
from tests.helpers.load import load_dataset

pytestmark = pytest.mark.django_db

SC2 = "MN908947.3"
FLU = "NC_026438.1"
SC2_10_COLS = {
    "name": "igs_id",
    "collection_date": "date_of_sampling",
    "sequencing_tech": "sequencing_platform",
    "sequencing_reason": "sequencing_reason",
    "lineage": "lineages",
    "zip_code": "prime_diagnostic_lab.postal_code",
    "lab": "sequencing_lab.demis_lab_id",
    "data_set": "data_set",
    "isolation_source": "isolation_source",
}


@pytest.fixture
def sc2_12(sars_cov_2_reference, shared_data: Path) -> Path:
    add_property("age", "integer")
    add_property("euro", "float")
    fasta = shared_data / "sars-cov-2/SARS-CoV-2_12.fasta.xz"
    load_dataset(SC2, fasta, shared_data / "sars-cov-2/SARS-CoV-2_12.tsv.xz")
    import_lineages(SC2, lineages_tsv=shared_data / "sars-cov-2/lineages/lineages_test.tsv")
    return fasta


@pytest.fixture
def flu(influenza_h1n1_reference, shared_data: Path) -> None:
    folder = shared_data / "influenza/influenza-A/H1N1PDM_California"
    cols = {
        "name": "name",
        "sequences": "sequences",
        "collection_date": "date",
        "location": "location",
    }
    load_dataset(FLU, folder / "H1N1.sequences.fasta.xz", folder / "H1N1PDM.sequences.tsv", cols)


def count(client: Client, filters: dict, reference: str = SC2) -> int:
    response = client.get(
        "/api/samples/filtered_statistics/",
        {"reference": reference, "filters": json.dumps(filters)},
    )
    assert response.status_code == 200, response.json()
    return response.json()["filtered_total_count"]


def one(label: str, **fields) -> dict:
    return {"andFilter": [{"label": label, **fields}]}


def profiles(client: Client, reference: str = SC2) -> dict[str, set[str]]:
    """Every sample's labels (NT and AA) as the genomes endpoint shows them."""
    body = client.get("/api/samples/genomes/", {"reference": reference, "limit": 1000}).json()
    result = {}
    for genome in body["results"]:
        labels = {lab for per in genome["genomic_profiles"].values() for lab in per}
        labels |= {lab for per in genome["proteomic_profiles"].values() for lab in per}
        result[genome["name"]] = labels
    return result


def test_every_label_of_the_data_finds_exactly_its_samples(client, sc2_12):
    """Filter path (ids on the sample row) and display path (mutation rows) must agree, for
    every one of the ~400 NT and AA labels the calling engine produced."""
    shown = profiles(client)
    assert len(shown) == 12
    carriers = Counter(label for labels in shown.values() for label in labels)
    assert len(carriers) > 350
    for label, n in carriers.items():
        # one mutation alone is counted from MutationCount; excluded, from the GIN index
        assert count(client, one("DNA/AA Profile", value=label)) == n, label
        assert count(client, one("DNA/AA Profile", value=label, exclude=True)) == 12 - n, label


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (one("SNP Nt", value="A23403G"), 12),
        (one("SNP Nt", ref_nuc="T", ref_pos=670, alt_nuc="G"), 5),  # IMS-10259 has T670B
        (one("SNP AA", value="S:N501Y"), 8),
        (one("SNP AA", value="S:L452R"), 5),
        (one("SNP AA", value="S:D614X"), 11),  # wildcard; IMS-10259 has no data at S:614
        (one("Ins Nt", value="T22204TGAGCCAGAA"), 2),
        (one("Ins AA", value="S:R214REPE"), 2),
        # deletions match exactly: del:21114-21929 (IMS-10259) covers 21765-21770 but is
        # another call
        (one("Del Nt", value="del:21765-21770"), 7),
        (one("Del Nt", value="del:21114-21929"), 1),
        (one("Del Nt", value="del:21766-21770"), 0),
        (one("Del AA", value="S:del:69-70"), 7),
        (one("Del AA", protein_symbol="ORF1a", first_deleted=3675, last_deleted=3677), 5),
        (one("Del AA", value="ORF1a:del:3674-3676"), 3),  # the shifted one is another call
        (one("DNA/AA Profile", value="S:L452R S:N501Y"), 3),
        (one("DNA/AA Profile", value="S:L452R S:N501Y", exclude=True), 9),
        (one("Lineages", lineageList=["BA.1"], includeSublineages=False), 1),
        # the test tree lists B.1.617 under BA.1: AY.4 and AY.98 are BA.1 descendants there
        (one("Lineages", lineageList=["BA.1"]), 6),
        (one("Lineages", lineageList="BA.5,BA.2"), 6),
        (one("Property", property_name="age", filter_type="gt", value=80), 6),  # as numbers
        (one("Property", property_name="euro", filter_type="range", value="20,40"), 3),
        (one("Property", property_name="zip_code", filter_type="exact", value="92637"), 2),
        (one("Property", property_name="collection_date", filter_type="lt", value="2022-01-01"), 2),
        (one("Annotation", property_name="seq_ontology", value="stop_gained"), 0),
        (one("Replicon", accession=SC2), 12),
    ],
)
def test_counts_on_sars_cov_2_12(client, sc2_12, filters, expected):
    assert count(client, filters) == expected


def test_sonar_mistakes_done_right_on_real_data(client, sc2_12, shared_data, tmp_path):
    # 1. two ANDed property conditions, each on its own row
    both = {
        "andFilter": [
            {"label": "Property", "property_name": "age", "filter_type": "gt", "value": 80},
            {"label": "Property", "property_name": "euro", "filter_type": "gt", "value": 60},
        ]
    }
    assert count(client, both) == 3
    # 2. exclude on a property keeps samples lacking the value (IMS-10013-…-A38 has no comment)
    lt20 = {"property_name": "euro", "filter_type": "lt", "value": 20}
    assert count(client, one("Property", **lt20)) == 3
    assert count(client, one("Property", **lt20, exclude=True)) == 9
    has_sock = {"property_name": "comments", "filter_type": "icontains", "value": "socks"}
    assert count(client, one("Property", **has_sock)) == 2
    assert count(client, one("Property", **has_sock, exclude=True)) == 10
    # 3. a re-imported sequence carries only its current mutations (no stale links)
    records = lzma.open(sc2_12, "rt").read().split(">")[1:]
    by_name = {r.split()[0]: r.split("\n", 1)[1] for r in records}
    old, new = (
        "IMS-10338-CVDP-BAF51380-B921-4701-98ED-8DAACF2C7D11",
        "IMS-10150-CVDP-6EC46FD8-1FBA-427D-A559-411BCF94B679",
    )
    assert count(client, one("SNP Nt", value="C7851T")) == 1  # only in `old`'s sequence
    replaced = tmp_path / "replaced.fasta"
    replaced.write_text(f">{old}\n{by_name[new]}")
    load_dataset(SC2, replaced)
    assert count(client, one("SNP Nt", value="C7851T")) == 0
    shown = profiles(client)
    assert shown[old] == shown[new]


def test_genomes_show_nx_and_exports_on_real_data(client, sc2_12):
    name = "IMS-10259-CVDP-3A88C5D5-D88B-458A-9040-843D8CBCEA2D"  # long N runs
    plain = client.get("/api/samples/genomes/", {"reference": SC2, "name": name}).json()["results"][
        0
    ]
    nx = client.get("/api/samples/genomes/", {"reference": SC2, "name": name, "showNX": 1}).json()
    nx_labels = nx["results"][0]["genomic_profiles"][SC2]
    n_labels = [lab for lab in nx_labels if lab.endswith("N")]
    assert not [lab for lab in plain["genomic_profiles"][SC2] if lab.endswith("N")]
    assert len(n_labels) > 100
    assert count(client, one("SNP Nt", value=n_labels[0][:-1] + "n")) >= 1
    x_labels = [lab for labs in nx["results"][0]["proteomic_profiles"].values() for lab in labs]
    assert any(lab.endswith("X") for lab in x_labels)
    # NX labels are ordered by position with the others
    positions = [
        int("".join(c for c in lab.split(":")[-1].split("-")[0] if c.isdigit()) or 0)
        for lab in nx_labels
        if not lab.startswith(".")
    ]
    assert positions == sorted(positions)


def test_sars_cov_2_10_and_the_lineage_of_unknown_trees(client, sars_cov_2_reference, shared_data):
    load_dataset(
        SC2,
        shared_data / "sars-cov-2/SARS-CoV-2_10.fasta.xz",
        shared_data / "sars-cov-2/SARS-CoV-2_10.tsv.xz",
        SC2_10_COLS,
    )
    stats = client.get("/api/samples/statistics/", {"reference": SC2}).json()
    assert stats["samples_total"] == 10
    assert stats["first_sample_date"] == "2024-10-31" or stats["first_sample_date"] < "2024-11-05"
    assert (
        count(client, one("Lineages", lineageList=["XEC"]))
        == count(client, one("Property", property_name="lineage", filter_type="exact", value="XEC"))
        > 0
    )
    assert (
        count(client, one("Property", property_name="zip_code", filter_type="exact", value="40477"))
        == 3
    )
    weeks = client.get("/api/plots/plot_samples_per_week/", {"reference": SC2}).json()
    assert sum(n for _, n in weeks) == 10 and all(w.startswith("2024-W") for w, _ in weeks)
    csv_text = b"".join(
        client.get(
            "/api/samples/genomes/",
            {"reference": SC2, "csv_stream": "true", "columns": "name,lineage,genomic_profiles"},
        ).streaming_content
    ).decode()
    lines = csv_text.strip().split("\r\n")
    assert lines[0] == f"name;lineage;genomic_profiles: {SC2}" and len(lines) == 11


def test_influenza_needs_replicon_prefixes(client, flu):
    shown = profiles(client, FLU)
    assert len(shown) == 18
    ha = client.get("/api/samples/genomes/", {"reference": FLU, "limit": 100}).json()["results"]
    with_ha = [g for g in ha if "CY121680.1" in g["genomic_profiles"]]
    label = next(
        lab
        for lab in with_ha[0]["genomic_profiles"]["CY121680.1"]
        if re.match(r"^[ACGT]\d+[ACGT]$", lab)
    )
    carriers = sum(1 for g in ha if label in g["genomic_profiles"].get("CY121680.1", {}))
    response = client.get(
        "/api/samples/filtered_statistics/",
        {"reference": FLU, "filters": json.dumps(one("SNP Nt", value=label))},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "replicon_required"
    assert "8 replicons" in response.json()["detail"]
    assert count(client, one("DNA/AA Profile", value=f"CY121680.1:{label}"), FLU) == carriers
    assert (
        count(client, one("SNP AA", value="HA:V36I"), FLU)
        == sum(1 for labels in shown.values() if "HA:V36I" in labels)
        > 0
    )
    # REPLICON:GENE:mutation works too, and a gene on the wrong replicon is an error
    assert count(client, one("SNP AA", value="CY121680.1:HA:V36I"), FLU) > 0
    wrong = client.get(
        "/api/samples/filtered_statistics/",
        {"reference": FLU, "filters": json.dumps(one("SNP AA", value="NC_026431.1:HA:V36I"))},
    )
    assert wrong.status_code == 400 and "HA" in wrong.json()["detail"]
    segments = count(client, one("Replicon", replicon_accession="CY121680.1"), FLU)
    assert segments == len(with_ha)
