"""The query API on real data loaded through the calling engine and the loader
(``tests.helpers.load.load_dataset``): SARS-CoV-2_12 and _10 with their metadata and the test
lineage tree, and the 8-segment influenza set for replicon-prefixed queries."""

import csv
import json
import lzma
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from Bio import SeqIO
from django.test import Client

from analyses.services.lineages import import_lineages
from ena_like.services.properties import add_property
from tests.conftest import SHARED_DATA
from tests.helpers import oracle
from tests.helpers.load import load_dataset

pytestmark = pytest.mark.django_db

SC2 = "MN908947.3"
LINEAGE_TREE = SHARED_DATA / "sars-cov-2/lineages/lineages_test.tsv"
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


Genome = str
Row = dict[str, str]
#: how a sample qualifies for a filter, judged from its genome (through ``tests.helpers.oracle``,
#: not the engine) or its metadata row (read from the TSV here)
Carrier = Callable[[oracle.Reference, Genome, Row], bool]

ORF1A_DEL_3675_3677 = (266 + 3674 * 3, 266 + 3677 * 3 - 1)  # nt 11288-11296
ORF1A_DEL_3674_3676 = (266 + 3673 * 3, 266 + 3676 * 3 - 1)  # nt 11285-11293


def _aa(gene: str, codon: int, alt: str) -> Carrier:
    return lambda ref, genome, row: oracle.residue(ref, genome, gene, codon) == alt


def _nt(position: int, alt: str) -> Carrier:
    return lambda ref, genome, row: oracle.base_at(ref, genome, position) == alt


def _deletion(first: int, last: int) -> Carrier:
    return lambda ref, genome, row: oracle.has_deletion(ref, genome, first, last)


def _lineage_in(names: set[str]) -> Carrier:
    return lambda ref, genome, row: row["lineage"] in names


def _number(column: str, test: Callable[[float], bool]) -> Carrier:
    return lambda ref, genome, row: bool(row[column]) and test(float(row[column]))


COUNTS: list[tuple[dict, Carrier]] = [
    (one("SNP Nt", value="A23403G"), _nt(23403, "G")),
    (one("SNP Nt", ref_nuc="T", ref_pos=670, alt_nuc="G"), _nt(670, "G")),  # not IMS-10259's B
    (one("SNP AA", value="S:N501Y"), _aa("S", 501, "Y")),
    (one("SNP AA", value="S:L452R"), _aa("S", 452, "R")),
    (
        one("SNP AA", value="S:D614X"),  # wildcard: any known residue but D
        lambda ref, genome, row: oracle.residue(ref, genome, "S", 614) not in (None, "D"),
    ),
    (
        one("Ins Nt", value="T22204TGAGCCAGAA"),
        lambda ref, genome, row: oracle.has_insertion(ref, genome, 22204, "GAGCCAGAA"),
    ),
    (  # the same 9 bases, read as codons: E P E after R214
        one("Ins AA", value="S:R214REPE"),
        lambda ref, genome, row: oracle.has_insertion(ref, genome, 22204, "GAGCCAGAA"),
    ),
    # deletions match exactly: another deletion over the same bases is another call
    (one("Del Nt", value="del:21765-21770"), _deletion(21765, 21770)),
    (one("Del Nt", value="del:21114-21929"), _deletion(21114, 21929)),
    (one("Del Nt", value="del:21766-21770"), _deletion(21766, 21770)),
    (one("Del AA", value="S:del:69-70"), _deletion(21765, 21770)),  # codons 69-70 = 21766-21771
    (
        one("Del AA", protein_symbol="ORF1a", first_deleted=3675, last_deleted=3677),
        _deletion(*ORF1A_DEL_3675_3677),
    ),
    (one("Del AA", value="ORF1a:del:3674-3676"), _deletion(*ORF1A_DEL_3674_3676)),
    (
        one("DNA/AA Profile", value="S:L452R S:N501Y"),
        lambda ref, genome, row: (
            _aa("S", 452, "R")(ref, genome, row) and _aa("S", 501, "Y")(ref, genome, row)
        ),
    ),
    (
        one("DNA/AA Profile", value="S:L452R S:N501Y", exclude=True),
        lambda ref, genome, row: (
            not (_aa("S", 452, "R")(ref, genome, row) and _aa("S", 501, "Y")(ref, genome, row))
        ),
    ),
    (one("Lineages", lineageList=["BA.1"], includeSublineages=False), _lineage_in({"BA.1"})),
    # the test tree lists B.1.617 under BA.1: AY.4 and AY.98 are BA.1 descendants there
    (
        one("Lineages", lineageList=["BA.1"]),
        _lineage_in(oracle.tree_descendants(LINEAGE_TREE, ["BA.1"])),
    ),
    (
        one("Lineages", lineageList="BA.5,BA.2"),
        _lineage_in(oracle.tree_descendants(LINEAGE_TREE, ["BA.5", "BA.2"])),
    ),
    (  # as numbers
        one("Property", property_name="age", filter_type="gt", value=80),
        _number("age", lambda age: age > 80),
    ),
    (
        one("Property", property_name="euro", filter_type="range", value="20,40"),
        _number("euro", lambda euro: 20 <= euro <= 40),
    ),
    (
        one("Property", property_name="zip_code", filter_type="exact", value="92637"),
        lambda ref, genome, row: row["zip_code"] == "92637",
    ),
    (
        one("Property", property_name="collection_date", filter_type="lt", value="2022-01-01"),
        lambda ref, genome, row: row["collection_date"] < "2022-01-01",
    ),
    (one("Replicon", accession=SC2), lambda ref, genome, row: True),
]
#: not derived from the genomes (that needs every CDS of every genome aligned): known to be none
NO_STOP_GAINED = one("Annotation", property_name="seq_ontology", value="stop_gained")


@pytest.fixture(scope="module")
def sc2_12_inputs(shared_data: Path) -> list[tuple[oracle.Reference, Genome, Row]]:
    """Each sample of SARS-CoV-2_12 as (reference, genome, metadata row), read with Biopython
    and csv, not with our readers."""
    ref = oracle.read_reference(shared_data / "sars-cov-2/MN908947.nextclade.gb")
    with lzma.open(shared_data / "sars-cov-2/SARS-CoV-2_12.fasta.xz", "rt") as handle:
        genomes = {record.id: str(record.seq) for record in SeqIO.parse(handle, "fasta")}
    with lzma.open(shared_data / "sars-cov-2/SARS-CoV-2_12.tsv.xz", "rt") as handle:
        rows = {row["name"]: row for row in csv.DictReader(handle, delimiter="\t")}
    assert len(genomes) == len(rows) == 12
    return [(ref, genomes[name], rows[name]) for name in rows]


def test_the_oracle_sees_the_known_events_of_sars_cov_2_12(sc2_12_inputs) -> None:
    """The independent route finds what is known of these genomes, so its counts mean something:
    D614G (A23403G) everywhere, BA.1's S:ins214EPE in the two BA.1.x genomes."""
    assert all(oracle.base_at(ref, genome, 23403) == "G" for ref, genome, _ in sc2_12_inputs)
    lineages = sorted(
        row["lineage"]
        for ref, genome, row in sc2_12_inputs
        if oracle.has_insertion(ref, genome, 22204, "GAGCCAGAA")
    )
    assert lineages and all(name.startswith("BA.1") for name in lineages), lineages


@pytest.mark.parametrize(("filters", "carrier"), COUNTS, ids=[json.dumps(f) for f, _ in COUNTS])
def test_counts_on_sars_cov_2_12(client, sc2_12, sc2_12_inputs, filters, carrier):
    expected = sum(1 for sample in sc2_12_inputs if carrier(*sample))
    assert count(client, filters) == expected


def test_no_stop_gained_in_sars_cov_2_12(client, sc2_12):
    assert count(client, NO_STOP_GAINED) == 0


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
    with lzma.open(shared_data / "sars-cov-2/SARS-CoV-2_10.tsv.xz", "rt") as handle:
        dates = [row["date_of_sampling"][:10] for row in csv.DictReader(handle, delimiter="\t")]
    assert stats["first_sample_date"] == min(dates) == "2024-10-28"
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
