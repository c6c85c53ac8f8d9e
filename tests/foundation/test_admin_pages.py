"""The admin for people: every page opens, import runs are read-only records with readable JSON
and a dashboard link, and list pages neither count nor join a table of millions of rows."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from analyses.models import LineageAlias
from emgsonar.admin_tools import EstimatedCountPaginator
from emgsonar.models import ApiToken, ImportRun
from ena_like.admin import date_range
from ena_like.models import Sample, Study
from tests.api.synthetic import build
from workflows.models import ClusterJob

pytestmark = pytest.mark.django_db

SAMPLES_URL = reverse("admin:ena_like_sample_changelist")
FLOW_RUN = uuid.UUID("0b6c3f5e-1d2a-4c8e-9f00-123456789abc")


@pytest.fixture
def superuser_client(client: Client) -> Client:
    client.force_login(User.objects.create_superuser("root", password="pw"))
    return client


@pytest.fixture
def every_model_has_a_row(superuser_client: Client, shared_data: Path) -> ImportRun:
    """The synthetic data set plus one row of each model it does not fill."""
    synthetic = build(shared_data)
    LineageAlias.objects.create(reference=synthetic.reference, alias="BA", expansion="B.1.1.529")
    run = ImportRun.objects.create(
        kind=ImportRun.Kind.SAMPLES,
        state=ImportRun.State.COMPLETED,
        flow_run_id=FLOW_RUN,
        parameters={"reference": "MN908947.3", "cols": {"name": "<b>IMS_ID</b>"}},
        summary={"samples": 12, "failed_records": [{"id": "x", "problem": "<script>"}]},
        tool_versions={"emgsonar": "0.1.0"},
    )
    ClusterJob.objects.create(key="chunk-1", backend="local", import_run=run)
    ApiToken.issue(User.objects.get(username="root"), "test")
    Study.objects.create(accession="PRJEB1", title="a study")
    Group.objects.create(name="importers")
    return run


def _urls(model, name: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{name}", args=args)


def test_every_registered_model_has_working_pages(superuser_client, every_model_has_a_row):
    empty = [m.__name__ for m in admin.site._registry if not m._default_manager.exists()]
    assert empty == [], "give these models a row in the fixture"
    for model in admin.site._registry:
        changelist = superuser_client.get(_urls(model, "changelist"))
        assert changelist.status_code == 200, model
        change = superuser_client.get(_urls(model, "change", model._default_manager.first().pk))
        assert change.status_code == 200, model


def test_import_runs_are_read_only_records(superuser_client, every_model_has_a_row):
    run = every_model_has_a_row
    page = superuser_client.get(_urls(ImportRun, "change", run.pk))
    html = page.content.decode()
    # no form fields: neither the state dropdown nor raw JSON text areas
    assert '<select name="state"' not in html and "<textarea" not in html
    assert 'name="_save"' not in html
    # the JSON as lists of keys, escaped (the summary holds text from the input files)
    assert "<dt><strong>reference</strong></dt><dd>MN908947.3</dd>" in html
    assert "&lt;script&gt;" in html and '"<script>"' not in html
    assert "&lt;b&gt;IMS_ID&lt;/b&gt;" in html
    assert re.search(rf'href="[^"]+/runs/flow-run/{FLOW_RUN}"', html)
    # nobody edits or adds a run by hand, not even a superuser
    edit = superuser_client.post(_urls(ImportRun, "change", run.pk), {"state": "failed"})
    assert edit.status_code == 403
    run.refresh_from_db()
    assert run.state == ImportRun.State.COMPLETED
    assert superuser_client.get(_urls(ImportRun, "add")).status_code == 403
    # nor a token: the admin could not show its key (create_user --token does)
    assert superuser_client.get(_urls(ApiToken, "add")).status_code == 403
    listing = superuser_client.get(_urls(ImportRun, "changelist")).content.decode()
    assert f"/runs/flow-run/{FLOW_RUN}" in listing and "failed_records" not in listing
    # searched by flow run id; a term that is no UUID finds nothing instead of failing
    for term, found in ((str(FLOW_RUN), [run]), ("not-a-uuid", []), (str(run.pk), [run])):
        searched = superuser_client.get(_urls(ImportRun, "changelist"), {"q": term})
        assert list(searched.context["cl"].result_list) == found, term


@pytest.mark.parametrize(
    ("term", "names"),
    [
        ("S3", {"S3"}),  # an exact name
        ("BA.1", {"S1"}),  # an exact lineage, not its sublineage BA.1.1
        ("2022-01", {"S1", "S2", "S5", "S6"}),
        ("2022-01-05", {"S2"}),
        ("2021", {"S3"}),
        ("S", {"S1", "S2", "S3", "S4", "S5", "S6"}),  # the start of a name
        ("nobody", set()),
    ],
)
def test_samples_are_searched_by_name_lineage_and_date(superuser_client, shared_data, term, names):
    build(shared_data)
    page = superuser_client.get(SAMPLES_URL, {"q": term})
    assert {s.name for s in page.context["cl"].result_list} == names


def test_date_terms() -> None:
    assert date_range("2024-02") == (dt.date(2024, 2, 1), dt.date(2024, 3, 1))
    assert date_range("2022-12") == (dt.date(2022, 12, 1), dt.date(2023, 1, 1))
    assert date_range("2022-13") is None and date_range("BA.2") is None


def _sample_list_queries(client: Client) -> tuple[list[str], int]:
    with CaptureQueriesContext(connection) as captured:
        page = client.get(SAMPLES_URL)
    assert page.status_code == 200
    return [q["sql"] for q in captured.captured_queries], page.context["cl"].result_count


def test_the_sample_list_does_not_count_or_join_a_big_table(superuser_client, shared_data):
    synthetic = build(shared_data)
    small, small_count = _sample_list_queries(superuser_client)
    assert small_count == 6  # a small table is counted exactly
    extra = EstimatedCountPaginator.exact_below + 5_000
    Sample.objects.bulk_create(
        (Sample(name=f"bulk-{i}", reference=synthetic.reference) for i in range(extra)),
        batch_size=5_000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ena_like_sample")  # what autovacuum does after a big import
    try:
        large, large_count = _sample_list_queries(superuser_client)
    finally:
        # ANALYZE writes its statistics outside the transaction: leave them true for the
        # tests after this one, whose rollback removes the rows
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM ena_like_sample WHERE name LIKE 'bulk-%%'")
            cursor.execute("ANALYZE ena_like_sample")
    # the same queries, less the exact COUNT(*) a small table gets
    assert len(large) <= len(small), "the number of queries grows with the rows"
    counts = [sql for sql in large if re.search(r'COUNT\(\*\).*"ena_like_sample"', sql, re.S)]
    assert counts == []
    assert 0.5 < large_count / (extra + 6) < 2  # the planner's estimate, not an exact count
    joined = {t for sql in large for t in re.findall(r'JOIN "(\w+)"', sql)}
    assert joined <= {"analyses_reference"}  # a handful of rows
