"""Fixtures of the download tests: a local server playing file host and ENA (see localserver)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.download.localserver import LocalServer, Record, ServerState, rsv_records, serving


@pytest.fixture(scope="session")
def ena_records(shared_data: Path) -> list[Record]:
    return rsv_records(shared_data)


@pytest.fixture
def server(ena_records: list[Record]) -> Iterator[LocalServer]:
    """A fresh local server per test, holding the RSV records as its ENA content."""
    state = ServerState(records={r.accession: r for r in ena_records})
    with serving(state) as server:
        yield server


@pytest.fixture
def genome_bytes(ena_records: list[Record]) -> bytes:
    """Real FASTA bytes big enough (~150 kB) to be cut mid-body."""
    return b"".join(r.fasta for r in ena_records[:10])
