"""Synthetic ground truth: references mutated with known events; every call back, nothing extra.

Expected amino-acid changes of substitutions come from an independent oracle (Biopython's
translation of the mutated CDS), not from the engine's own code.
"""

from __future__ import annotations

from Bio.Seq import Seq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyses.calling.codons import reverse_complement
from analyses.calling.engine import Caller
from analyses.calling.reference import CdsSpec
from tests.calling.helpers import mutate, record

BASES = "ACGT"


def _oracle_aa(cds: CdsSpec, genome: str) -> str:
    nt = "".join(
        genome[s.start : s.end] if s.strand == 1 else reverse_complement(genome[s.start : s.end])
        for s in cds.segments
    )
    return str(Seq(nt[: len(nt) // 3 * 3]).translate(table=cds.transl_table))


def _expected_aa(caller: Caller, subs: dict[int, str]) -> set[str]:
    replicon = caller.spec.replicons[0]
    genome = mutate(replicon.sequence, subs)
    labels = set()
    for cds in replicon.cds:
        if not any(s.start <= p < s.end for p in subs for s in cds.segments):
            continue
        ref = _oracle_aa(cds, replicon.sequence)
        alt = _oracle_aa(cds, genome)
        for i, (a, b) in enumerate(zip(ref, alt, strict=True)):
            if a != b:
                a = cds.translation[i] if i < len(cds.translation) else a
                labels.add(f"{cds.symbol}:{a}{i + 1}{b}")
    return labels


def _alt(base: str, k: int) -> str:
    others = [b for b in BASES if b != base]
    return others[k % 3]


@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.tuples(st.integers(0, 1000), st.integers(0, 2)),
        min_size=1,
        max_size=12,
        unique_by=lambda t: t[0],
    )
)
def test_random_snvs_sars_cov_2(sc2: Caller, picks: list[tuple[int, int]]) -> None:
    ref = sc2.spec.replicons[0].sequence
    subs = {200 + slot * 29: _alt(ref[200 + slot * 29], k) for slot, k in picks}
    result = sc2(record("q", mutate(ref, subs)))
    assert {m.label for m in result.nt_mutations} == {
        f"{ref[p]}{p + 1}{b}" for p, b in subs.items()
    }
    assert {m.kind for m in result.nt_mutations} == {"substitution"}
    assert {m.label for m in result.aa_mutations} == _expected_aa(sc2, subs)
    assert result.covered == ((0, len(ref)),)


@settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.tuples(st.integers(0, 6000), st.integers(0, 2)),
        min_size=1,
        max_size=15,
        unique_by=lambda t: t[0],
    )
)
def test_random_snvs_mpox_minus_strand(mpox: Caller, picks: list[tuple[int, int]]) -> None:
    ref = mpox.spec.replicons[0].sequence
    subs = {1000 + slot * 31: _alt(ref[1000 + slot * 31], k) for slot, k in picks}
    result = mpox(record("q", mutate(ref, subs)))
    assert {m.label for m in result.nt_mutations} == {
        f"{ref[p]}{p + 1}{b}" for p, b in subs.items()
    }
    assert {m.label for m in result.aa_mutations} == _expected_aa(mpox, subs)


def test_mpox_minus_strand_codon(mpox: Caller) -> None:
    replicon = mpox.spec.replicons[0]
    cds = next(c for c in replicon.cds if c.strand == -1 and c.nt_length > 900)
    seg = cds.segments[0]
    # first base of codon 10 in transcript order is genome position seg.end - 1 - 27
    pos = seg.end - 1 - 27
    base = replicon.sequence[pos]
    subs = {pos: _alt(base, 0)}
    result = mpox(record("q", mutate(replicon.sequence, subs)))
    (aa,) = result.aa_mutations
    assert aa.cds == cds.symbol and aa.start == 9
    assert {aa.label} == _expected_aa(mpox, subs)
    assert result.nt_mutations[0].effects[0].cds == cds.symbol


def test_reverse_complement_input(sc2: Caller) -> None:
    ref = sc2.spec.replicons[0].sequence
    query = mutate(ref, {23402: "G"}, dels=[(21764, 21770)])
    result = sc2(record("q", reverse_complement(query)))
    assert result.reverse_complemented
    assert [m.label for m in result.nt_mutations] == ["del:21765-21770", "A23403G"]
    assert [m.label for m in result.aa_mutations] == ["S:del:69-70", "S:D614G"]


def test_n_runs_iupac_and_unsequenced_ends(sc2: Caller) -> None:
    ref = sc2.spec.replicons[0].sequence
    query = mutate(ref, {22812: "K", 23402: "G"})
    query = query[100:29800]
    query = query[:4900] + "N" * 300 + query[5200:]
    result = sc2(record("q", query))
    assert [m.label for m in result.nt_mutations] == ["G22813K", "A23403G"]
    assert result.nt_mutations[0].kind == "ambiguous"
    assert result.covered == ((100, 29800),)
    assert result.missing == ((5000, 5300),)
    assert [m.label for m in result.aa_mutations] == ["S:D614G"]
    # K at S codon 417 (AAG -> AAK = K/N): X, unknown, not a substitution
    unknown = {(u.cds, u.start, u.end) for u in result.unknown_aa}
    assert ("S", 416, 417) in unknown
    assert not any(m.label.startswith("del") for m in result.nt_mutations)
    orf1a_unknown = [u for u in result.unknown_aa if u.cds == "ORF1a"]
    assert (orf1a_unknown[0].start, orf1a_unknown[0].end) == (
        (5000 - 265) // 3,
        (5300 - 265 + 2) // 3,
    )
    # the 3' end is unsequenced from 29801 on: ORF10-free Nextclade set, so no CDS there
    assert not any(u.cds == "N" for u in result.unknown_aa)


def test_split_hit_gap_is_not_a_deletion(sc2: Caller) -> None:
    ref = sc2.spec.replicons[0].sequence
    # a divergent stretch replacing 400 bases: not covered, never a deletion
    junk = "".join("ACGT"[(i * 7 + i // 3) % 4] for i in range(400))
    query = ref[:10000] + junk + ref[10400:]
    result = sc2(record("q", query))
    assert not any(m.kind == "deletion" for m in result.nt_mutations)
    assert result.covered[0][0] == 0 and result.covered[-1][1] == len(ref)


def test_large_deletion_between_hits_is_a_deletion(sc2: Caller) -> None:
    ref = sc2.spec.replicons[0].sequence
    query = ref[:27400] + ref[27800:]
    result = sc2(record("q", query))
    assert [m.kind for m in result.nt_mutations] == ["deletion"]
    m = result.nt_mutations[0]
    assert m.end - m.start == 400


def test_frameshift_masks_residues(sc2: Caller) -> None:
    ref = sc2.spec.replicons[0].sequence
    # 1-nt deletion in S codon 100, restored by a 1-nt insertion in codon 110
    start_s = 21562
    query = mutate(ref, dels=[(start_s + 300, start_s + 301)], ins={start_s + 330: "A"})
    result = sc2(record("q", query))
    kinds = [m.kind for m in result.nt_mutations]
    assert kinds == ["deletion", "insertion"]
    assert all(m.frameshift for m in result.nt_mutations)
    assert all(e.so_term == "frameshift_variant" for m in result.nt_mutations for e in m.effects)
    assert not [m for m in result.aa_mutations if m.cds == "S"]
    unknown = [(u.start, u.end) for u in result.unknown_aa if u.cds == "S"]
    assert unknown == [(100, 111)]


def test_frameshift_to_end(sc2: Caller) -> None:
    ref = sc2.spec.replicons[0].sequence
    start_e = 26244
    query = mutate(ref, dels=[(start_e + 30, start_e + 32)])
    result = sc2(record("q", query))
    assert [m.label for m in result.nt_mutations] == ["del:26275-26276"]
    assert result.nt_mutations[0].frameshift
    e_len = len(next(c for c in sc2.spec.all_cds if c.symbol == "E").translation)
    assert [(u.start, u.end) for u in result.unknown_aa if u.cds == "E"] == [(10, e_len + 1)]


def test_stop_gained_and_effects(sc2: Caller) -> None:
    ref = sc2.spec.replicons[0].sequence
    # ORF8 Q27*: codon 27 of ORF8 (start 27894) CAA -> TAA
    pos = 27893 + 26 * 3
    assert ref[pos : pos + 3] == "CAA"
    result = sc2(record("q", mutate(ref, {pos: "T", 100: "A" if ref[100] != "A" else "C"})))
    labels = [m.label for m in result.aa_mutations]
    assert labels == ["ORF8:Q27*"]
    utr, stop = result.nt_mutations
    assert utr.effects[0].so_term == "upstream_gene_variant" and utr.effects[0].cds == "ORF1a"
    assert stop.effects == (stop.effects[0],) and stop.effects[0].so_term == "stop_gained"
    assert result.aa_mutations[0].parents == (1,)


def test_overlapping_cds_get_one_effect_each(sc2: Caller) -> None:
    ref = sc2.spec.replicons[0].sequence
    pos = 28283 + 30  # inside N and ORF9b
    result = sc2(record("q", mutate(ref, {pos: _alt(ref[pos], 1)})))
    assert {e.cds for e in result.nt_mutations[0].effects} == {"N", "ORF9b"}


def test_ncbi_orf1ab_slippage(sc2_ncbi: Caller) -> None:
    ref = sc2_ncbi.spec.replicons[0].sequence
    # ORF1b P314L (C14408T) is orf1ab P4715L in the NCBI annotation
    result = sc2_ncbi(record("q", mutate(ref, {14407: "T"})))
    assert [m.label for m in result.aa_mutations] == ["orf1ab:P4715L"]


def test_hiv_gag_pol_after_join(hiv: Caller) -> None:
    ref = hiv.spec.replicons[0].sequence
    gag_pol = next(
        c for c in hiv.spec.all_cds if len(c.segments) == 2 and c.segments[0].start == 335
    )
    pos = 2000  # in the second segment of gag-pol, outside gag (336..1838)
    subs = {pos: _alt(ref[pos], 0)}
    result = hiv(record("q", mutate(ref, subs)))
    assert {m.label for m in result.aa_mutations} == _expected_aa(hiv, subs)
    # an in-frame deletion at the codon boundary right after the join
    offset = 1637 - 335 + 30  # codon boundary in the second segment
    gpos = 1636 + (offset - (1637 - 335))
    query = mutate(ref, dels=[(gpos, gpos + 3)])
    result = hiv(record("q", query))
    assert any(m.kind == "deletion" and m.cds == gag_pol.symbol for m in result.aa_mutations)


def test_influenza_records_go_to_their_segment(flu: Caller) -> None:
    for replicon in flu.spec.replicons[:3]:
        seq = replicon.sequence
        pos = len(seq) // 2
        result = flu(record("seg", mutate(seq, {pos: _alt(seq[pos], 2)})))
        assert result.replicon == replicon.accession
        (m,) = result.nt_mutations
        assert m.label.startswith(f"{replicon.accession}:")
    seg8 = flu.spec.replicons[7]
    named = flu(record("x", seg8.sequence, f"[molecule={seg8.accession}]"))
    assert named.replicon == seg8.accession and named.nt_mutations == ()
    unknown = flu(record("x", seg8.sequence, "[molecule=NOPE.1]"))
    assert unknown.errors and unknown.replicon is None


def test_unalignable_sequence_is_reported(sc2: Caller) -> None:
    result = sc2(record("junk", "ACGT" * 50))
    assert result.errors == ("does not align to MN908947.3",)
    assert result.nt_mutations == ()
