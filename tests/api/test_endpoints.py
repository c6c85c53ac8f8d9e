"""Every sample endpoint against the synthetic dataset: full JSON bodies, alias paths, both
pagination styles, exact query counts (house rules 9 and 10)."""

import json

import pytest
from django.test import Client

from ena_like.models import Sample
from tests.api.synthetic import Synthetic

pytestmark = pytest.mark.django_db

REF = "MN908947.3"


def stamps(sample: Sample) -> dict:
    return {
        "init_upload_date": sample.init_upload_date.isoformat().replace("+00:00", "Z")[:23] + "Z",
        "last_update_date": sample.last_update_date.isoformat().replace("+00:00", "Z")[:23] + "Z",
    }


def one_genome(client: Client, name: str, **params) -> dict:
    body = client.get("/api/samples/genomes/", {"reference": REF, "name": name, **params}).json()
    assert (body["count"], body["next"], body["previous"]) == (1, None, None), body
    return body["results"][0]


def test_genome_full_body(client, synthetic: Synthetic):
    s1 = synthetic.samples["S1"]
    assert one_genome(client, "S1") == {
        "id": s1.pk,
        "name": "S1",
        "sequences": [s1.records.get().sequence_id],
        "genomic_profiles": {
            REF: {
                "C241T": ["upstream_gene_variant MODIFIER"],
                "del:21765-21770": ["conservative_inframe_deletion MODERATE"],
                "A23403G": ["missense_variant MODERATE"],
            }
        },
        # label → the effects of its NT parents on S (synthetic.NT, AA_PARENTS)
        "proteomic_profiles": {
            f"{REF}: S": {
                "S:del:69-70": ["conservative_inframe_deletion MODERATE"],
                "S:D614G": ["missense_variant MODERATE"],
            }
        },
        "properties": [
            {"name": "age", "value": 48},
            {"name": "comments", "value": "vending machine"},
            {"name": "euro", "value": 63.33},
            {"name": "lineage", "value": "BA.1"},
            {"name": "collection_date", "value": "2022-01-03"},
            {"name": "country", "value": "DE"},
            {"name": "length", "value": 29000},
            {"name": "init_upload_date", "value": s1.init_upload_date.date().isoformat()},
            {"name": "last_update_date", "value": s1.last_update_date.date().isoformat()},
        ],
        "qc": None,
        **stamps(s1),
    }


def test_show_nx_expands_unknown_ranges_for_the_page_only(client, synthetic):
    s3 = one_genome(client, "S3")
    missense = ["missense_variant MODERATE"]
    # S:K417X hidden
    assert s3["proteomic_profiles"] == {f"{REF}: S": {"S:D614V": missense}}
    s3 = one_genome(client, "S3", showNX="true")
    assert s3["proteomic_profiles"] == {
        f"{REF}: ORF1a": {"ORF1a:S3001X": [], "ORF1a:G3002X": []},
        f"{REF}: S": {"S:K417X": [], "S:D614V": missense},
    }
    assert one_genome(client, "S6")["genomic_profiles"] == {REF: {}}
    assert one_genome(client, "S6", showNX="true")["genomic_profiles"] == {
        REF: {"G10147N": [], "C10148N": [], "T10149N": []}
    }


def test_vcf_format(client, synthetic):
    s1 = synthetic.samples["S1"]
    body = client.get(
        "/api/samples/genomes/", {"reference": REF, "name": "S1", "vcf_format": "true"}
    ).json()
    v = synthetic.nt
    assert body == {
        "count": 1,
        "next": None,
        "previous": None,
        "results": [
            {
                "id": s1.pk,
                "name": "S1",
                "genomic_profiles": {
                    REF: [
                        {
                            "variant.id": v["C241T"],
                            "variant.ref": "C",
                            "variant.alt": "T",
                            "variant.start": 240,
                            "variant.end": 241,
                        },
                        {
                            "variant.id": v["del:21765-21770"],
                            "variant.ref": "TACATG",
                            "variant.alt": "",
                            "variant.start": 21764,
                            "variant.end": 21770,
                        },
                        {
                            "variant.id": v["A23403G"],
                            "variant.ref": "A",
                            "variant.alt": "G",
                            "variant.start": 23402,
                            "variant.end": 23403,
                        },
                    ]
                },
            }
        ],
    }


def test_genomes_pagination_and_ordering(client, synthetic):
    by_limit = client.get(
        "/api/samples/genomes/", {"reference": REF, "limit": 2, "offset": 2}
    ).json()
    by_page = client.get(
        "/api/samples/genomes/", {"reference": REF, "page": 2, "page_size": 2}
    ).json()
    # -collection_date by default, samples without a date last
    assert [r["name"] for r in by_limit["results"]] == ["S6", "S1"]
    assert by_page["results"] == by_limit["results"]
    assert by_limit["count"] == by_page["count"] == 6
    assert by_limit["next"].endswith("limit=2&offset=4")
    assert by_page["previous"].endswith("page=1&page_size=2")
    order = lambda o: [  # noqa: E731
        r["name"]
        for r in client.get("/api/samples/genomes/", {"reference": REF, "ordering": o}).json()[
            "results"
        ]
    ]
    assert order("-collection_date") == ["S5", "S2", "S6", "S1", "S3", "S4"]
    assert order("collection_date") == ["S3", "S1", "S6", "S2", "S5", "S4"]
    assert order("age") == ["S5", "S2", "S1", "S4", "S3", "S6"]  # custom property, NULLs last
    assert order("-euro")[:3] == ["S1", "S2", "S3"]
    assert order("name") == ["S1", "S2", "S3", "S4", "S5", "S6"]
    bad = client.get("/api/samples/genomes/", {"reference": REF, "ordering": "nope"})
    assert bad.status_code == 400 and "nope" in bad.json()["detail"]


def test_statistics_and_aliases(client, synthetic):
    expected = {
        "samples_total": 6,
        "first_sample_date": "2021-12-30",
        "latest_sample_date": "2022-01-20",
        "populated_metadata_fields": [
            "age",
            "comments",
            "euro",
            "lineage",
            "collection_date",
            "country",
            "length",
        ],
    }
    for path in ("/api/samples/statistics/", "/api/statistics/statistics/"):
        assert client.get(path, {"reference": f'"{REF}"'}).json() == expected
    filters = json.dumps({"andFilter": [{"label": "SNP AA", "value": "S:D614G"}]})
    for path in ("/api/samples/filtered_statistics/", "/api/statistics/filtered_statistics/"):
        assert client.get(path, {"reference_accession": REF, "filters": filters}).json() == {
            "filtered_total_count": 3
        }
    assert client.get("/api/samples/filtered_statistics/").json() == {"filtered_total_count": 6}


def test_lineage_lists(client, synthetic):
    assert client.get("/api/samples/distinct_lineages/", {"reference": REF}).json() == {
        "lineages": ["AY.4", "BA.1", "BA.1.1", "BA.2", "XEC", None]
    }
    full = client.get("/api/samples/full_lineages/", {"reference": REF}).json()["lineages"]
    assert len(full) == 74 and full[:3] == ["AY.4", "AY.4.1", "AY.4.10"] and "BD.1" in full


def test_plots(client, synthetic):
    filters = json.dumps(
        {
            "andFilter": [
                {
                    "label": "Property",
                    "property_name": "country",
                    "filter_type": "exact",
                    "value": "DE",
                }
            ]
        }
    )
    for prefix in ("/api/samples/", "/api/plots/"):

        def get(name, prefix=prefix, **p):
            return client.get(f"{prefix}{name}/", {"reference": REF, **p}).json()

        assert get("plot_samples_per_week") == [
            ["2021-W52", 1],
            ["2022-W01", 3],
            ["2022-W02", 0],
            ["2022-W03", 1],
        ]
        assert get("plot_samples_per_week", filters=filters) == [["2022-W01", 3]]
        assert get("plot_grouped_lineages_per_week") == {
            "grouped_lineages_per_week": [
                {"week": "2021-W52", "lineage_group": "AY.4", "count": 1, "percentage": 100.0},
                {"week": "2022-W01", "lineage_group": "BA.1", "count": 2, "percentage": 66.67},
                {"week": "2022-W01", "lineage_group": "Unknown", "count": 1, "percentage": 33.33},
                {"week": "2022-W03", "lineage_group": "Unknown", "count": 1, "percentage": 100.0},
            ]
        }
        assert get("plot_metadata_coverage", filters=filters) == {
            "metadata_coverage": {
                "name": 3,
                "lineage": 2,
                "collection_date": 3,
                "country": 3,
                "host": 0,
                "zip_code": 0,
                "lab": 0,
                "sequencing_tech": 0,
                "sequencing_reason": 0,
                "genome_completeness": 0,
                "data_set": 0,
                "length": 3,
                "genomic_profiles": 2,
                "proteomic_profiles": 2,
                "age": 2,
                "comments": 2,
                "euro": 2,
            }
        }
        assert get("plot_custom", property="country") == {"country": {"DE": 3, "FR": 1}}
        assert get("plot_custom", property="age") == {"age": {"5": 1, "18": 1, "48": 1, "60": 1}}
        assert get("plot_custom_xy", x_property="country", y_property="age") == {
            "DE": [{"18": 1}, {"48": 1}]
        }
        assert get("plot_custom_xy", x_property="lineage", y_property="country") == {
            "AY.4": [{"FR": 1}],
            "BA.1": [{"DE": 1}],
            "BA.1.1": [{"DE": 1}],
        }
    unknown = client.get("/api/samples/plot_custom/", {"reference": REF, "property": "nope"})
    assert unknown.status_code == 400
    assert unknown.json()["code"] == "invalid_filter" and "'nope'" in unknown.json()["detail"]


def test_sequence_data(client, synthetic):
    s1 = synthetic.samples["S1"].records.get()
    expected = {"sequence_id": s1.sequence_id, "name": "S1.1", "sequence_seqhash": "0" * 64}
    assert (
        client.get("/api/samples/get_sequence_data/", {"sequence_name": "S1.1"}).json() == expected
    )
    assert client.get("/api/samples/get_sequence_data/", {"sequence_name": "x"}).json() == {
        "sequence_id": None,
        "name": "x",
        "sequence_seqhash": None,
    }
    bulk = client.post(
        "/api/samples/get_bulk_sequence_data/",
        {"sequence_data": ["x", "S1.1"]},
        content_type="application/json",
    )
    assert bulk.json() == [
        {"sequence_id": None, "name": "x", "sequence_seqhash": None},
        expected,
    ]
    assert client.get("/api/samples/get_sequence_data/").status_code == 422


def test_samples_list_and_properties(client, synthetic):
    body = client.get("/api/samples/", {"reference": REF, "page": 1, "page_size": 2}).json()
    assert body["count"] == 6 and [r["name"] for r in body["results"]] == ["S5", "S2"]
    s5 = synthetic.samples["S5"]
    assert body["results"][0] == {
        "id": s5.pk,
        "name": "S5",
        "reference": REF,
        "lineage": "XEC",
        "collection_date": "2022-01-20",
        "country": None,
        "host": None,
        "zip_code": None,
        "lab": None,
        "sequencing_tech": None,
        "sequencing_reason": None,
        "genome_completeness": None,
        "data_set": None,
        "length": 29004,
        **stamps(s5),
    }
    assert client.get("/api/samples/", {"name": "S3"}).json()["count"] == 1
    assert client.get("/api/samples/S5/").json() == body["results"][0]
    missing = client.get("/api/samples/A/PR/8/34/")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "unknown sample 'A/PR/8/34'.", "code": "not_found"}
    names = client.get("/api/properties/distinct_property_names/").json()["property_names"]
    assert names[:5] == ["age", "comments", "euro", "name", "lineage"]
    values = lambda n: client.get(  # noqa: E731
        "/api/properties/distinct_properties/", {"property_name": n, "reference": REF}
    ).json()
    assert values("age") == {"values": [5, 18, 48, 60]}
    assert values("country") == {"values": ["DE", "FR"]}
    props = client.get("/api/properties/").json()
    assert [p["name"] for p in props["results"]] == ["age", "comments", "euro"]
    assert props["results"][0] == {
        "id": props["results"][0]["id"],
        "name": "age",
        "datatype": "integer",
        "description": "",
    }


def test_match(client, synthetic):
    body = client.get(
        "/api/sample_genomes/match/",
        {"reference": REF, "profile_filters": ["A23403G"], "param_filters": ["country=DE"]},
    ).json()
    assert [r["name"] for r in body["results"]] == ["S2", "S1"] and body["count"] == 2
    item = json.dumps({"label": "Lineages", "lineageList": ["BA.1"], "includeSublineages": False})
    body = client.get(
        "/api/sample_genomes/match/",
        {"reference": REF, "profile_filters": ["S:D614G C241T"], "param_filters": [item]},
    ).json()
    assert [r["name"] for r in body["results"]] == ["S1"]


def test_database_endpoints(client, synthetic):
    assert client.get("/api/database/get_database_tables_status/").json() == {"status": True}
    detail = client.get("/api/database/get_database_info/").json()["detail"]
    assert detail["samples_total"] == 6 and detail["genomes"] == 6
    assert detail["unique_sequences"] == 6
    assert detail["metadata_coverage"]["lineage"] == "5 (83.33%)"
    assert detail["earliest_sampling_date"] == "2021-12-30"
    organism = detail["reference_genome"]["Severe acute respiratory syndrome coronavirus 2"]
    assert organism["replicons"] == [REF] and organism["reference_length"] == 29903
    assert "S" in organism["annotated_proteins"]
    assert detail["database_version"].startswith("emgsonar ")


def test_reference_data_lists(client, synthetic):
    lineages = client.get("/api/lineages/", {"reference": REF, "name": "AY.4"}).json()
    assert lineages["count"] == 1
    ay4 = lineages["results"][0]
    assert ay4 == {
        "id": ay4["id"],
        "name": "AY.4",
        "full_name": "",
        "description": "",
        "withdrawn": False,
        "reference": REF,
        "parents": ["B.1.617.2"],
    }
    assert client.get(f"/api/lineages/{ay4['id']}/").json() == ay4
    subs = client.get(f"/api/lineages/{ay4['id']}/get_sublineages/").json()["sublineages"]
    assert len(subs) == 18 and subs[0] == "AY.4" and "AY.4.17" in subs
    assert client.get("/api/lineages/", {"reference": REF, "parent": "BA.5"}).json()["count"] == 3
    assert client.get("/api/lineages/999999/get_sublineages/").status_code == 404
    alignments = client.get(
        "/api/alignments/", {"reference": REF, "page": 1, "page_size": 5}
    ).json()
    assert alignments["count"] == 6 and len(alignments["results"]) == 5
    first = alignments["results"][0]
    assert first["covered_start"] == 55 and first["covered_end"] == 29800
    assert client.get(f"/api/alignments/{first['id']}/").json() == first


@pytest.mark.parametrize(
    ("url", "queries"),
    [
        # reference, count, page, properties, records, alignments, NT, effects, AA
        ("/api/samples/genomes/?reference=MN908947.3", 9),
        # + unknown ranges, replicon sequences, CDS translations
        ("/api/samples/genomes/?reference=MN908947.3&showNX=true", 12),
        # + replicons and mutation lookup of the filter; the count from MutationCount
        (
            '/api/samples/genomes/?reference=MN908947.3&filters={"label":"SNP Nt","value":"C241T"}',
            11,
        ),
        # CDS symbols instead of replicons (gene prefix)
        (
            "/api/samples/genomes/?reference=MN908947.3"
            '&filters={"label":"SNP AA","value":"S:D614G"}',
            11,
        ),
        ("/api/samples/genomes/?reference=MN908947.3&vcf_format=true", 9),
        ("/api/sample_genomes/match/?reference=MN908947.3&param_filters=country=DE", 9),
        ("/api/samples/?reference=MN908947.3", 3),  # reference, count, page (+ reference join)
        ("/api/samples/?name=S1", 2),
        ("/api/samples/S1/", 1),
        ("/api/properties/", 2),
        ("/api/lineages/?reference=MN908947.3", 4),  # reference, count, page, parents
        ("/api/alignments/?reference=MN908947.3", 3),
        # reference, stored coverage, min/max collection date through the index
        ("/api/samples/statistics/?reference=MN908947.3", 3),
        ("/api/samples/filtered_statistics/?reference=MN908947.3", 2),
    ],
)
def test_query_counts(client, synthetic, django_assert_num_queries, url, queries):
    with django_assert_num_queries(queries):
        response = client.get(url)
    assert response.status_code == 200
