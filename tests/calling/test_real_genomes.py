"""Real genomes: every sequence is called, and reference + calls give the input back.

Outside N runs and unsequenced ends, the query rebuilt from the reference and the calls must
equal the input: nothing missed, nothing invented.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from analyses.calling.engine import Caller
from analyses.calling.seqio import read_fasta
from tests.calling.conftest import DATA, GENBANK_OPEN
from tests.calling.helpers import observed, rebuild

FILES = [GENBANK_OPEN, *sorted((DATA / "sars-cov-2").glob("SARS-CoV-2_*.fasta.*"))]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_sequence_is_called_and_rebuilds(sc2: Caller, path: Path) -> None:
    reference = sc2.spec.replicons[0].sequence
    records = list(read_fasta(path))
    assert records
    for rec in records:
        result = sc2(rec)
        assert result.errors == (), rec.id
        assert result.replicon == "MN908947.3"
        assert rebuild(result, reference) == observed(result, rec.sequence), rec.id


def test_ncbi_annotation_calls_the_same_nucleotides(sc2: Caller, sc2_ncbi: Caller) -> None:
    records = list(read_fasta(DATA / "sars-cov-2" / "SARS-CoV-2_12.fasta.xz"))
    for rec in records:
        a, b = sc2(rec), sc2_ncbi(rec)
        assert b.errors == ()
        # the same calls, base for base (only their effects name each annotation's own CDS)
        assert [(m.start, m.end, m.ref, m.alt, m.kind) for m in a.nt_mutations] == [
            (m.start, m.end, m.ref, m.alt, m.kind) for m in b.nt_mutations
        ], rec.id
        assert a.covered == b.covered, rec.id
        assert any(m.cds == "orf1ab" for m in b.aa_mutations)
