"""The filter engine against the synthetic dataset: every label and filter type, nesting,
exclude, wildcards, sublineages, exact deletions, and the three places where sonar is wrong."""

import json

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

REF = "MN908947.3"
ALL = {"S1", "S2", "S3", "S4", "S5", "S6"}


def names(client: Client, filters: dict, **params) -> set[str]:
    """Sample names matching ``filters``, checked against ``filtered_statistics``."""
    query = {"reference": REF, "filters": json.dumps(filters), "limit": 100, **params}
    response = client.get("/api/samples/genomes/", query)
    assert response.status_code == 200, response.json()
    found = {r["name"] for r in response.json()["results"]}
    stats = client.get("/api/samples/filtered_statistics/", query).json()
    assert stats == {"filtered_total_count": len(found)}
    return found


def one(label: str, **fields) -> dict:
    return {"andFilter": [{"label": label, **fields}]}


@pytest.mark.parametrize(
    ("label", "value", "expected"),
    [
        ("SNP Nt", "A23403G", {"S1", "S2", "S5"}),
        ("SNP Nt", f"{REF}:A23403G", {"S1", "S2", "S5"}),
        ("SNP Nt", "A23403N", {"S1", "S2", "S3", "S5"}),  # wildcard: any base
        ("SNP Nt", "G10147n", {"S6"}),  # literal N: no data there
        ("SNP Nt", "G22813K", {"S5"}),  # IUPAC call
        ("SNP Nt", "C23403G", set()),  # wrong reference base: nothing
        ("Del Nt", "del:21765-21770", {"S1"}),
        ("Del Nt", "del:21765-21769", set()),  # deletions match exactly
        ("Del Nt", "del:21766-21770", set()),
        ("Ins Nt", "T22204TGAGCCAGAA", {"S2"}),
        ("Ins Nt", "T22204TGAGCC", set()),
        ("SNP AA", "S:D614G", {"S1", "S2", "S5"}),
        ("SNP AA", "s:d614g", {"S1", "S2", "S5"}),  # gene symbols case-insensitive
        ("SNP AA", "S:D614X", {"S1", "S2", "S3", "S5"}),  # wildcard: any residue
        ("SNP AA", "ORF1a:P3001x", {"S3"}),  # literal X: unknown residue
        ("Del AA", "S:del:69-70", {"S1"}),
        ("Del AA", "S:del:69", set()),
        ("Ins AA", "S:R214REPE", {"S2"}),
    ],
)
def test_every_mutation_label(client, synthetic, label, value, expected):
    assert names(client, one(label, value=value)) == expected
    assert names(client, one(label, value=value, exclude=True)) == ALL - expected


def test_sonar_split_fields(client, synthetic):
    assert names(client, one("SNP Nt", ref_nuc="A", ref_pos=23403, alt_nuc="G")) == {
        "S1",
        "S2",
        "S5",
    }
    assert names(
        client, one("SNP AA", protein_symbol="S", ref_aa="D", ref_pos="614", alt_aa="G")
    ) == {"S1", "S2", "S5"}
    assert names(client, one("Del Nt", first_deleted=21765, last_deleted=21770)) == {"S1"}
    assert names(client, one("Del AA", protein_symbol="S", first_deleted=69, last_deleted=70)) == {
        "S1"
    }
    assert names(client, one("Ins Nt", ref_nuc="T", ref_pos=22204, alt_nuc="TGAGCCAGAA")) == {"S2"}


def test_profile_is_an_and_of_mutations(client, synthetic):
    profile = one("DNA/AA Profile", value="A23403G, C241T")
    assert names(client, profile) == {"S1", "S5"}
    assert names(client, one("DNA/AA Profile", value="A23403G;S:D614G  del:21765-21770")) == {"S1"}
    assert names(client, one("DNA/AA Profile", value="A23403N S:del:69-70")) == {"S1"}
    # exclude negates the whole AND
    assert names(client, one("DNA/AA Profile", value="A23403G C241T", exclude=True)) == {
        "S2",
        "S3",
        "S4",
        "S6",
    }
    # a mutation nobody has makes the AND empty
    assert names(client, one("DNA/AA Profile", value="A23403G A1C")) == set()


def test_and_or_nesting(client, synthetic):
    tree = {
        "label": "Property",
        "property_name": "country",
        "filter_type": "exact",
        "value": "DE",
        "andFilter": [{"label": "SNP Nt", "value": "A23403G"}],
        "orFilter": [
            {
                "andFilter": [
                    {"label": "Lineages", "lineageList": ["BA.2"], "includeSublineages": False}
                ]
            },
            {"label": "Sample", "value": "['S6']"},
        ],
    }
    # (DE and A23403G) or BA.2 or S6
    assert names(client, tree) == {"S1", "S2", "S4", "S6"}
    nested = {
        "andFilter": [
            {"orFilter": [one("SNP Nt", value="C241T"), one("SNP Nt", value="C3037T")]},
            {"label": "Property", "property_name": "age", "filter_type": "lt", "value": 50},
        ]
    }
    assert names(client, nested) == {"S1", "S5"}
    assert names(
        client, {"orFilter": [one("Sample", value=["S1"]), one("Sample", value="S2,S3")]}
    ) == {"S1", "S2", "S3"}
    assert names(client, {}) == ALL


@pytest.mark.parametrize(
    ("name", "filter_type", "value", "expected"),
    [
        ("age", "exact", 48, {"S1"}),
        ("age", "gt", "20", {"S1", "S4"}),  # numbers compare as numbers ("9" < "20")
        ("age", "gte", 48, {"S1", "S4"}),
        ("age", "lt", 9, {"S5"}),
        ("age", "lte", 18, {"S2", "S5"}),
        ("age", "range", "10,50", {"S1", "S2"}),
        ("age", "range", [5, 18], {"S2", "S5"}),
        ("age", "in", [5, 60], {"S4", "S5"}),
        ("age", "isnull", True, {"S3", "S6"}),
        ("age", "isnull", "false", {"S1", "S2", "S4", "S5"}),
        ("euro", "gt", 31.16, {"S1"}),
        ("euro", "range", "10,31.16", {"S2", "S3"}),
        ("comments", "contains", "%vending%", {"S1"}),
        ("comments", "icontains", "SOCK", {"S2"}),
        ("comments", "iexact", "SOCKS", {"S2"}),
        ("comments", "regex", "^(socks|vend)", {"S1", "S2"}),
        ("country", "exact", "DE", {"S1", "S2", "S6"}),
        ("country", "in", "['FR','XX']", {"S3"}),
        ("country", "isnull", True, {"S4", "S5"}),
        ("lineage", "contains", "BA.1", {"S1", "S2"}),
        ("collection_date", "gt", "2022-01-04", {"S2", "S5"}),
        ("collection_date", "range", ["2022-01-01", "2022-01-05"], {"S1", "S2", "S6"}),
        ("collection_date", "lte", "2021-12-30T00:00:00", {"S3"}),
        ("length", "gte", 29_004, {"S5", "S6"}),
        ("name", "in", ["S1", "S9"], {"S1"}),
    ],
)
def test_property_filter_types(client, synthetic, name, filter_type, value, expected):
    cond = {"property_name": name, "filter_type": filter_type, "value": value}
    assert names(client, one("Property", **cond)) == expected
    # exclude keeps exactly the samples where the positive condition is false or missing
    assert names(client, one("Property", **cond, exclude=True)) == ALL - expected


def test_two_anded_property_conditions_hold_on_their_own_rows(client, synthetic):
    """Sonar joins both conditions to one property row and finds nothing."""
    tree = {
        "andFilter": [
            {"label": "Property", "property_name": "age", "filter_type": "gt", "value": 20},
            {"label": "Property", "property_name": "euro", "filter_type": "gt", "value": 50},
        ]
    }
    assert names(client, tree) == {"S1"}


def test_exclude_on_a_property_keeps_missing_values(client, synthetic):
    """Sonar's exclude drops samples without the property; it must keep them."""
    cond = one("Property", property_name="euro", filter_type="lt", value=20, exclude=True)
    assert names(client, cond) == {"S1", "S2", "S4", "S5", "S6"}


@pytest.mark.parametrize(
    ("lineages", "sub", "expected"),
    [
        (["BA.1"], False, {"S1"}),
        # the test tree lists B.1.617 under BA.1, so AY.4 is a BA.1 descendant there
        (["BA.1"], True, {"S1", "S2", "S3"}),
        ("BA.1.1,BA.2", True, {"S2", "S4"}),
        (["ba.2"], False, {"S4"}),  # case-insensitive lookup
        (["B"], True, {"S1", "S2", "S3", "S4"}),
        (["XEC"], True, {"S5"}),  # on samples, not in the tree: itself
    ],
)
def test_lineages(client, synthetic, lineages, sub, expected):
    cond = {"lineageList": lineages, "includeSublineages": sub}
    assert names(client, one("Lineages", **cond)) == expected
    assert names(client, one("Lineage", **cond, exclude=True)) == ALL - expected


def test_sample_replicon_reference_annotation(client, synthetic):
    assert names(client, one("Sample", value="['S1', 'S4']")) == {"S1", "S4"}
    assert names(client, one("Replicon", replicon_accession=REF)) == ALL
    assert names(client, one("Replicon", accession=REF, exclude=True)) == set()
    assert names(client, one("Reference", accession=REF)) == ALL
    annotation = {
        "property_name": "seq_ontology",
        "filter_type": "exact",
        "value": "missense_variant",
    }
    assert names(client, one("Annotation", **annotation)) == {"S1", "S2", "S3", "S5"}
    assert names(client, one("Annotation", property_name="impact", value="LOW")) == {"S3"}
    assert names(
        client,
        one("Annotation", property_name="seq_ontology", filter_type="contains", value="inframe"),
    ) == {"S1", "S2"}


def test_mutation_count_fast_path_agrees(client, synthetic):
    query = {"reference": REF, "filters": json.dumps(one("SNP AA", value="S:D614G"))}
    assert client.get("/api/samples/filtered_statistics/", query).json() == {
        "filtered_total_count": 3
    }
