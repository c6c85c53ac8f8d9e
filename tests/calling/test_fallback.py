"""The sensitive fallback aligner (map-ont) for records that asm5 cannot align.

A/PR/8/34 (a 1934 laboratory strain, 15-20% divergent from the pdm09 California reference)
gives no asm5 hit at all; with map-ont each of its 8 segments aligns end to end to its own
segment, and reference + calls must still rebuild the input. Unrelated sequences must still
be reported as not aligning.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from analyses.calling.align import FALLBACK_PRESET, PRESET
from analyses.calling.codons import reverse_complement
from analyses.calling.engine import Caller, call_sequence
from analyses.calling.reference import read_genbank
from analyses.calling.seqio import FastaRecord, read_fasta
from analyses.results_io import read_results, write_results
from tests.calling.conftest import DATA, H1N1
from tests.calling.helpers import observed, rebuild, record

FLU_FASTA = DATA / "influenza" / "influenza-A" / "H1N1PDM_California" / "H1N1.sequences.fasta.xz"
#: A/PR/8/34 segments and the pdm09 reference segment each belongs to
PR8 = {
    "LC662537.1": "NC_026438.1",  # PB2
    "LC662538.1": "NC_026435.1",  # PB1
    "LC662539.1": "NC_026437.1",  # PA
    "LC662540.1": "CY121680.1",  # HA
    "LC662541.1": "NC_026436.1",  # NP
    "LC662542.1": "NC_026434.1",  # NA
    "LC662543.1": "NC_026431.1",  # M
    "LC662544.1": "NC_026432.1",  # NS
}


@pytest.fixture(scope="module")
def flu_records() -> list[FastaRecord]:
    return list(read_fasta(FLU_FASTA))


@pytest.fixture(scope="module")
def pr8(flu_records: list[FastaRecord]) -> list[FastaRecord]:
    records = [r for r in flu_records if r.id in PR8]
    assert [r.id for r in records] == list(PR8)
    return records


def test_divergent_segments_align_with_fallback_to_their_segment(
    flu: Caller, pr8: list[FastaRecord]
) -> None:
    for rec in pr8:
        # the primary preset alone finds nothing: the fallback is what calls them
        bare = call_sequence(rec, flu.reference, flu.aligners)
        assert bare.errors == (f"does not align to {', '.join(flu.reference.replicons)}",)
        result = flu(rec)
        assert result.errors == (), rec.id
        assert result.aligner_preset == FALLBACK_PRESET
        assert result.replicon == PR8[rec.id], rec.id
        reference = flu.spec.replicon(result.replicon).sequence
        assert rebuild(result, reference) == observed(result, rec.sequence), rec.id
        # end to end: the whole reference segment is covered, in one block, forward strand
        assert result.covered[0][0] == 0 and result.missing == ()
        assert result.covered[-1][1] >= len(reference) - 30
        assert not result.reverse_complemented
        # a divergent strain carries many calls, all labelled on its segment
        assert len(result.nt_mutations) > 100
        assert all(m.replicon == result.replicon for m in result.nt_mutations)
        assert len(result.aa_mutations) > 20


def test_divergent_reverse_complement_and_named_molecule(
    flu: Caller, pr8: list[FastaRecord]
) -> None:
    ha = next(r for r in pr8 if r.id == "LC662540.1")
    forward = flu(ha)
    rc = flu(record("rc", reverse_complement(ha.sequence)))
    assert rc.reverse_complemented and rc.aligner_preset == FALLBACK_PRESET
    assert [m.label for m in rc.nt_mutations] == [m.label for m in forward.nt_mutations]
    named = flu(record("named", ha.sequence, "[molecule=CY121680.1]"))
    assert named.replicon == "CY121680.1" and named.aligner_preset == FALLBACK_PRESET
    wrong = flu(record("wrong", ha.sequence, "[molecule=NC_026438.1]"))
    assert wrong.errors and wrong.errors[0].startswith("does not align to NC_026438.1")
    assert wrong.replicon is None and wrong.aligner_preset is None


def test_fast_path_never_builds_the_fallback(flu_records: list[FastaRecord]) -> None:
    caller = Caller(read_genbank(H1N1))
    close = [r for r in flu_records if r.id not in PR8]
    assert len(close) == 59
    for rec in close:
        result = caller(rec)
        assert result.errors == () and result.aligner_preset == PRESET, rec.id
    assert caller.fallback._built == {}
    # the first divergent record builds the fallback indexes, later ones reuse them
    by_id = {r.id: r for r in flu_records}
    assert caller(by_id["LC662537.1"]).aligner_preset == FALLBACK_PRESET
    built = dict(caller.fallback._built)
    assert set(built) == set(PR8.values())
    assert caller(by_id["LC662538.1"]).aligner_preset == FALLBACK_PRESET
    assert all(caller.fallback._built[acc] is aligner for acc, aligner in built.items())


def test_unrelated_sequences_still_do_not_align(sc2: Caller) -> None:
    rng = random.Random(20240607)
    random_seq = "".join(rng.choice("ACGT") for _ in range(5000))
    rsv = read_genbank([DATA / "rsv" / "RSV-A" / "PP109421.gb"]).replicons[0].sequence
    for name, seq in [("random", random_seq), ("rsv", rsv)]:
        result = sc2(record(name, seq))
        assert result.errors == ("does not align to MN908947.3",), name
        assert result.replicon is None and result.aligner_preset is None
        assert result.nt_mutations == () and result.aa_mutations == ()


def test_partial_fallback_hit_of_a_related_virus_is_refused() -> None:
    # hMPV and RSV share a conserved stretch of L: map-ont aligns ~12% of hMPV to RSV-A,
    # which is not the same organism; the reason names the preset and the share
    rsv = Caller(read_genbank([DATA / "rsv" / "RSV-A" / "PP109421.gb"]))
    hmpv = read_genbank([DATA / "human-metapneumovirus" / "NC_039199.gb"])
    result = rsv(record("hmpv", hmpv.replicons[0].sequence))
    (error,) = result.errors
    assert error.startswith("does not align to PP109421.1: with map-ont only ")
    assert "% of the sequence aligns" in error and "at least 50% needed" in error
    assert result.replicon is None and result.nt_mutations == ()


def test_preset_survives_the_results_file(
    flu: Caller, pr8: list[FastaRecord], tmp_path: Path
) -> None:
    results = [flu(pr8[0]), flu(record("same", flu.spec.replicons[0].sequence))]
    results.append(flu(record("junk", "ACGT" * 50)))
    path = tmp_path / "chunk.jsonl"
    write_results(path, flu.spec, results)
    header, back = read_results(path)
    assert back == results
    assert [r.aligner_preset for r in back] == [FALLBACK_PRESET, PRESET, None]
    assert header["schema"]["SequenceResult"][-2:] == ["aligner_preset", "qc"]
