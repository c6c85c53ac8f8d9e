"""EnaClient and ena: sources against a local server shaped like ENA's Browser and Portal APIs."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyses.calling.compression import open_text
from emgsonar.errors import InputFormatError
from ena_like.download import fetch
from ena_like.ena_client import (
    EnaClient,
    MissingAccessionsError,
    parse_ena_source,
    validate_accessions,
)
from ena_like.http import DownloadError
from tests.download.localserver import ENA_BROWSER, LocalServer, Record

FAST = {"backoff": (0,), "timeout": 5}


def client(server: LocalServer, **kwargs: object) -> EnaClient:
    return EnaClient(server.ena_base, portal_url=server.portal_base, **{**FAST, **kwargs})


def test_fetch_fasta_in_batches_writes_ena_records(
    server: LocalServer, ena_records: list[Record], tmp_path: Path
) -> None:
    wanted = ena_records[:5]
    accessions = [wanted[0].accession + ".1", *(r.accession for r in wanted[1:])]
    dest = tmp_path / "out" / "rsv.fasta"

    path = client(server, batch_size=2).fetch_fasta(accessions, dest)

    assert path == dest
    assert dest.read_bytes() == b"".join(r.fasta for r in wanted)
    with open_text(dest) as handle:
        first = handle.readline()
    assert first == (
        ">ENA|PP974170|PP974170.1 Human respiratory syncytial virus B isolate 2016-R-6178, "
        "complete genome.\n"
    )
    assert server.state.paths() == [
        f"{ENA_BROWSER}/fasta/PP974170.1,PP974171",
        f"{ENA_BROWSER}/fasta/PP974172,PP974173",
        f"{ENA_BROWSER}/fasta/PP974174",
    ]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["rsv.fasta"]


def test_unknown_accessions_are_listed_never_dropped(
    server: LocalServer, ena_records: list[Record], tmp_path: Path
) -> None:
    known = [r.accession for r in ena_records[:3]]
    # OZ999999: unknown; PP974171.7: known accession, unknown version; MN908947 alone → 404
    accessions = [known[0], "OZ999999", known[1], "PP974171.7", known[2], "MN908947"]
    dest = tmp_path / "rsv.fasta"

    with pytest.raises(MissingAccessionsError) as info:
        client(server, batch_size=5).fetch_fasta(accessions, dest)

    assert str(info.value) == (
        f"{server.ena_base}: 3 of 6 accessions not found: OZ999999, PP974171.7, MN908947. "
        "Check the accessions; ENA may not have made them public yet."
    )
    assert info.value.missing == ("OZ999999", "PP974171.7", "MN908947")
    assert info.value.code == "accessions_not_found"
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind

    # with on_missing="warn" the found records are kept
    path = client(server, batch_size=5).fetch_fasta(accessions, dest, on_missing="warn")
    assert path.read_bytes() == b"".join(r.fasta for r in ena_records[:3])


def test_batch_rejected_with_400_is_split_to_find_the_unknown(
    server: LocalServer, ena_records: list[Record], tmp_path: Path
) -> None:
    server.state.ena_strict_batches = True
    accessions = [r.accession for r in ena_records[:3]] + ["OZ999999"]

    with pytest.raises(MissingAccessionsError) as info:
        client(server).fetch_fasta(accessions, tmp_path / "x.fasta")

    assert info.value.missing == ("OZ999999",)
    assert server.state.paths() == [
        f"{ENA_BROWSER}/fasta/PP974170,PP974171,PP974172,OZ999999",
        f"{ENA_BROWSER}/fasta/PP974170,PP974171",
        f"{ENA_BROWSER}/fasta/PP974172,OZ999999",
        f"{ENA_BROWSER}/fasta/PP974172",
        f"{ENA_BROWSER}/fasta/OZ999999",
    ]


def test_accessions_are_validated_before_any_request(server: LocalServer, tmp_path: Path) -> None:
    with pytest.raises(InputFormatError) as info:
        client(server).fetch_fasta(["PP974170", "NC_045512.2", "hello world"], tmp_path / "x")
    assert str(info.value) == (
        "not an INSDC sequence accession: 'NC_045512.2', 'hello world'. "
        "RefSeq accessions (NC_...) are not in ENA; use the INSDC one (e.g. MN908947.3)."
    )
    assert server.state.requests == []

    assert validate_accessions([" mn908947.3", "MN908947.3", "OY123456", "CAAAAA010000001"]) == [
        "MN908947.3",
        "OY123456",
        "CAAAAA010000001",
    ]
    assert parse_ena_source("ena://PP974170, pp974171.1") == ["PP974170", "PP974171.1"]
    with pytest.raises(InputFormatError) as info:
        parse_ena_source("ena:")
    assert str(info.value) == "not an INSDC sequence accession: ''. " + (
        "Use accessions like MN908947 or MN908947.3, separated by commas."
    )


def test_fetch_dispatches_ena_sources(
    server: LocalServer, ena_records: list[Record], tmp_path: Path
) -> None:
    source = "ena:PP974172,PP974170.1"

    fetched = fetch(source, tmp_path, ena_base_url=server.ena_base, **FAST)

    assert fetched.source == source
    assert fetched.path.parent == tmp_path
    assert fetched.path.name.startswith("ena-") and fetched.path.suffix == ".fasta"
    assert fetched.path.read_bytes() == ena_records[2].fasta + ena_records[0].fasta
    # deterministic: the same source lands in the same file
    assert fetch(source, tmp_path, ena_base_url=server.ena_base, **FAST).path == fetched.path

    with pytest.raises(DownloadError) as info:
        fetch(source, tmp_path)
    assert str(info.value) == (
        "ena:PP974172,PP974170.1: an ENA source needs the ENA Browser API base URL. "
        "Pass ena_base_url (config: EMGSONAR_ENA__BROWSER_API_URL)."
    )


def test_ena_5xx_is_retried_and_then_reported(
    server: LocalServer, ena_records: list[Record], tmp_path: Path
) -> None:
    dest = tmp_path / "rsv.fasta"
    flaky = EnaClient(f"{server.url}/fail{ENA_BROWSER}", retries=1, **FAST)

    assert flaky.fetch_fasta(["PP974170"], dest).read_bytes() == ena_records[0].fasta
    assert server.state.paths() == [f"/fail{ENA_BROWSER}/fasta/PP974170"] * 2

    server.state.failures_before_success = 5
    with pytest.raises(DownloadError) as info:
        flaky.fetch_fasta(["PP974171"], dest)
    assert str(info.value) == (
        f"{server.url}/fail{ENA_BROWSER}/fasta/PP974171: GET failed after 2 attempts, last: "
        "HTTP 503 Service Unavailable. Check that the server is reachable, or retry later."
    )
    assert dest.read_bytes() == ena_records[0].fasta  # the earlier result is untouched


def test_metadata_and_search_via_portal_api(server: LocalServer, tmp_path: Path) -> None:
    server.state.metadata = {
        "PP974170": {"accession": "PP974170", "country": "Germany", "collection_date": "2016"},
        "PP974171": {"accession": "PP974171", "country": "Germany", "collection_date": ""},
    }
    ena = client(server)

    rows = ena.fetch_metadata(["PP974170.1", "PP974171"], fields=["country", "collection_date"])

    assert rows == [
        {"accession": "PP974170", "country": "Germany", "collection_date": "2016"},
        {"accession": "PP974171", "country": "Germany", "collection_date": ""},
    ]
    (request,) = server.state.requests
    assert request.path.startswith("/ena/portal/api/search?result=sequence&query=accession")

    with pytest.raises(MissingAccessionsError) as info:
        ena.fetch_metadata(["PP974170", "OZ999999"], fields=["country"])
    assert info.value.missing == ("OZ999999",)

    with pytest.raises(DownloadError) as info:
        ena.search('country="Germany"', fields=["accession", "colour"])
    assert str(info.value).startswith(
        f"{server.portal_base}/search?result=sequence&query=country%3D%22Germany%22"
    )
    assert str(info.value).endswith(
        ": GET failed with HTTP 400 Bad Request: Invalid field(s) provided: colour. "
        "The request was rejected; check the URL."
    )
    assert ena.search('accession="OZ999999"', fields=["accession"]) == []
