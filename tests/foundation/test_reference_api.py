"""``references/``, ``replicons/``, ``genes/``: shapes, both pagination styles, query counts."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from analyses.services.references import import_reference

pytestmark = pytest.mark.django_db

H1N1 = "influenza/influenza-A/H1N1PDM_California/*.gb"


@pytest.fixture
def references(shared_data: Path) -> dict[str, int]:
    """Five references (12 replicons), enough rows for pagination and query counts."""
    ids = {}
    for files in (
        [shared_data / "sars-cov-2/MN908947.nextclade.gb"],
        sorted(shared_data.glob(H1N1)),
        [shared_data / "zika/NC_035889.gb"],
        [shared_data / "yellow-fever-virus/AY640589.1.gb"],
        [shared_data / "hiv/NC_001802.1.gb"],
    ):
        result = import_reference(files)
        ids[result.accession] = result.reference_id
    return ids


def test_references_list_and_detail(client: Client, references, django_assert_num_queries):
    with django_assert_num_queries(3):  # count, page, replicons prefetch
        body = client.get("/api/references/").json()
    assert body["count"] == 5 and body["next"] is None and body["previous"] is None
    first = body["results"][0]
    assert set(first) == {"id", "accession", "description", "organism", "replicons", "created"}
    assert first["accession"] == "MN908947.3"
    assert first["replicons"] == ["MN908947.3"]
    flu = next(r for r in body["results"] if r["accession"] == "NC_026438.1")
    assert len(flu["replicons"]) == 8
    detail = client.get(f"/api/references/{references['NC_026438.1']}/").json()
    assert detail == flu
    missing = client.get("/api/references/999999/")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "unknown reference (got 999999).", "code": "not_found"}


def test_both_pagination_styles(client: Client, references):
    by_limit = client.get("/api/references/?limit=2&offset=2").json()
    assert by_limit["count"] == 5
    assert [r["accession"] for r in by_limit["results"]] == ["NC_035889.1", "AY640589.1"]
    assert by_limit["next"].endswith("/api/references/?limit=2&offset=4")
    assert by_limit["previous"].endswith("/api/references/?limit=2&offset=0")
    by_page = client.get("/api/references/?page=2&page_size=2").json()
    assert by_page["results"] == by_limit["results"]
    assert by_page["next"].endswith("page=3&page_size=2")
    assert by_page["previous"].endswith("page=1&page_size=2")
    assert client.get("/api/references/?limit=-1").status_code == 422


def test_replicons_filtered_by_reference(client: Client, references, django_assert_num_queries):
    with django_assert_num_queries(3):  # reference lookup, count, page
        body = client.get('/api/replicons/?reference="NC_026438.1"').json()
    assert body["count"] == 8
    assert [r["position"] for r in body["results"]] == list(range(8))
    assert "sequence" not in body["results"][0]
    assert body["results"][3]["accession"] == "CY121680.1"
    detail = client.get(f"/api/replicons/{body['results'][0]['id']}/").json()
    assert detail["length"] == len(detail["sequence"]) == 2280
    unknown = client.get("/api/replicons/?reference_accession=XX000000.1")
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "unknown reference (got 'XX000000.1')."


def test_genes_with_cds_and_segments(client: Client, references, django_assert_num_queries):
    with django_assert_num_queries(5):  # reference, count, page, cds, segments
        body = client.get("/api/genes/?reference=MN908947.3&limit=100").json()
    assert body["count"] == 12
    spike = next(g for g in body["results"] if g["symbol"] == "S")
    assert (spike["start"], spike["end"], spike["strand"]) == (21563, 25384, 1)
    (cds,) = spike["cds"]
    assert cds["segments"] == [{"order": 0, "start": 21563, "end": 25384, "strand": 1}]
    assert cds["translation"].startswith("MFVFLVLLPLVSSQCVNLT")
    assert spike["replicon"] == spike["reference"] == "MN908947.3"
    m2 = client.get("/api/genes/?reference=NC_026438.1&symbol=M2").json()["results"]
    assert m2 == [] or len(m2[0]["cds"][0]["segments"]) == 2
    detail = client.get(f"/api/genes/{spike['id']}/").json()
    assert detail == spike
    assert client.get("/api/genes/0/").status_code == 404


def test_pagination_out_of_range_is_a_client_error(client: Client, references) -> None:
    """Found by schemathesis: a huge offset or page overflowed Postgres' bigint (a 500)."""
    for query in ("offset=36893488147419103232", "page=832891797049629168631808&limit=15"):
        response = client.get(f"/api/references/?{query}")
        assert response.status_code == 422, query
        assert "detail" in response.json()
    assert client.get("/api/references/?offset=1000000000").json()["results"] == []


def test_unmatched_api_paths_answer_json_404(client: Client, db) -> None:
    """Found by schemathesis: a non-numeric id gave Django's HTML 404 page."""
    response = client.get("/api/genes/null,null/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found: /api/genes/null,null/.", "code": "not_found"}
    assert client.get("/not-the-api/").status_code == 404
