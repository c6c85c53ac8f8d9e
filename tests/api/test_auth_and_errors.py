"""Writes need a token or session with the Django permission; client mistakes are 4xx with a
message naming the problem, never a 500."""

import json
from io import StringIO

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from emgsonar.models import ApiToken
from ena_like.models import Property, Sample

pytestmark = pytest.mark.django_db

REF = "MN908947.3"
DELETE = "/api/samples/delete_sample_data/"


def post(client: Client, url: str, body: dict, token: str | None = None, scheme: str = "Bearer"):
    headers = {"Authorization": f"{scheme} {token}"} if token else {}
    return client.post(url, json.dumps(body), content_type="application/json", headers=headers)


def test_delete_samples_needs_a_user_with_permission(client, synthetic, writer_token, reader_token):
    body = {"reference_accession": REF, "sample_list": ["S1", "S2", "nope"]}
    anonymous = post(client, DELETE, body)
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "not_authenticated"
    assert post(client, DELETE, body, "wrong-key").status_code == 401
    denied = post(client, DELETE, body, reader_token)
    assert denied.status_code == 403
    assert denied.json() == {
        "detail": "user 'reader' lacks the permission ena_like.delete_sample. An administrator "
        "can grant it in the admin (Users → permissions).",
        "code": "permission_denied",
    }
    assert Sample.objects.count() == 6
    ok = post(client, DELETE, body, writer_token)
    assert ok.status_code == 200
    assert ok.json() == {"status": "success", "deleted_count": 2, "deleted_samples_count": 2}
    assert set(Sample.objects.values_list("name", flat=True)) == {"S3", "S4", "S5", "S6"}
    # sonar's clients send sample_list as a JSON string, in a form body, with "Token"
    form = client.post(
        DELETE,
        {"reference_accession": REF, "sample_list": json.dumps(["S3"])},
        headers={"Authorization": f"Token {writer_token}"},
    )
    assert form.json() == {"status": "success", "deleted_count": 1, "deleted_samples_count": 1}
    assert ApiToken.objects.get(prefix=writer_token[:8]).last_used is not None


def test_delete_sequences_and_session_auth(client, synthetic):
    user = User.objects.create_user("admin-like", password="x")
    user.user_permissions.add(Permission.objects.get(codename="delete_samplesequence"))
    body = {"reference": REF, "sequence_list": ["S4.1", "S5.1"]}
    assert post(client, "/api/samples/delete_sequence_data/", body).status_code == 401
    client.force_login(user)
    response = post(client, "/api/samples/delete_sequence_data/", body)
    assert response.json() == {
        "status": "success",
        "deleted_count": 2,
        "deleted_sequences_count": 2,
        "deleted_samples_count": 2,
    }
    bad = post(client, "/api/samples/delete_sequence_data/", {"sequence_list": "x", "extra": 1})
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
    assert "extra" in bad.json()["detail"]


def test_add_property(client, db, writer_token, reader_token):
    body = {"name": "pangolin_version", "datatype": "value_varchar", "description": "x"}
    assert post(client, "/api/properties/add_property/", body).status_code == 401
    assert post(client, "/api/properties/add_property/", body, reader_token).status_code == 403
    created = post(client, "/api/properties/add_property/", body, writer_token)
    assert created.status_code == 201
    assert created.json() == {"detail": "Property 'pangolin_version' added successfully"}
    again = post(client, "/api/properties/add_property/", body, writer_token)
    assert again.status_code == 200
    assert Property.objects.get(name="pangolin_version").datatype == "varchar"
    # sonar's setup scripts declare the fixed columns too: they exist, nothing is written
    fixed = post(
        client,
        "/api/properties/add_property/",
        {"name": "lineage", "datatype": "value_varchar"},
        writer_token,
    )
    assert (fixed.status_code, fixed.json()) == (
        200,
        {"detail": "Property 'lineage' already exists"},
    )
    assert not Property.objects.filter(name="lineage").exists()
    reserved = post(
        client,
        "/api/properties/add_property/",
        {"name": "genomic_profiles", "datatype": "text"},
        writer_token,
    )
    assert reserved.status_code == 409 and "fixed sample column" in reserved.json()["detail"]
    bad_type = post(
        client, "/api/properties/add_property/", {"name": "x", "datatype": "blobby"}, writer_token
    )
    assert bad_type.status_code == 400 and "unknown property type" in bad_type.json()["detail"]


def test_reads_are_public_unless_configured(client, synthetic, reader_token, settings):
    assert client.get("/api/samples/statistics/").status_code == 200
    private = settings.EMGSONAR_CONFIG.model_copy(deep=True)
    private.api.public_reads = False
    with override_settings(EMGSONAR_CONFIG=private):
        assert client.get("/api/samples/statistics/").status_code == 401
        assert client.get("/api/references/").status_code == 401
        authorised = client.get(
            "/api/samples/statistics/", headers={"Authorization": f"Bearer {reader_token}"}
        )
        assert authorised.status_code == 200


def test_create_api_token_command(db):
    User.objects.create_user("alice")
    out, err = StringIO(), StringIO()
    call_command("create_api_token", "alice", "--name", "cli", stdout=out, stderr=err)
    key = out.getvalue().strip()
    token = ApiToken.objects.get()
    assert token.key_hash == ApiToken.hash_key(key) and token.name == "cli"
    assert "Bearer" in err.getvalue()
    with pytest.raises(CommandError) as unknown:
        call_command("create_api_token", "bob")
    assert str(unknown.value) == (
        "unknown user 'bob'; create it with './taskw manage -- create_user bob --token'"
    )
    assert ApiToken.objects.count() == 1


def _error(client: Client, filters, reference: str | None = REF, url="/api/samples/genomes/"):
    params = {"filters": filters if isinstance(filters, str) else json.dumps(filters)}
    if reference:
        params["reference"] = reference
    response = client.get(url, params)
    assert 400 <= response.status_code < 500, response.content
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("filters", "reference", "status", "code", "message"),
    [
        (
            "{not json",
            REF,
            400,
            "invalid_filter",
            "'filters' is not valid JSON (Expecting property name",
        ),
        ([1, 2], REF, 400, "invalid_filter", "filters: a filter must be a JSON object"),
        (
            {"andFilter": {"label": "x"}},
            REF,
            400,
            "invalid_filter",
            "filters.andFilter must be a list",
        ),
        (
            {"andFilter": [{"label": "Colour"}]},
            REF,
            400,
            "unknown_label",
            "filters.andFilter[0]: unknown filter label (got 'Colour'). Use one of DNA/AA Profile",
        ),
        (
            {"andFilter": [{"label": "Property", "property_name": "shoe_size", "value": 1}]},
            REF,
            400,
            "unknown_property",
            "unknown property 'shoe_size'",
        ),
        (
            {
                "andFilter": [
                    {
                        "label": "Property",
                        "property_name": "age",
                        "filter_type": "gt",
                        "value": "old",
                    }
                ]
            },
            REF,
            400,
            "invalid_filter",
            "property 'age' holds integer values; 'old' is not an integer.",
        ),
        (
            # ``length`` is int4: a bound it cannot hold is an error, not an empty result
            {
                "andFilter": [
                    {
                        "label": "Property",
                        "property_name": "length",
                        "filter_type": "gt",
                        "value": 2**31,
                    }
                ]
            },
            REF,
            400,
            "invalid_filter",
            "property 'length' holds integer values; 2147483648 is out of range "
            "(-2147483648 to 2147483647).",
        ),
        (
            {
                "andFilter": [
                    {
                        "label": "Property",
                        "property_name": "collection_date",
                        "filter_type": "range",
                        "value": "2022-01-01",
                    }
                ]
            },
            REF,
            400,
            "invalid_filter",
            "'range' needs two bounds",
        ),
        (
            {
                "andFilter": [
                    {"label": "Property", "property_name": "age", "filter_type": "like", "value": 1}
                ]
            },
            REF,
            400,
            "invalid_filter",
            "filter_type",
        ),
        (
            {
                "andFilter": [
                    {
                        "label": "Property",
                        "property_name": "comments",
                        "filter_type": "regex",
                        "value": "(unclosed",
                    }
                ]
            },
            REF,
            400,
            "invalid_filter",
            "invalid regular expression",
        ),
        (
            {"andFilter": [{"label": "Lineages", "lineageList": ["BA.1", "ZZ.9"]}]},
            REF,
            400,
            "unknown_lineage",
            "unknown lineage 'ZZ.9' for reference MN908947.3",
        ),
        (
            {"andFilter": [{"label": "SNP Nt", "value": "A23403"}]},
            REF,
            400,
            "bad_mutation",
            "bad mutation string 'A23403'",
        ),
        (
            {"andFilter": [{"label": "SNP AA", "value": "Spike:D614G"}]},
            REF,
            400,
            "bad_mutation",
            "'Spike' is neither a replicon nor a gene of reference MN908947.3",
        ),
        (
            {"andFilter": [{"label": "Del Nt", "value": "S:D614G"}]},
            REF,
            400,
            "bad_mutation",
            "'S:D614G' is not a mutation of the kind 'Del Nt'",
        ),
        (
            {"andFilter": [{"label": "DNA/AA Profile", "value": "A23403G, del:5-2"}]},
            REF,
            400,
            "bad_mutation",
            "bad mutation string 'del:5-2'",
        ),
        (
            {"andFilter": [{"label": "SNP Nt"}]},
            REF,
            400,
            "invalid_filter",
            "'SNP Nt' needs 'value'",
        ),
        (
            {"andFilter": [{"label": "Replicon", "accession": "XX1"}]},
            REF,
            400,
            "invalid_filter",
            "unknown replicon 'XX1'",
        ),
        (
            {"andFilter": [{"label": "SNP Nt", "value": "A23403G"}]},
            None,
            400,
            "invalid_filter",
            "'filters' needs a reference",
        ),
        ({}, "NOPE.1", 404, "not_found", "unknown reference 'NOPE.1'"),
    ],
)
def test_client_errors_name_the_problem(
    client, synthetic, filters, reference, status, code, message
):
    for url in (
        "/api/samples/genomes/",
        "/api/samples/filtered_statistics/",
        "/api/plots/plot_samples_per_week/",
    ):
        got_status, body = _error(client, filters, reference, url)
        assert (got_status, body["code"]) == (status, code)
        assert message in body["detail"], body["detail"]


def test_bad_parameters_are_422(client, synthetic):
    response = client.get("/api/samples/genomes/", {"reference": REF, "limit": "many"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error" and "limit" in body["detail"]
    assert body["errors"][0]["loc"] == ["query", "limit"]
    bad_column = client.get(
        "/api/samples/genomes/", {"reference": REF, "csv_stream": "true", "columns": "name,shoe"}
    )
    assert (
        bad_column.status_code == 400 and "unknown CSV column 'shoe'" in bad_column.json()["detail"]
    )
    missing = client.get("/api/samples/plot_custom_xy/", {"reference": REF, "x_property": "lab"})
    assert missing.status_code == 422 and "y_property" in missing.json()["detail"]


def test_values_postgres_cannot_hold_are_400_not_500(client, synthetic, writer_token):
    """Found by schemathesis: NUL bytes in names reached Postgres and became a 500."""
    bulk = post(client, "/api/samples/get_bulk_sequence_data/", {"sequence_data": ["a\x00b"]})
    assert bulk.status_code == 400
    assert bulk.json()["code"] == "invalid_value"
    assert "NUL" in bulk.json()["detail"]
    before = Sample.objects.count()
    delete = post(
        client,
        "/api/samples/delete_sample_data/",
        {"reference_accession": REF, "sample_list": ["x\x00"]},
        writer_token,
    )
    assert delete.status_code == 400
    assert Sample.objects.count() == before
    named = client.get("/api/samples/", {"name": "a\x00"})
    assert named.status_code == 400
