"""The common SARS-CoV-2 deletions of calling.md come out exactly as written."""

from __future__ import annotations

import pytest

from analyses.calling.engine import Caller
from tests.calling.helpers import mutate, record


def _call(sc2: Caller, start1: int, end1: int):
    reference = sc2.spec.replicons[0].sequence
    query = mutate(reference, dels=[(start1 - 1, end1)])
    return sc2(record("q", query))


@pytest.mark.parametrize(
    ("start", "end", "label", "aa"),
    [
        (11288, 11296, "del:11288-11296", ["ORF1a:del:3675-3677"]),
        (21765, 21770, "del:21765-21770", ["S:del:69-70"]),
        (21992, 21994, "del:21992-21994", ["S:del:144"]),
        (21991, 21993, "del:21992-21994", ["S:del:144"]),  # minimap2's leftmost form
        (21987, 21995, "del:21987-21995", ["S:del:142-144", "S:Y145D"]),
        (6513, 6515, "del:6513-6515", ["ORF1a:del:2083", "ORF1a:L2084I"]),
        (21633, 21641, "del:21633-21641", ["S:del:24-26", "S:A27S"]),
        (28362, 28370, "del:28362-28370", ["N:del:31-33", "ORF9b:del:27-29"]),
        (28274, 28274, "del:28271", []),  # A-run before N's start codon: outside the CDS
    ],
)
def test_common_deletions(sc2: Caller, start: int, end: int, label: str, aa: list[str]) -> None:
    result = _call(sc2, start, end)
    assert [m.label for m in result.nt_mutations] == [label]
    assert sorted(m.label for m in result.aa_mutations) == sorted(aa)
    for m in result.aa_mutations:
        assert m.parents == (0,)


def test_insertion_placement(sc2: Caller) -> None:
    reference = sc2.spec.replicons[0].sequence
    # minimap2 reports A22206ATAAGCTGAGAAG; the codon-boundary placement is after 22207
    query = mutate(reference, ins={22205: "TAAGCTGAGAAG"})
    result = sc2(record("q", query))
    assert [m.label for m in result.nt_mutations] == ["T22207TAAGCTGAGAAGT"]
    assert [m.label for m in result.aa_mutations] == ["S:D215DKLRS"]
    query = mutate(reference, ins={25698: "CCC"})
    result = sc2(record("q", query))
    assert [m.label for m in result.nt_mutations] == ["C25701CCCC"]
    assert [m.label for m in result.aa_mutations] == ["ORF3a:A103AP"]
    query = mutate(reference, ins={22203: "GAGCCAGAA"})
    result = sc2(record("q", query))
    assert [m.label for m in result.nt_mutations] == ["T22204TGAGCCAGAA"]
    assert [m.label for m in result.aa_mutations] == ["S:R214REPE"]
