"""POST /api/imports/ refuses, before anything is recorded, what would fail or leave the sandbox.

A bad input is a 400 whose message is the one the command line prints for the same input: each
case runs ``manage.py import_samples`` on it too (test_user_errors.run_command) and compares,
so the expected message is derived from the import itself, never written here. A path outside
``EMGSONAR_IMPORTS__ALLOWED_ROOTS`` (also through ``..`` or a symlink) or a URL outside
``EMGSONAR_IMPORTS__ALLOWED_URL_PREFIXES`` is a 403 naming the setting. A refused request leaves
no ImportRun and no flow run behind. Real files from shared/data, real Postgres, the session's
Prefect server, the download tests' local HTTP server (loopback).
"""

from __future__ import annotations

import lzma
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from ninja.testing import TestClient
from prefect import get_client

from emgsonar.api import api
from emgsonar.models import ApiToken, ImportRun
from tests.download.conftest import ena_records, server  # noqa: F401 (fixtures)
from tests.download.localserver import LocalServer
from tests.flows.test_imports_api import BODY, deploy_import_samples, sandbox, user_with
from tests.flows.test_user_errors import run_command
from workflows.sources import URL_HEAD_BYTES

pytestmark = [pytest.mark.prefect, pytest.mark.django_db(transaction=True)]

__all__ = ["sandbox"]  # the fixture, imported for this module's tests

SC2 = "sars-cov-2"


@pytest.fixture
def deployed() -> Iterator[None]:
    """The import_samples deployment, removed afterwards: test_imports_api expects none at first
    (the session's Prefect server is shared)."""
    deploy_import_samples()
    yield
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("import_samples/emgsonar")
        client.delete_deployment(deployment.id)


def flow_run_count() -> int:
    with get_client(sync_client=True) as client:
        return client.count_flow_runs()


def post(body: dict[str, Any]) -> Any:
    """POST ``body`` as a user who may start imports (made at the first call of a test)."""
    user = User.objects.filter(username="operator").first()
    key = ApiToken.issue(user, "test")[1] if user else user_with("add_importrun")[1]
    return TestClient(api).post("/imports/", json=body, headers={"Authorization": f"Bearer {key}"})


def refused(body: dict[str, Any], status: int) -> dict[str, Any]:
    """POST ``body``: the answer must be ``status`` and nothing may have been recorded."""
    runs_before, flow_runs_before = ImportRun.objects.count(), flow_run_count()
    answer = post(body)
    assert answer.status_code == status, answer.json()
    assert ImportRun.objects.count() == runs_before
    assert flow_run_count() == flow_runs_before
    assert set(answer.json()) == {"detail", "code"}
    return answer.json()


def cli_message(capfd, caplog, body: dict[str, Any]) -> str:
    """What ``manage.py import_samples`` says for the same parameters (its CommandError)."""
    argv = ["import_samples", "--reference", body["reference"]]
    for option in ("fasta", "metadata"):
        if body.get(option):
            argv += [f"--{option}", body[option]]
    if body.get("cols"):
        argv += ["--cols", *(f"{prop}={col}" for prop, col in body["cols"].items())]
    if body.get("auto_link"):
        argv.append("--auto-link")
    status, err = run_command(capfd, caplog, *argv)
    assert status == 2, err
    (line,) = [line for line in err.splitlines() if line.startswith("CommandError: ")]
    return line.removeprefix("CommandError: ")


@pytest.fixture
def files(sandbox: Path, shared_data: Path) -> dict[str, str]:
    """Bad inputs inside the sandbox: real shared data, and small files made in the inbox."""
    (sandbox / "binary.fasta").write_bytes(bytes(range(256)) * 8)
    (sandbox / "empty.fasta").write_bytes(b"")
    (sandbox / "bad.tsv").write_text("sample\tdate\ns1\t2024-02-01\n")
    return {
        "good": str(shared_data / SC2 / "SARS-CoV-2_12.fasta.xz"),
        "tsv": str(shared_data / SC2 / "SARS-CoV-2_6.tsv"),
        "metadata": str(shared_data / SC2 / "SARS-CoV-2_12.tsv.xz"),
        "missing": str(sandbox / "missing.fasta"),
        "binary": str(sandbox / "binary.fasta"),
        "empty": str(sandbox / "empty.fasta"),
        "bad_tsv": str(sandbox / "bad.tsv"),
    }


#: case → the request's parameters ({name} is a file of the ``files`` fixture), expected code
BAD_INPUT = {
    "unknown reference": ({"reference": "NOPE.1", "fasta": "{good}"}, "not_found"),
    "a TSV given as FASTA": ({"fasta": "{tsv}"}, "invalid_input"),
    "a path that does not exist": ({"fasta": "{missing}"}, "not_found"),
    "a binary file": ({"fasta": "{binary}"}, "invalid_input"),
    "an empty file": ({"fasta": "{empty}"}, "invalid_input"),
    "metadata without the mapped column": (
        {"metadata": "{bad_tsv}", "cols": {"name": "name"}},
        "invalid_input",
    ),
    "binary metadata": ({"metadata": "{binary}", "cols": {"name": "name"}}, "invalid_input"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_a_400_with_the_command_lines_message(
    case: str, files: dict[str, str], sars_cov_2_reference: str, capfd, caplog
) -> None:
    given, code = BAD_INPUT[case]
    body = {"reference": "MN908947.3"} | {
        key: value.format(**files) if isinstance(value, str) else value
        for key, value in given.items()
    }
    answer = refused(body, 400)
    assert answer["code"] == code
    assert answer["detail"] == cli_message(capfd, caplog, body)


def test_a_path_outside_the_roots_is_a_403_naming_the_setting(
    sandbox: Path, sars_cov_2_reference: str, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    secret = outside / "genomes.fasta"
    secret.write_text(">s1\nACGT\n")
    escape = sandbox / "link.fasta"
    escape.symlink_to(secret)
    climbing = f"{sandbox}/../elsewhere/genomes.fasta"
    assert Path(climbing).resolve() == secret.resolve()  # the path does name that file

    for source in (str(secret), f"file://{secret}", str(escape), climbing, "/etc/passwd"):
        answer = refused({**BODY, "fasta": source}, 403)
        assert answer["code"] == "permission_denied"
        assert answer["detail"].startswith(f"{source}: imports over HTTP may read only files")
        assert "EMGSONAR_IMPORTS__ALLOWED_ROOTS" in answer["detail"]
        assert str(sandbox.resolve()) in answer["detail"]
    # metadata is sandboxed as well, and a missing file outside the roots is a 403 (a 400
    # would tell whether it exists)
    assert "ALLOWED_ROOTS" in refused({**BODY, "metadata": str(secret)}, 403)["detail"]
    assert refused({**BODY, "fasta": str(outside / "nothing.fasta")}, 403)
    # a relative path: the worker that reads it need not run where the API runs
    relative = os.path.relpath(BODY["fasta"])
    assert "relative path" in refused({**BODY, "fasta": relative}, 400)["detail"]
    # what cannot be resolved or parsed is refused, not a 500
    assert refused({**BODY, "fasta": f"{sandbox}/a\x00b.fasta"}, 403)
    assert "neither a path nor a URL" in refused({**BODY, "fasta": "http://[::1/x"}, 400)["detail"]


def test_a_symlink_or_dotdot_that_stays_inside_the_roots_is_accepted(
    sandbox: Path, sars_cov_2_reference: str, shared_data: Path, deployed: None
) -> None:
    link = sandbox / "batch.fasta.xz"
    link.symlink_to(shared_data / SC2 / "SARS-CoV-2_12.fasta.xz")
    for source in (str(link), f"{sandbox}/sub/../batch.fasta.xz"):
        (sandbox / "sub").mkdir(exist_ok=True)
        assert post({**BODY, "fasta": source}).status_code == 202


def test_a_good_request_is_still_a_202(
    sandbox: Path, sars_cov_2_reference: str, deployed: None
) -> None:
    body = {**BODY, "metadata": BODY["fasta"].replace(".fasta.", ".tsv.")}
    answer = post(body)
    assert answer.status_code == 202, answer.json()
    run = ImportRun.objects.get(pk=answer.json()["id"])
    assert run.state == "pending" and run.parameters["metadata"] == body["metadata"]


def test_urls_only_under_the_allowed_prefixes(
    settings,
    sandbox: Path,
    sars_cov_2_reference: str,
    server: LocalServer,  # noqa: F811
    shared_data: Path,
    deployed: None,
    capfd,
    caplog,
) -> None:
    tsv = (shared_data / SC2 / "SARS-CoV-2_6.tsv").read_bytes()
    genomes = (shared_data / SC2 / "SARS-CoV-2_12.fasta.xz").read_bytes()
    server.state.files.update({"table.tsv": tsv, "genomes.fasta.xz": genomes})
    # longer than the 64 KiB the pre-flight reads
    big = {
        "genomes.fasta": lzma.decompress(genomes),
        "big_table.tsv": lzma.decompress(
            (shared_data / SC2 / "SARS-CoV-2_1000.tsv.xz").read_bytes()
        ),
        "both.zip": (shared_data / SC2 / "180.sars-cov-2.zip").read_bytes(),
    }
    assert all(len(content) > URL_HEAD_BYTES for content in big.values())
    server.state.files.update(big)
    url = server.file_url("files", "genomes.fasta.xz")

    # no prefix configured (the default): every URL is refused, naming the setting
    answer = refused({**BODY, "fasta": url}, 403)
    assert answer["detail"].startswith(f"{url}: imports over HTTP may read only URLs")
    assert "EMGSONAR_IMPORTS__ALLOWED_URL_PREFIXES (none configured)" in answer["detail"]

    cfg = settings.EMGSONAR_CONFIG
    settings.EMGSONAR_CONFIG = cfg.model_copy(
        update={
            "imports": cfg.imports.model_copy(
                update={"allowed_url_prefixes": [f"{server.url}/files", f"{server.url}/fail/"]}
            )
        }
    )
    outside = [
        f"{server.url}/drop-once/genomes.fasta.xz",  # same host, other path
        f"{server.url}/filesystem/genomes.fasta.xz",  # the prefix ends at a '/'
        f"{server.url}/files/../drop-once/genomes.fasta.xz",
        f"{server.url}/files/%2e%2e/drop-once/genomes.fasta.xz",
        url.replace("127.0.0.1", "localhost"),  # other host name
        url.replace("http://", "http://127.0.0.1@"),  # a user part makes another authority
    ]
    requests_before = len(server.state.requests)
    for source in outside:
        assert "ALLOWED_URL_PREFIXES" in refused({**BODY, "fasta": source}, 403)["detail"]
    assert len(server.state.requests) == requests_before  # refused without asking the server

    # inside the prefix: the first bytes are checked with the import's code and message, which
    # names the file the download step writes
    for name in ("table.tsv", "missing.fasta"):
        body = {**BODY, "fasta": server.file_url("files", name)}
        answer = refused(body, 400)
        assert answer["detail"] == cli_message(capfd, caplog, body)
    ImportRun.objects.all().delete()  # the command-line runs above
    # a TSV longer than the read: its first line is judged all the same
    big_tsv = server.file_url("files", "big_table.tsv")
    assert "not a FASTA file" in refused({**BODY, "fasta": big_tsv}, 400)["detail"]

    assert post({**BODY, "fasta": url}).status_code == 202
    # plain FASTA cut by the read (whole lines are judged), an archive cut by it (not judged),
    # a server that answers 503 now (the import's download retries it): accepted
    for source in (
        server.file_url("files", "genomes.fasta"),
        server.file_url("files", "both.zip"),
        server.file_url("fail/files", "genomes.fasta.xz"),
    ):
        assert post({**BODY, "fasta": source}).status_code == 202, source
    assert post({**BODY, "fasta": "ena:PP974170"}).status_code == 202  # only ENA's own URL


def test_an_ena_source_is_checked_for_its_accessions(
    sandbox: Path, sars_cov_2_reference: str, capfd, caplog
) -> None:
    body = {**BODY, "fasta": "ena:NC_045512.2"}  # RefSeq is not in ENA
    answer = refused(body, 400)
    assert answer["detail"] == cli_message(capfd, caplog, body)
