"""Strict, helpful filters: a key, label or gene prefix the API does not know is a 400 naming it
and what it takes (a typo used to be ignored and answer every sample); sonar's frontend and CLI
payloads keep working; the OpenAPI's filter schema describes exactly what the parser takes, so
filters generated from it are answered."""

import json
import re

import pytest
import schemathesis
from django.test import Client
from hypothesis import HealthCheck, given, seed, settings
from schemathesis import GenerationMode

from analyses.models import Cds, Replicon
from ena_like.filters.tree import GROUP_KEYS, LABEL_KEYS, LABELS

pytestmark = pytest.mark.django_db

REF = "MN908947.3"
ALL = {"S1", "S2", "S3", "S4", "S5", "S6"}
URL = "/api/samples/filtered_statistics/"


def answer(client: Client, filters: dict, reference: str = REF) -> tuple[int, dict]:
    response = client.get(URL, {"reference": reference, "filters": json.dumps(filters)})
    return response.status_code, response.json()


def names(client: Client, filters: dict) -> set[str]:
    query = {"reference": REF, "filters": json.dumps(filters), "limit": 100}
    response = client.get("/api/samples/genomes/", query)
    assert response.status_code == 200, response.json()
    return {r["name"] for r in response.json()["results"]}


def listed(detail: str, after: str) -> list[str]:
    """The comma separated names in ``detail`` after ``after`` (up to '.' or ';' at the end)."""
    tail = detail.split(after, 1)[1]
    return [n.strip() for n in re.split(r"[.;]\s|\.$", tail)[0].split(",")]


def typos(key: str) -> list[str]:
    """Misspellings of ``key``: a letter dropped, two swapped, one appended."""
    swapped = key[:1] + key[2:3] + key[1:2] + key[3:] if len(key) > 2 else key + "s"
    return sorted({key[:-1], swapped, key + "d"} - {key})


#: one minimal item per label (the table must have an entry for each)
MINIMAL = {
    "DNA/AA Profile": {"value": "S:D614G"},
    "SNP Nt": {"value": "A23403G"},
    "SNP AA": {"value": "S:D614G"},
    "Del Nt": {"value": "del:21765-21770"},
    "Del AA": {"value": "S:del:69-70"},
    "Ins Nt": {"value": "T22204TGAGCCAGAA"},
    "Ins AA": {"value": "S:R214REPE"},
    "Property": {"property_name": "age", "filter_type": "gt", "value": 20},
    "Lineages": {"lineageList": ["BA.1"]},
    "Lineage": {"value": "BA.1"},
    "Sample": {"value": ["S1"]},
    "Replicon": {"accession": REF},
    "Reference": {"accession": REF},
    "Annotation": {"property_name": "impact", "value": "LOW"},
    "N-of": {"n": 1, "items": [{"label": "SNP AA", "value": "S:D614G"}]},
    "Maybe": {"value": "C241T"},
    "Insertion pattern": {"value": "ins_22204:?GAG?"},
}


#: the keys sonar's clients send per label, read from sonar's sources (frontend
#: ``util/types.ts`` and ``stores/samples.ts``, CLI ``basic.py``) and the keyword arguments of
#: its backend's ``filter_*`` methods; every one must be accepted
SONAR_KEYS = {
    "DNA/AA Profile": {"value", "exclude"},
    "Lineages": {"lineageList", "exclude", "includeSublineages", "isVisible"},
    "Replicon": {"replicon_accession", "exclude"},
    "Property": {"property_name", "filter_type", "value", "exclude"},
    "Sample": {"value", "exclude"},
    "Annotation": {"property_name", "filter_type", "value", "exclude"},
    "Reference": {"accession", "exclude"},
    "SNP Nt": {"ref_nuc", "ref_pos", "alt_nuc", "replicon_accession", "exclude"},
    "Ins Nt": {"ref_nuc", "ref_pos", "alt_nuc", "replicon_accession", "exclude"},
    "SNP AA": {"protein_symbol", "ref_aa", "ref_pos", "alt_aa", "replicon_accession", "exclude"},
    "Ins AA": {"protein_symbol", "ref_aa", "ref_pos", "alt_aa", "replicon_accession", "exclude"},
    "Del Nt": {"first_deleted", "last_deleted", "replicon_accession", "exclude"},
    "Del AA": {"protein_symbol", "first_deleted", "last_deleted", "replicon_accession", "exclude"},
}


@pytest.mark.parametrize("label", sorted(SONAR_KEYS))
def test_every_key_sonar_sends_is_taken(label):
    assert {"label", *SONAR_KEYS[label], "andFilter", "orFilter"} <= set(LABEL_KEYS[label])


def test_every_label_has_a_minimal_item():
    assert set(MINIMAL) == set(LABELS)


@pytest.mark.parametrize("label", LABELS)
def test_unknown_key_names_it_the_label_and_its_keys(client, synthetic, label):
    item = {"label": label, **MINIMAL[label]}
    assert answer(client, {"andFilter": [item]})[0] == 200
    keys = LABEL_KEYS[label]
    for key in keys:
        for typo in typos(key):
            if typo in keys:
                continue
            status, body = answer(client, {"andFilter": [{**item, typo: True}]})
            assert status == 400, (label, typo)
            assert body["code"] == "unknown_filter_key"
            assert (
                f"filters.andFilter[0]: unknown key '{typo}' in a '{label}' filter"
                in (body["detail"])
            )
            assert listed(body["detail"], " filter takes ") == list(keys)


@pytest.mark.parametrize(
    ("filters", "path", "key", "guess"),
    [
        # the issue's three typos, each of which used to answer all six samples
        (
            {"andFilter": [{"lable": "SNP Nt", "value": "A23403G"}]},
            "andFilter[0]",
            "lable",
            "label",
        ),
        ({"andFliter": [{"label": "SNP Nt", "value": "A23403G"}]}, "", "andFliter", "andFilter"),
        (
            {"andFilter": [{"orFilter": [], "orfilter": []}]},
            "andFilter[0]",
            "orfilter",
            "orFilter",
        ),
    ],
)
def test_unknown_group_key(client, synthetic, filters, path, key, guess):
    status, body = answer(client, filters)
    assert (status, body["code"]) == (400, "unknown_filter_key")
    where = "filters" + (f".{path}" if path else "")
    assert body["detail"].startswith(f"{where}: unknown key '{key}' in a filter group"), body
    assert f"Did you mean '{guess}'?" in body["detail"]
    assert listed(body["detail"], " takes ") == ["label", *GROUP_KEYS]


def test_excluded_is_not_exclude(client, synthetic):
    status, body = answer(
        client, {"andFilter": [{"label": "SNP Nt", "value": "A23403G", "excluded": True}]}
    )
    assert (status, body["code"]) == (400, "unknown_filter_key")
    assert "Did you mean 'exclude'?" in body["detail"]
    # spelled right it negates
    assert names(
        client, {"andFilter": [{"label": "SNP Nt", "value": "A23403G", "exclude": True}]}
    ) == {
        "S3",
        "S4",
        "S6",
    }


def test_unknown_label_names_the_labels(client, synthetic):
    status, body = answer(client, {"andFilter": [{"label": "Lineagez", "value": "BA.1"}]})
    assert (status, body["code"]) == (400, "unknown_label")
    assert "Did you mean 'Lineage" in body["detail"]
    assert listed(body["detail"], "Use one of ") == list(LABELS)


@pytest.mark.parametrize("label", ["Lineage", "Lineages"])
def test_lineage_takes_value_as_well_as_lineage_list(client, synthetic, label):
    for lineages in (["BA.1.1", "BA.2"], "BA.1.1,BA.2"):
        by_value = names(client, {"andFilter": [{"label": label, "value": lineages}]})
        by_list = names(client, {"andFilter": [{"label": label, "lineageList": lineages}]})
        # BA.1.1 (S2) and BA.2 (S4) have no sublineages among the samples
        assert by_value == by_list == {"S2", "S4"}
    status, body = answer(
        client, {"andFilter": [{"label": label, "value": "BA.1", "lineageList": ["BA.2"]}]}
    )
    assert status == 400 and "give one of lineageList, value, not both" in body["detail"]


def gene_names(reference: str) -> list[str]:
    """CDS and gene symbols of the reference, read here from the tables."""
    symbols = set()
    for symbol, gene in Cds.objects.filter(replicon__reference__accession=reference).values_list(
        "symbol", "gene__symbol"
    ):
        symbols |= {symbol, gene} - {None}
    return sorted(symbols, key=lambda n: (n.casefold(), n))


@pytest.mark.parametrize(
    "item",
    [
        {"label": "SNP AA", "value": "Spike:L452R"},
        {"label": "DNA/AA Profile", "value": "A23403G Spike:L452R"},
        # sonar's split keys build the same label
        {
            "label": "SNP AA",
            "protein_symbol": "Spike",
            "ref_aa": "L",
            "ref_pos": 452,
            "alt_aa": "R",
        },
    ],
)
def test_unknown_gene_names_the_genes(client, synthetic, item):
    status, body = answer(client, {"andFilter": [item]})
    assert (status, body["code"]) == (400, "bad_mutation")
    assert f"'Spike:L452R': unknown gene 'Spike' for reference {REF}" in body["detail"]
    genes = gene_names(REF)
    assert "ORF1a" in genes and "S" in genes
    assert listed(body["detail"], f"Genes of {REF}: ") == genes
    assert listed(body["detail"], "replicons: ") == [REF]


def test_a_prefix_neither_gene_nor_replicon_names_both(client, synthetic):
    # 'D614G' is also an NT substitution (D is IUPAC), so 'Spike' could be a replicon
    status, body = answer(client, {"andFilter": [{"label": "SNP AA", "value": "Spike:D614G"}]})
    assert status == 400
    assert "'Spike' is neither a replicon nor a gene of reference" in body["detail"]
    assert listed(body["detail"], f"Genes of {REF}: ") == gene_names(REF)


def test_unknown_replicon_prefix_names_the_replicons(client, influenza_h1n1_reference):
    reference = "NC_026438.1"
    replicons = sorted(
        Replicon.objects.filter(reference__accession=reference).values_list("accession", flat=True)
    )
    assert len(replicons) == 8
    for value in ("NC_999999.1:HA:D222G", "NC_999999.1:A5G"):
        label = "SNP AA" if "HA" in value else "SNP Nt"
        status, body = answer(client, {"andFilter": [{"label": label, "value": value}]}, reference)
        assert status == 400, body
        assert "'NC_999999.1'" in body["detail"]
        assert listed(body["detail"], "eplicons: ") == replicons
    # a gene of another segment than the one named: the genes of that segment are listed
    ha = Replicon.objects.get(reference__accession=reference, cds__symbol="HA").accession
    other = next(r for r in replicons if r != ha)
    status, body = answer(
        client, {"andFilter": [{"label": "SNP AA", "value": f"{other}:HA:D222G"}]}, reference
    )
    assert status == 400
    assert "unknown gene or CDS 'HA'" in body["detail"]
    own = Cds.objects.filter(replicon__accession=other).values_list("symbol", flat=True)
    assert set(listed(body["detail"], "Genes: ")) >= set(own) and "HA" not in listed(
        body["detail"], "Genes: "
    )


def test_sonar_cli_payloads(client, synthetic):
    """What sonar's CLI (``construct_query``) sends: split mutation keys with string positions,
    profile groups nested in orFilter, Sample/Annotation with explicit exclude, Lineages with
    a string list, properties ORed inside an andFilter."""
    profile = {
        "andFilter": [
            {
                "label": "SNP AA",
                "alt_aa": "G",
                "ref_aa": "D",
                "ref_pos": "614",
                "protein_symbol": "S",
            }
        ],
        "orFilter": [
            {
                "andFilter": [
                    {"label": "Del Nt", "first_deleted": "21765", "last_deleted": "21770"}
                ],
                "orFilter": [],
            }
        ],
    }
    assert names(client, {"andFilter": [profile], "orFilter": []}) == {"S1", "S2", "S5"}
    cli = {
        "andFilter": [
            {"label": "Sample", "exclude": False, "value": ["S1", "S2", "S3", "S4"]},
            {
                "andFilter": [
                    {
                        "label": "Annotation",
                        "property_name": "seq_ontology",
                        "filter_type": "in",
                        "value": ["missense_variant", "synonymous_variant"],
                        "exclude": False,
                    }
                ]
            },
            {
                "andFilter": [
                    {
                        "orFilter": [
                            {
                                "label": "Lineages",
                                "lineageList": "BA.1",
                                "exclude": False,
                                "includeSublineages": True,
                            },
                            {
                                "label": "Property",
                                "property_name": "country",
                                "filter_type": "exact",
                                "value": "FR",
                                "exclude": False,
                            },
                        ]
                    }
                ]
            },
        ],
        "orFilter": [],
    }
    # S1-S4 with a missense/synonymous effect (S1, S2, S3) and BA.1-or-below (S1, S2, S3) or FR
    assert names(client, cli) == {"S1", "S2", "S3"}


# --- the filter schema in the OpenAPI -----------------------------------------------------
def filter_components(client: Client) -> dict[str, dict]:
    return client.get("/api/openapi.json").json()["components"]["schemas"]


def labels_of(item: dict) -> list[str]:
    label = item["properties"]["label"]
    return [label["const"]] if "const" in label else label["enum"]


def test_openapi_documents_every_label_and_key(client, synthetic):
    schema = client.get("/api/openapi.json").json()
    components = schema["components"]["schemas"]
    documented: dict[str, list[str]] = {}
    for ref in components["Filter"]["anyOf"]:
        item = components[ref["$ref"].rsplit("/", 1)[1]]
        assert item["additionalProperties"] is False
        if "const" not in item["properties"]["label"] and "enum" not in item["properties"]["label"]:
            assert set(item["properties"]) == {"label", *GROUP_KEYS}  # the group
            continue
        for label in labels_of(item):
            documented[label] = sorted(item["properties"])
    # nesting is documented on groups (the parser also takes it beside a label)
    assert documented == {
        label: sorted(set(keys) - set(GROUP_KEYS)) for label, keys in LABEL_KEYS.items()
    }
    # every operation that takes filters declares them as JSON of that schema
    taking = [
        (path, parameter)
        for path, operations in schema["paths"].items()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if parameter["name"] == "filters"
    ]
    assert len(taking) >= 10
    for path, parameter in taking:
        assert parameter["content"] == {
            "application/json": {"schema": {"$ref": "#/components/schemas/Filter"}}
        }, path


#: the synthetic dataset's names for the keys whose values the database decides; the schema
#: cannot know them, so the generated filters draw these from here (everything else: the schema)
KNOWN = {
    "DNA/AA Profile": {"value": ["S:D614G", "A23403G C241T", "del:21765-21770*fs"]},
    "SNP Nt": {"value": ["A23403G", "A23403N", "G10147n"]},
    "SNP AA": {"value": ["S:D614G", "s:d614x"]},
    "Del Nt": {"value": ["del:21765-21770"]},
    "Del AA": {"value": ["S:del:69-70"]},
    "Ins Nt": {"value": ["T22204TGAGCCAGAA"]},
    "Ins AA": {"value": ["S:R214REPE"]},
    "Property": {
        "property_name": ["country", "comments", "name", "lineage"],
        "filter_type": ["exact", "iexact", "contains", "icontains", "startswith", "in"],
        "value": {"type": "string", "pattern": "^[A-Za-z0-9.]{1,4}$"},
    },
    "Lineages": {
        "lineageList": {"type": "array", "minItems": 1, "items": {"enum": ["BA.1", "XEC"]}}
    },
    "Sample": {"value": {"type": "array", "items": {"type": "string", "pattern": "^S[0-9]$"}}},
    "Replicon": {"accession": [REF]},
    "Reference": {"accession": [REF]},
    "Annotation": {
        "property_name": ["seq_ontology", "impact"],
        "filter_type": ["exact", "in"],
        "value": ["missense_variant", "LOW"],
    },
    "N-of": {
        "n": [0, 1, 2],
        "exactly": {"type": "boolean"},
        "items": {
            "type": "array",
            "minItems": 1,
            "maxItems": 3,
            "items": {
                "enum": [
                    {"label": "SNP AA", "value": "S:D614G"},
                    {"label": "Maybe", "value": "C241T"},
                    {"orFilter": [{"label": "Lineages", "lineageList": ["BA.1"]}]},
                ]
            },
        },
    },
    "Maybe": {"value": ["C241T", "S:D614G", "del:21765-21770", "G10147T"]},
    "Insertion pattern": {"value": ["ins_22204:?GAG?", "ins_S:214:EPE", "ins_22204:?"]},
}


def narrowed(doc: dict) -> dict:
    """``doc`` with the database-named values of each label drawn from :data:`KNOWN`; keys
    not in KNOWN that would need the database (the split mutation keys, the second spelling of
    a key) are left out, so ``value`` is the way the mutation is given."""
    components = doc["components"]["schemas"]
    for ref in components["Filter"]["anyOf"]:
        item = components[ref["$ref"].rsplit("/", 1)[1]]
        if "const" not in item["properties"]["label"] and "enum" not in item["properties"]["label"]:
            continue
        known = KNOWN[labels_of(item)[0]]
        free = {"label", "exclude", "includeSublineages", "isVisible", *GROUP_KEYS}
        item["properties"] = {
            key: (
                {"enum": known[key]} if isinstance(known.get(key), list) else known.get(key, spec)
            )
            for key, spec in item["properties"].items()
            if key in known or key in free
        }
        item["required"] = ["label", *(k for k in known if k != "filter_type")]
        item.pop("allOf", None)
    return doc


def test_filters_generated_from_the_schema_are_answered(client, synthetic):
    """Schemathesis draws ``filters`` from the OpenAPI schema (nesting, labels, their keys,
    filter types, exclude, UI flags), database names from KNOWN: every one is answered 200."""
    doc = narrowed(client.get("/api/openapi.json").json())
    operation = schemathesis.openapi.from_dict(doc)[URL]["GET"]
    seen: list[str] = []

    @seed(20260101)  # the same filters every run
    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    @settings(
        max_examples=150, database=None, deadline=None, suppress_health_check=list(HealthCheck)
    )
    def check(case) -> None:
        filters = (case.query or {}).get("filters")
        if filters is None:
            return
        text = filters if isinstance(filters, str) else json.dumps(filters)
        seen.append(text)
        response = client.get(URL, {"reference": REF, "filters": text})
        assert response.status_code == 200, (text, response.json())

    check()
    labelled = [t for t in seen if '"label": "' in t]
    # groups (and N-of items) holding conditions: the nesting, not only single conditions
    nested = [t for t in seen if re.search(r'(Filter|items)": \[\{[^]]*"label": "', t)]
    assert len(labelled) >= 30 and len(nested) >= 3, (len(seen), len(labelled), len(nested))
