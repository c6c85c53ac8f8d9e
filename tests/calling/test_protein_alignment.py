"""In-frame indels are called as Nextclade's peptide alignment calls them.

Every cluster of in-frame indels goes through a small peptide alignment with Nextclade's
scores and tie-breaks (:func:`analyses.calling.peptide_align.align_peptides`): it places the
merged codon of a deletion that starts inside a codon, and it decides when a deletion plus an
insertion a few codons apart (as minimap2 sometimes describes a stretch) are substitutions.
"""

from __future__ import annotations

import pytest

from analyses.calling.engine import Caller
from analyses.calling.peptide_align import align_peptides
from analyses.calling.seqio import read_fasta
from tests.calling.conftest import GENBANK_OPEN
from tests.calling.helpers import mutate, record


def _show(ref: str, alt: str) -> tuple[str, str]:
    columns = align_peptides(ref, alt)
    return (
        "".join("-" if r is None else ref[r] for r, _ in columns),
        "".join("-" if a is None else alt[a] for _, a in columns),
    )


@pytest.mark.parametrize(
    ("ref", "alt", "expected"),
    [
        # BA.1 S 211-214: del N211, L212I, insertion EPE after R214
        ("NLVR", "IVREPE", ("NLVR---", "-IVREPE")),
        # same length, no shared residue: substitutions beat two gaps
        ("INLVRD", "ISEPED", ("INLVRD", "ISEPED")),
        # two deletions that a protein aligner merges into one gap
        ("NLVR", "IG", ("NLVR", "--IG")),
        # ties: the gap goes leftmost (Nextclade: S:Y144- for Alpha's YY deletion)
        ("AAAA", "AA", ("AAAA", "--AA")),
        # merged residue identical to no neighbour: aligned to the right one, gaps left
        # (BA.2 del:21633-21641 is S:del:24-26 + S:A27S; del:21990-21995 S:del:143-144 + Y145D)
        ("TQLPPAYT", "TQSYT", ("TQLPPAYT", "TQ---SYT")),
        ("GVYYH", "GDH", ("GVYYH", "G--DH")),
        # merged residue identical to the left neighbour: it stays there (N:del:31-33)
        ("AGERSQ", "AGQ", ("AGERSQ", "AG---Q")),
        ("", "KL", ("--", "KL")),
        ("KL", "", ("KL", "--")),
    ],
)
def test_align_peptides(ref: str, alt: str, expected: tuple[str, str]) -> None:
    assert _show(ref, alt) == expected


def _s_labels(result, lo: int = 205, hi: int = 220) -> list[str]:
    return [m.label for m in result.aa_mutations if m.cds == "S" and lo <= m.start < hi]


def test_on819429_deletion_plus_insertion(sc2: Caller) -> None:
    """ON819429 (BA.1.17): a 9-nt deletion and a 9-nt insertion 2 nt apart in S 211-214.

    Its S reads ``P I S E P E D L`` where the reference reads ``P I N L V R D L`` and typical
    BA.1 ``P I I V R E P E D L``: the genome lacks 6 more nt (``TAGTGC``) than BA.1, so the
    protein is as long as the reference's. A peptide alignment (any usual gap cost)
    then gives four substitutions, not BA.1's ``S:del:211, S:L212I, S:R214REPE`` (which would
    need the query to be two residues longer).
    """
    rec = next(r for r in read_fasta(GENBANK_OPEN) if r.id == "ON819429")
    assert "CCTATTAGTGAGCCAGAAGATCTC" in rec.sequence  # P I S E P E D L
    result = sc2(rec)
    nt = {m.label: i for i, m in enumerate(result.nt_mutations)}
    near = [m.label for m in result.nt_mutations if 22150 <= m.start < 22260]
    assert near == ["del:22194-22202", "T22204TGAGCCAGAA"]
    assert _s_labels(result) == ["S:N211S", "S:L212E", "S:V213P", "S:R214E"]
    deletion, insertion = nt["del:22194-22202"], nt["T22204TGAGCCAGAA"]
    parents = {m.label: m.parents for m in result.aa_mutations if m.cds == "S"}
    # AGT = A22193 + GT22203-4 joined by the deletion; E, P, E come from inserted bases
    assert parents["S:N211S"] == (deletion,)
    assert parents["S:L212E"] == (deletion, insertion)
    assert parents["S:R214E"] == (deletion, insertion)
    # the rest of the BA.1 S signature is untouched
    labels = {m.label for m in result.aa_mutations}
    assert {"S:del:69-70", "S:del:142-144", "S:Y145D", "S:N501Y", "S:D614G"} <= labels


def test_ba1_deletion_and_insertion_cluster(sc2: Caller) -> None:
    """BA.1 itself: del:22194-22196 and the insertion after 22204 are one cluster."""
    reference = sc2.spec.replicons[0].sequence
    result = sc2(record("ba1", mutate(reference, dels=[(22193, 22196)], ins={22203: "GAGCCAGAA"})))
    assert [m.label for m in result.nt_mutations] == ["del:22194-22196", "T22204TGAGCCAGAA"]
    assert [(m.label, m.parents) for m in result.aa_mutations] == [
        ("S:del:211", (0,)),
        ("S:L212I", (0,)),
        ("S:R214REPE", (1,)),
    ]
    effects = [e.so_term for m in result.nt_mutations for e in m.effects]
    assert effects == ["disruptive_inframe_deletion", "conservative_inframe_insertion"]


def test_two_nearby_deletions_align_as_one_gap(sc2: Caller) -> None:
    """del:22194-22196 + del:22200-22202 leave ``I G`` for ``N L V R``: one gap scores best."""
    reference = sc2.spec.replicons[0].sequence
    query = mutate(reference, dels=[(22193, 22196), (22199, 22202)])
    result = sc2(record("q", query))
    assert [m.label for m in result.nt_mutations] == ["del:22194-22196", "del:22200-22202"]
    assert _s_labels(result) == ["S:del:211-212", "S:V213I", "S:R214G"]
