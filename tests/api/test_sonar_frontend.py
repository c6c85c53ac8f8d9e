"""The contract of sonar's web frontend (rki-mf1/sonar ``apps/frontend``, v1.0.4): one test per
call of its ``src/api/API.ts``, sent the way the frontend sends it (its query strings, its
``Accept`` header, from its own origin) and checked against the keys and types its
TypeScript types (``src/util/types.ts``) and stores declare.

Expected values come from the synthetic dataset's table (``tests/api/synthetic.py``), not from
our own output. A sample gets one frameshifting deletion (``del:28300``, in N) on top.
"""

import csv
import io
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client, override_settings

from analyses.models import Alignment, Cds, MutationCount, NucleotideMutation
from emgsonar.models import ApiToken
from ena_like.models import Property, Sample
from tests.api.synthetic import SAMPLES, Synthetic

pytestmark = pytest.mark.django_db

REF = "MN908947.3"
ORIGIN = "http://127.0.0.1:5173"
#: what the frontend's axios instance sends with every request
HEADERS = {"Accept": "application/json; version=1.0.1", "Origin": ORIGIN}
#: sonar's empty filter group, as ``samplesStore.filters`` sends it
NO_FILTER = {"andFilter": [], "orFilter": []}
FRAMESHIFT = "del:28300"


def frontend_query(filters: dict, reference: str = REF) -> str:
    """``API.parseQueryString``: every key JSON-encoded, so the reference arrives quoted."""
    return "filters=" + json.dumps(filters) + "&reference=" + json.dumps(reference)


def get(client: Client, path: str, params: dict | None = None, **headers: str) -> Any:
    """GET as axios does: ``params`` appended to the query string already in ``path``."""
    if params:
        path += ("&" if "?" in path else "?") + urlencode(params)
    response = client.get(f"/api/{path}", headers={**HEADERS, **headers})
    assert response.status_code == 200, (path, response.content[:500])
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    return response.json()


@pytest.fixture
def frontend(client: Client, synthetic: Synthetic, settings) -> Synthetic:
    """Synthetic data, CORS open for the frontend's origin, and S4 carrying a frameshifting
    one-base deletion in N (effect ``frameshift_variant`` on N, as the calling engine marks
    it)."""
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]
    replicon = synthetic.reference.replicons.get()
    n_cds = Cds.objects.get(replicon=replicon, symbol="N")
    deletion = NucleotideMutation.objects.create(
        replicon=replicon,
        kind="del",
        start=28299,
        end=28300,
        ref=replicon.sequence[28299],
        alt="",
        label=FRAMESHIFT,
    )
    deletion.effects.create(cds=n_cds, seq_ontology="frameshift_variant", impact="HIGH")
    s4 = synthetic.samples["S4"]
    s4.nt_mutation_ids = sorted([*s4.nt_mutation_ids, deletion.pk])
    s4.save(update_fields=["nt_mutation_ids"])
    Alignment.objects.filter(sequence__records__sample=s4).update(
        nt_mutation_ids=s4.nt_mutation_ids
    )
    MutationCount.objects.create(
        reference=synthetic.reference, level="nt", mutation_id=deletion.pk, samples=1
    )
    return synthetic


def assert_string_list(value: Any) -> None:
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), value


# --- CORS and authentication ------------------------------------------------------------------
def test_cors_preflight_and_token_auth_when_reads_are_private(
    client, frontend, reader_token, settings
):
    """The frontend sends ``Authorization: Token <key>`` (VITE_SONAR_AUTH_TOKEN) from another
    origin: the preflight needs no credentials, and the token opens private reads."""
    preflight = client.options(
        "/api/statistics/statistics/",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight["Access-Control-Allow-Origin"] == ORIGIN
    assert "authorization" in preflight["Access-Control-Allow-Headers"]
    other = client.get("/api/status/", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in other
    config = settings.EMGSONAR_CONFIG.model_copy(deep=True)
    config.api.public_reads = False
    with override_settings(EMGSONAR_CONFIG=config):
        refused = client.get("/api/statistics/statistics/", {"reference": REF}, headers=HEADERS)
        assert refused.status_code == 401
        assert refused["Access-Control-Allow-Origin"] == ORIGIN  # the frontend can read why
        body = get(
            client,
            "statistics/statistics/",
            {"reference": REF},
            Authorization=f"Token {reader_token}",
        )
        assert body["samples_total"] == len(SAMPLES)


def test_cors_is_off_by_default(client, synthetic, monkeypatch):
    from emgsonar.config import EmgsonarConfig

    assert EmgsonarConfig().api.cors_allowed_origins == []
    monkeypatch.setenv("EMGSONAR_API__CORS_ALLOWED_ORIGINS", f'["{ORIGIN}", "https://sonar.x"]')
    assert EmgsonarConfig().api.cors_allowed_origins == [ORIGIN, "https://sonar.x"]
    response = client.get("/api/status/", headers={"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in response


# --- home page and footer -----------------------------------------------------------------------
def test_get_backend_status(client, frontend):
    """``BackendStatus {name: string, version: string}`` (the footer's "backend v…")."""
    body = get(client, "status/")
    assert set(body) == {"name", "version"}
    assert all(isinstance(v, str) and v for v in body.values())


def test_get_dataset_options(client, frontend):
    """``Record<organism, {accessions: string[], data_sets: string[]}>``: the home page's
    chooser. The synthetic samples have no data set; one gets ``RKI``, one the empty string."""
    Sample.objects.filter(name="S1").update(data_set="RKI")
    Sample.objects.filter(name="S2").update(data_set="")
    body = get(client, "references/dataset_options/")
    organism = frontend.reference.organism
    assert body == {organism: {"accessions": [REF], "data_sets": ["-Empty-", "RKI"]}}


# --- table page ---------------------------------------------------------------------------------
def test_get_sample_genomes(client, frontend):
    """``{count, results: SampleDetails[]}``; SampleDetails: ``name``, ``properties``
    (``{name, value}``), ``genomic_profiles`` and ``proteomic_profiles`` both
    ``{accession: {label: string[]}}``; the table also reads the upload dates from
    ``properties``."""
    query = "limit=10&offset=0&ordering=-collection_date&" + frontend_query(NO_FILTER)
    body = get(client, f"samples/genomes/?{query}")
    assert body["count"] == len(SAMPLES)
    # -collection_date, undated samples last (S4 has no date)
    assert [g["name"] for g in body["results"]] == ["S5", "S2", "S6", "S1", "S3", "S4"]
    for genome in body["results"]:
        assert {"name", "properties", "genomic_profiles", "proteomic_profiles"} <= set(genome)
        for per in (genome["genomic_profiles"], genome["proteomic_profiles"]):
            for labels in per.values():
                assert isinstance(labels, dict)
                for effects in labels.values():
                    assert_string_list(effects)
        names = [p["name"] for p in genome["properties"]]
        assert {"init_upload_date", "last_update_date"} <= set(names)
        assert all(set(p) == {"name", "value"} for p in genome["properties"])
    by_name = {g["name"]: g for g in body["results"]}
    assert by_name["S2"]["proteomic_profiles"] == {
        f"{REF}: S": {
            "S:R214REPE": ["disruptive_inframe_insertion MODERATE"],
            "S:D614G": ["missense_variant MODERATE"],
        }
    }
    assert by_name["S4"]["genomic_profiles"] == {
        REF: {
            "C241T": ["upstream_gene_variant MODIFIER"],
            f"{FRAMESHIFT}*fs": ["frameshift_variant HIGH"],
        }
    }


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        # the DNA/AA profile box, NT and AA, with sonar's frameshift mark or without
        ({"label": "DNA/AA Profile", "value": "S:D614G", "exclude": False}, {"S1", "S2", "S5"}),
        ({"label": "DNA/AA Profile", "value": "A23403G C241T", "exclude": False}, {"S1", "S5"}),
        ({"label": "DNA/AA Profile", "value": "S:D614G", "exclude": True}, {"S3", "S4", "S6"}),
        ({"label": "DNA/AA Profile", "value": f"{FRAMESHIFT}*fs", "exclude": False}, {"S4"}),
        ({"label": "DNA/AA Profile", "value": FRAMESHIFT, "exclude": False}, {"S4"}),
        # the lineage selector (sublineages on by default) and the time range's Default button
        (
            {
                "label": "Lineages",
                "lineageList": ["BA.1.1", "XEC"],
                "exclude": False,
                "includeSublineages": True,
                "isVisible": True,
            },
            {"S2", "S5"},
        ),
        (
            {
                "label": "Lineages",
                "lineageList": ["BA.1"],
                "exclude": True,
                "includeSublineages": False,
                "isVisible": True,
            },
            {"S2", "S3", "S4", "S5", "S6"},
        ),
        (
            {
                "label": "Property",
                "property_name": "collection_date",
                "filter_type": "range",
                "value": "2022-01-03,2022-01-05",
            },
            {"S1", "S2", "S6"},
        ),
        # the advanced filter's replicon and property rows
        ({"label": "Replicon", "replicon_accession": REF, "exclude": False}, set(SAMPLES)),
        (
            {"label": "Property", "property_name": "age", "filter_type": "gte", "value": "48"},
            {"S1", "S4"},
        ),
        (
            {"label": "Property", "property_name": "name", "filter_type": "contains", "value": "S"},
            set(SAMPLES),
        ),
        # the operators the frontend offers for a text property (comments: synthetic table)
        (
            {
                "label": "Property",
                "property_name": "comments",
                "filter_type": "iendswith",
                "value": "SOCKS",
            },
            {"S2"},
        ),
        (
            {
                "label": "Property",
                "property_name": "comments",
                "filter_type": "istartswith",
                "value": "Vending",
            },
            {"S1"},
        ),
        (
            {
                "label": "Property",
                "property_name": "country",
                "filter_type": "iregex",
                "value": "^f",
            },
            {"S3"},
        ),
        (
            {"label": "Property", "property_name": "name", "filter_type": "endswith", "value": "6"},
            {"S6"},
        ),
    ],
)
def test_filtered_statistics_and_genomes_apply_the_frontend_filters(
    client, frontend, item, expected
):
    """``FilteredStatistics {filtered_total_count: number}`` and the same filter on the table."""
    filters = {"andFilter": [item], "orFilter": []}
    count = get(client, f"statistics/filtered_statistics/?{frontend_query(filters)}")
    assert count == {"filtered_total_count": len(expected)}
    query = "limit=10&offset=0&ordering=-collection_date&" + frontend_query(filters)
    names = {g["name"] for g in get(client, f"samples/genomes/?{query}")["results"]}
    assert names == expected


def test_data_set_choice_from_the_home_page(client, frontend):
    """The store puts the chosen data sets first: ``data_set in [...]`` (``-Empty-`` → ``''``)."""
    Sample.objects.filter(name__in=["S1", "S3"]).update(data_set="RKI")
    Sample.objects.filter(name="S2").update(data_set="")
    item = {"label": "Property", "property_name": "data_set", "filter_type": "in"}
    for value, expected in ((["RKI"], 2), (["RKI", ""], 3)):
        filters = {"andFilter": [{**item, "value": value}], "orFilter": []}
        body = get(client, f"statistics/filtered_statistics/?{frontend_query(filters)}")
        assert body == {"filtered_total_count": expected}


def test_get_single_sample_genome(client, frontend):
    """The sample page: ``samples/genomes/?name=`` → ``results[0]`` is the sample."""
    body = get(client, "samples/genomes/?name=S3")
    assert [g["name"] for g in body["results"]] == ["S3"]
    assert body["results"][0]["genomic_profiles"] == {
        REF: {"C3037T": ["synonymous_variant LOW"], "A23403T": ["missense_variant MODERATE"]}
    }


def test_get_sample_statistics(client, frontend):
    """``Statistics {samples_total, first_sample_date, latest_sample_date,
    populated_metadata_fields: string[]}``."""
    body = get(client, "statistics/statistics/", {"reference": REF})
    assert set(body) == {
        "samples_total",
        "first_sample_date",
        "latest_sample_date",
        "populated_metadata_fields",
    }
    assert (body["samples_total"], body["first_sample_date"], body["latest_sample_date"]) == (
        6,
        "2021-12-30",
        "2022-01-20",
    )
    assert_string_list(body["populated_metadata_fields"])


def test_get_all_properties(client, frontend):
    """``{values: [{name, query_type, description, unique_values_count, default}]}``: the
    property chooser, the table's column choice (count > 0) and the operators per type."""
    body = get(client, f"properties/get_all_properties/?reference={REF}")
    assert body["keys"] == ["name", "query_type", "description", "default", "unique_values_count"]
    rows = {row["name"]: row for row in body["values"]}
    for row in body["values"]:
        assert set(row) == set(body["keys"])
        assert isinstance(row["query_type"], str) and row["query_type"].startswith("value_")
        assert isinstance(row["description"], str) and isinstance(row["unique_values_count"], int)
    counts = {name: row["unique_values_count"] for name, row in rows.items()}
    # distinct values in the synthetic table (dates: 5 distinct of 6 samples, S4 undated)
    assert {k: counts[k] for k in ("name", "lineage", "collection_date", "country", "host")} == {
        "name": 6,
        "lineage": 5,
        "collection_date": 5,
        "country": 2,
        "host": 0,
    }
    assert {k: counts[k] for k in ("age", "euro", "comments")} == {
        "age": 4,
        "euro": 3,
        "comments": 2,
    }
    types = {name: row["query_type"] for name, row in rows.items()}
    assert (types["collection_date"], types["age"], types["euro"], types["lineage"]) == (
        "value_date",
        "value_integer",
        "value_float",
        "value_varchar",
    )
    assert counts["init_upload_date"] >= 1 and counts["last_update_date"] >= 1
    # before a reference is chosen the frontend sends the string "null"
    assert get(client, "properties/get_all_properties/?reference=null")["values"] == body["values"]


def test_get_sample_genome_property_options(client, frontend):
    """The sample page: ``{property_names: string[]}``."""
    body = get(client, "properties/distinct_property_names/")
    assert_string_list(body["property_names"])
    assert {"age", "comments", "euro", "lineage", "collection_date"} <= set(body["property_names"])


def test_get_sample_genome_property_value_options(client, frontend):
    """``{values: [...]}``: the value dropdown of a property filter, dates as ISO strings."""
    lineages = get(
        client, "properties/distinct_properties/?property_name=lineage", {"reference": REF}
    )
    assert lineages == {"values": ["AY.4", "BA.1", "BA.1.1", "BA.2", "XEC"]}
    dates = get(client, "properties/distinct_properties/?property_name=collection_date")
    assert dates["values"] == ["2021-12-30", "2022-01-03", "2022-01-04", "2022-01-05", "2022-01-20"]


def test_get_replicon_accession_options(client, frontend):
    """``{accessions: string[]}`` (the replicon filter)."""
    assert get(client, "replicons/distinct_accessions/", {"reference": REF}) == {
        "accessions": [REF]
    }


def test_get_lineage_options(client, frontend):
    """``{lineages: string[]}``: lineages seen on samples (null for samples without)."""
    body = get(client, "lineages/distinct_lineages/", {"reference": REF})
    assert body == {"lineages": ["AY.4", "BA.1", "BA.1.1", "BA.2", "XEC", None]}


def test_get_full_lineage_options(client, frontend):
    """``{lineages: string[]}``: every lineage of the nomenclature (the lineage selector)."""
    body = get(client, "lineages/full_lineages/")
    assert_string_list(body["lineages"])
    assert body["lineages"] == sorted(body["lineages"])
    assert {"BA.1", "BA.1.1", "BA.2", "AY.4"} <= set(body["lineages"])  # the test tree


def test_get_gene_symbol_options(client, frontend):
    """``{gene_symbols: string[]}``: the names an AA mutation may be prefixed with."""
    body = get(client, "genes/distinct_gene_symbols/", {"reference": REF})
    cds = set(
        Cds.objects.filter(replicon__reference=frontend.reference).values_list("symbol", flat=True)
    )
    assert_string_list(body["gene_symbols"])
    assert cds <= set(body["gene_symbols"]) and {"S", "N", "ORF1a", "ORF1b"} <= cds


def test_unique_mutation_count(client, frontend):
    """``mutations/distinct_mutations_count/`` (no route in sonar; older sonar reported
    ``distinct_mutations_count``): distinct NT mutations carried by the samples."""
    carried = {label for nts, *_ in SAMPLES.values() for label in nts} | {FRAMESHIFT}
    assert get(client, "mutations/distinct_mutations_count/") == {
        "distinct_mutations_count": len(carried)
    }


def test_export_csv(client, frontend):
    """``getSampleGenomesExport``: ``;``-separated CSV, the header first (the xlsx writer splits
    the header on ``;``); frameshift labels keep their mark."""
    query = (
        frontend_query(NO_FILTER)
        + "&columns=name,genomic_profiles,proteomic_profiles,lineage&ordering=name&csv_stream=true"
    )
    response = client.get(f"/api/samples/genomes/?{query}", headers=HEADERS)
    assert response.status_code == 200 and response["Access-Control-Allow-Origin"] == ORIGIN
    rows = list(
        csv.reader(io.StringIO(b"".join(response.streaming_content).decode()), delimiter=";")
    )
    header = rows[0]
    assert header[:2] == ["name", f"genomic_profiles: {REF}"] and header[-1] == "lineage"
    s4 = dict(zip(header, rows[4], strict=True))
    assert s4["name"] == "S4" and s4[f"genomic_profiles: {REF}"] == f"C241T, {FRAMESHIFT}*fs"


# --- plots page ---------------------------------------------------------------------------------
def test_get_plot_samples_per_week(client, frontend):
    """``SamplesPerWeek = [string, number]``, consecutive ISO weeks."""
    body = get(client, f"plots/plot_samples_per_week/?{frontend_query(NO_FILTER)}")
    # 2021-12-30 is in 2021-W52; 2022-01-03..05 in W01; 2022-01-20 in W03
    assert body == [["2021-W52", 1], ["2022-W01", 3], ["2022-W02", 0], ["2022-W03", 1]]


def test_get_plot_grouped_lineages_per_week(client, frontend):
    """``{grouped_lineages_per_week: LineagePerWeek[{week, lineage_group, count,
    percentage}]}``."""
    body = get(client, f"plots/plot_grouped_lineages_per_week/?{frontend_query(NO_FILTER)}")
    rows = body["grouped_lineages_per_week"]
    for row in rows:
        assert set(row) == {"week", "lineage_group", "count", "percentage"}
        assert isinstance(row["count"], int) and isinstance(row["percentage"], float)
    week1 = {r["lineage_group"]: r["count"] for r in rows if r["week"] == "2022-W01"}
    assert sum(week1.values()) == 3  # S1 (BA.1), S2 (BA.1.1), S6 (no lineage)


def test_get_plot_metadata_coverage(client, frontend):
    """``PlotMetadataCoverage {metadata_coverage: {[key]: number}}``."""
    body = get(client, f"plots/plot_metadata_coverage/?{frontend_query(NO_FILTER)}")
    coverage = body["metadata_coverage"]
    assert all(isinstance(v, int) for v in coverage.values())
    assert (coverage["lineage"], coverage["collection_date"], coverage["age"]) == (5, 5, 4)


def test_get_plot_custom(client, frontend):
    """``{[property]: {value: number}}`` (bar, doughnut, line, histogram)."""
    query = frontend_query(NO_FILTER)
    assert get(client, f"plots/plot_custom/?{query}", {"property": "country"}) == {
        "country": {"DE": 3, "FR": 1}
    }
    assert get(client, f"plots/plot_custom/?{query}", {"property": "age"}) == {
        "age": {"5": 1, "18": 1, "48": 1, "60": 1}
    }


def test_get_2_properties(client, frontend):
    """The scatter plot: ``Record<x, Array<Record<y, number>>>``."""
    query = frontend_query(NO_FILTER)
    body = get(
        client, f"plots/plot_custom_xy/?{query}", {"x_property": "country", "y_property": "age"}
    )
    assert body == {"DE": [{"18": 1}, {"48": 1}]}


# --- sonar's other read and write endpoints (CLI, scripts) ----------------------------------------
def test_reference_lookups(client, frontend):
    refs = get(client, "references/get_all_references/")
    assert [r["accession"] for r in refs] == [REF]
    assert get(client, "references/distinct_accessions/") == [REF]
    replicon = frontend.reference.replicons.get()
    molecules = get(client, "replicons/get_molecule_data/", {"reference": f'"{REF}"'})
    assert len(molecules) == 1
    molecule = molecules[0]
    assert (molecule["id"], molecule["accession"], molecule["length"]) == (
        replicon.pk,
        REF,
        29903,
    )
    assert molecule["sequence"] == replicon.sequence and molecule["translation_id"] == 1
    assert get(client, "replicons/get_molecule_data/", {"replicon_id": replicon.pk}) == molecules
    missing = client.get("/api/replicons/get_molecule_data/")
    assert missing.status_code == 400 and "replicon_id" in missing.json()["detail"]


def test_get_gene_data(client, frontend):
    rows = get(client, "genes/get_gene_data/", {"ref_acc": REF})
    spike = next(r for r in rows if r["gene.gene_symbol"] == "S")
    # GenBank: gene S is 21563..25384 (1-based inclusive) → 0-based start, exclusive end
    assert (spike["gene.start"], spike["gene.end"]) == (21562, 25384)
    assert spike["reference.accession"] == REF and spike["replicon.accession"] == REF
    [cds] = spike["cds_list"]
    assert cds["cds.sequence"].startswith("MFVFLVLLPLVSSQ") and cds["peptide_list"] == []
    assert cds["cds_segments"] == [
        {
            "cds_segment.order": 0,
            "cds_segment.start": 21562,
            "cds_segment.end": 25384,
            "cds_segment.forward_strand": True,
        }
    ]
    by_replicon = get(client, "genes/get_gene_data/", {"replicon_acc": REF})
    assert by_replicon == rows
    assert client.get("/api/genes/get_gene_data/").status_code == 400


def test_get_alignment_data(client, frontend):
    s1 = frontend.samples["S1"]
    record = s1.records.get()
    replicon = frontend.reference.replicons.get()
    seqhash = record.sequence.seqhash
    body = get(client, f"alignments/get_alignment_data/{seqhash}/{replicon.pk}/")
    alignment = Alignment.objects.get(sequence=record.sequence)
    assert body == {
        "id": alignment.pk,
        "alignment_id": alignment.pk,
        "replicon_id": replicon.pk,
        "sequence_id": record.sequence_id,
        "sequence_name": "S1.1",
    }
    missing = client.get(f"/api/alignments/get_alignment_data/{'f' * 64}/{replicon.pk}/")
    assert missing.status_code == 404


def test_get_translation_table(client, frontend):
    table = get(client, "resources/get_translation_table/")
    assert len(table) == 16**3
    # the standard code, IUPAC ambiguity resolved where every expansion agrees
    expected = {"ATG": "M", "TGA": "*", "TAR": "*", "GCN": "A", "YTR": "L", "RAY": "B", "SAR": "Z"}
    assert {k: table[k] for k in expected} == expected
    assert (table["NNN"], table["ATN"], table["A-G"], table["---"]) == ("X", "X", "", "-")
    mito = get(client, "resources/get_translation_table/", {"translation_id": 2})
    assert mito["TGA"] == "W"  # vertebrate mitochondrial code


def test_add_and_delete_property_like_sonar_scripts(client, frontend, reader_token):
    curator = User.objects.create_user("curator")
    curator.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_property", "delete_property"])
    )
    auth = {"Authorization": f"Token {ApiToken.issue(curator, 'tests')[1]}"}

    def post(path: str, body: dict, headers: dict) -> Any:
        return client.post(f"/api/{path}", body, headers=headers)  # form-encoded, as the CLI

    fixed = post(
        "properties/add_property/", {"name": "collection_date", "datatype": "value_date"}, auth
    )
    assert (fixed.status_code, fixed.json()) == (
        200,
        {"detail": "Property 'collection_date' already exists"},
    )
    made = post("properties/add_property/", {"name": "ct_value", "datatype": "value_float"}, auth)
    assert made.status_code == 201 and Property.objects.filter(name="ct_value").exists()
    forbidden = post(
        "properties/delete_property/", {"name": "age"}, {"Authorization": f"Token {reader_token}"}
    )
    assert forbidden.status_code == 403
    gone = post("properties/delete_property/", {"name": "age"}, auth)
    assert (gone.status_code, gone.json()) == (
        200,
        {"detail": "Property 'age' deleted successfully"},
    )
    assert not Property.objects.filter(name="age").exists()
    stats = get(client, "statistics/statistics/", {"reference": REF})
    assert "age" not in stats["populated_metadata_fields"]
    again = post("properties/delete_property/", {"name": "age"}, auth)
    assert again.json() == {"detail": "No matching property 'age' found for deletion"}


def test_add_property_command_reports_fixed_columns(db, capsys):
    from django.core.management import call_command

    call_command("add_property", "lineage", "--type", "varchar")
    assert capsys.readouterr().out == "property lineage already exists (a fixed sample column)\n"
    assert not Property.objects.filter(name="lineage").exists()


def test_frameshift_mark_and_aa_effects_through_the_calling_engine(
    client, sars_cov_2_reference, tmp_path, settings
):
    """A genome with S:D614G (A23403G) and a one-base deletion in S, called and loaded by
    the real pipeline: the deletion is labelled with sonar's ``*fs`` and found with or
    without it; S:D614G carries the effect of its nucleotide parent."""
    from analyses.models import Replicon
    from tests.helpers.load import load_dataset

    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]
    reference = Replicon.objects.get(accession=REF).sequence
    # a base inside S, after codon 614, whose neighbours differ from it (one placement)
    gap = next(
        p for p in range(24_000, 25_000) if reference[p - 1] != reference[p] != reference[p + 1]
    )
    genome = reference[:23_402] + "G" + reference[23_403:gap] + reference[gap + 1 :]
    fasta = tmp_path / "fs.fasta"
    fasta.write_text(f">fs1\n{genome}\n")
    load_dataset(REF, fasta)
    deletion = f"del:{gap + 1}"
    profile = get(client, "samples/genomes/?name=fs1")["results"][0]
    assert f"{deletion}*fs" in profile["genomic_profiles"][REF]
    assert "frameshift_variant HIGH" in profile["genomic_profiles"][REF][f"{deletion}*fs"]
    assert profile["genomic_profiles"][REF]["A23403G"] == ["missense_variant MODERATE"]
    spike = profile["proteomic_profiles"][f"{REF}: S"]
    assert spike["S:D614G"] == ["missense_variant MODERATE"]
    for label in (deletion, f"{deletion}*fs"):
        filters = {"andFilter": [{"label": "DNA/AA Profile", "value": label}], "orFilter": []}
        body = get(client, f"statistics/filtered_statistics/?{frontend_query(filters)}")
        assert body == {"filtered_total_count": 1}, label
