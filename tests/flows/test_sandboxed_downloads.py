"""Imports started over HTTP stay in the URL sandbox through redirects, in the pre-flight of
``POST /api/imports/`` and in the run's own download.

Two real loopback servers: the *allowed* one (its ``/files/`` is the only allowed prefix) and
an *outside* one (another port, so another authority). A redirect from the allowed server to
the outside one is refused by the sandbox policy before the outside server is asked — with the
403 that names ``EMGSONAR_IMPORTS__ALLOWED_URL_PREFIXES`` — while an operator's import (the
command line, the dashboard) follows it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from emgsonar.errors import PermissionDeniedError
from emgsonar.models import ImportRun
from ena_like.models import Sample
from tests.download.conftest import ena_records, server  # noqa: F401 (fixtures)
from tests.download.localserver import LocalServer, ServerState, serving
from tests.flows.test_import_preflight import deployed, post, refused  # noqa: F401 (fixture)
from tests.flows.test_imports_api import BODY, sandbox  # noqa: F401 (fixture)
from workflows import services
from workflows.flows.import_samples import import_samples
from workflows.sources import PREFIXES_SETTING

pytestmark = [pytest.mark.prefect, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def outside() -> Iterator[LocalServer]:
    """A second server, outside every allowed prefix; it serves the same genomes."""
    with serving(ServerState()) as other:
        yield other


@pytest.fixture
def allowed(
    settings,
    sandbox: Path,  # noqa: F811
    server: LocalServer,  # noqa: F811
    outside: LocalServer,
    shared_data: Path,
) -> LocalServer:
    """The allowed server: ``/files/`` is the one allowed prefix; ``/files/moved.fasta.xz``
    redirects to the outside server, ``/files/renamed.fasta.xz`` to a file under the prefix."""
    genomes = (shared_data / "sars-cov-2" / "SARS-CoV-2_12.fasta.xz").read_bytes()
    server.state.files["genomes.fasta.xz"] = genomes
    outside.state.files["genomes.fasta.xz"] = genomes
    server.state.redirects = {
        "/files/moved.fasta.xz": outside.file_url("files", "genomes.fasta.xz"),
        "/files/renamed.fasta.xz": server.file_url("files", "genomes.fasta.xz"),
    }
    cfg = settings.EMGSONAR_CONFIG
    settings.EMGSONAR_CONFIG = cfg.model_copy(
        update={
            "imports": cfg.imports.model_copy(
                update={"allowed_url_prefixes": [f"{server.url}/files/"]}
            )
        }
    )
    return server


def test_the_preflight_refuses_a_redirect_out_of_the_prefixes_before_following_it(
    allowed: LocalServer,
    outside: LocalServer,
    sars_cov_2_reference: str,
    deployed: None,  # noqa: F811
) -> None:
    moved = allowed.file_url("files", "moved.fasta.xz")
    target = outside.file_url("files", "genomes.fasta.xz")

    answer = refused({**BODY, "fasta": moved}, 403)

    assert answer["code"] == PermissionDeniedError.code
    assert answer["detail"].startswith(
        f"{target}: imports over HTTP may read only URLs under {PREFIXES_SETTING} "
        f"({allowed.url}/files/)"
    )
    assert allowed.state.paths() == ["/files/moved.fasta.xz"]
    assert outside.state.requests == []  # the redirect was never followed
    # a redirect that stays under the prefix is followed
    renamed = allowed.file_url("files", "renamed.fasta.xz")
    assert post({**BODY, "fasta": renamed}).status_code == 202
    assert allowed.state.paths()[-2:] == ["/files/renamed.fasta.xz", "/files/genomes.fasta.xz"]


def test_a_sandboxed_runs_download_refuses_the_redirect_an_operators_run_follows(
    allowed: LocalServer, outside: LocalServer, sars_cov_2_reference: str, import_dirs: Path
) -> None:
    moved = allowed.file_url("files", "moved.fasta.xz")
    target = outside.file_url("files", "genomes.fasta.xz")
    params = {"reference": sars_cov_2_reference, "fasta": moved}
    # what POST /api/imports/ records before the worker runs the flow (the server may have
    # started redirecting after the pre-flight); here the flow runs in this process
    run = services.create_import_run("samples", params, sandboxed=True)

    with pytest.raises(PermissionDeniedError) as info:
        import_samples(**params, import_run_id=run.pk)

    assert str(info.value).startswith(f"{target}: imports over HTTP may read only URLs under")
    assert PREFIXES_SETTING in str(info.value)
    assert outside.state.requests == []
    run.refresh_from_db()
    assert run.state == "failed" and PREFIXES_SETTING in run.error
    assert not Sample.objects.exists()

    # the same source imported by an operator (not sandboxed): the redirect is followed
    import_samples(**params)
    operator = ImportRun.objects.filter(kind="samples", sandboxed=False).get()
    assert operator.state == "completed"
    assert outside.state.paths() == ["/files/genomes.fasta.xz"]
    assert Sample.objects.count() == operator.summary["counts"]["records_read"] == 12
