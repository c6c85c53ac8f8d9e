"""Shared fixtures of the calling tests: references and callers built once per session.

No Django, no database: these tests exercise the framework-free core only.
"""

from __future__ import annotations

import pytest

from analyses.calling.engine import Caller
from analyses.calling.reference import ReferenceSpec, read_genbank
from tests.conftest import SHARED_DATA

DATA = SHARED_DATA
SC2_NEXTCLADE = DATA / "sars-cov-2" / "MN908947.nextclade.gb"
SC2_NCBI = DATA / "sars-cov-2" / "MN908947.3.ncbi.gb"
MPOX = DATA / "mpox" / "clade-IIb-NC_063383.1.gb"
HIV = DATA / "hiv" / "NC_001802.1.gb"
H1N1 = sorted((DATA / "influenza" / "influenza-A" / "H1N1PDM_California").glob("*.gb"))
GENBANK_OPEN = DATA / "peers" / "sars-cov-2" / "genbank_open_1000" / "sequences.fasta.xz"


@pytest.fixture(scope="session")
def sc2_ref() -> ReferenceSpec:
    return read_genbank([SC2_NEXTCLADE])


@pytest.fixture(scope="session")
def sc2(sc2_ref: ReferenceSpec) -> Caller:
    return Caller(sc2_ref)


@pytest.fixture(scope="session")
def sc2_ncbi() -> Caller:
    return Caller(read_genbank([SC2_NCBI]))


@pytest.fixture(scope="session")
def mpox() -> Caller:
    return Caller(read_genbank([MPOX]))


@pytest.fixture(scope="session")
def hiv() -> Caller:
    return Caller(read_genbank([HIV]))


@pytest.fixture(scope="session")
def flu() -> Caller:
    return Caller(read_genbank(H1N1))
