"""Nucleotide calls from a stitched alignment, and the placement rule for indels.

Rules (calling.md): substitutions and IUPAC calls per base; N runs as ranges; hits that
:mod:`analyses.calling.realign` could not join leave a gap that is not covered (or a deletion
when no query base is left over); insertions holding N/IUPAC codes are unknown, not calls;
deletions and insertions are moved among equivalent placements to one outside every CDS, else
one on a codon boundary, else the leftmost.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from analyses.calling.align import Alignment
from analyses.calling.compiled import CompiledCds, CompiledReplicon


@dataclass
class NtEvents:
    """Raw nucleotide events of one sequence on one replicon (0-based, half-open).

    ``ins`` items are ``(anchor, bases)``: bases inserted after reference position ``anchor``
    (``-1`` = before the first base).
    """

    subs: list[tuple[int, str]] = field(default_factory=list)
    n_runs: list[tuple[int, int]] = field(default_factory=list)
    dels: list[tuple[int, int]] = field(default_factory=list)
    ins: list[tuple[int, str]] = field(default_factory=list)
    covered: list[tuple[int, int]] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)
    #: inserted stretches with N or other IUPAC codes: unknown sequence, not insertions
    unknown_ins: list[tuple[int, str]] = field(default_factory=list)


def extract_events(alignment: Alignment, reference: str) -> NtEvents:
    """Read substitutions, N runs, indels and covered ranges from the hits' operations."""
    query = alignment.query
    events = NtEvents()
    subs, n_runs = events.subs, events.n_runs
    hits = [h for h in alignment.hits if h.r_en > h.r_st]
    covered: list[list[int]] = []
    prev = None
    for hit in hits:
        if prev is None:
            covered.append([hit.r_st, hit.r_en])
        else:
            r_gap, q_gap = hit.r_st - prev.r_en, hit.q_st - prev.q_en
            if q_gap == 0:
                if r_gap > 0:
                    events.dels.append((prev.r_en, hit.r_st))
                covered[-1][1] = hit.r_en
            elif r_gap == 0:
                _add_insertion(events, prev.r_en - 1, query[prev.q_en : hit.q_st])
                covered[-1][1] = hit.r_en
            else:
                events.gaps.append((prev.r_en, hit.r_st))
                covered.append([hit.r_st, hit.r_en])
        for kind, r, q, n in hit.ops:
            if kind == "X":
                if n > 1 and query.count("N", q, q + n) == n:  # an N run: one range, no loop
                    if n_runs and n_runs[-1][1] == r:
                        n_runs[-1] = (n_runs[-1][0], r + n)
                    else:
                        n_runs.append((r, r + n))
                    continue
                for k in range(n):  # single mismatch, or a run mixing N and IUPAC codes
                    base = query[q + k]
                    if base == "N":
                        if n_runs and n_runs[-1][1] == r + k:
                            n_runs[-1] = (n_runs[-1][0], r + k + 1)
                        else:
                            n_runs.append((r + k, r + k + 1))
                    elif base != reference[r + k]:
                        subs.append((r + k, base))
            elif kind == "I":
                _add_insertion(events, r - 1, query[q : q + n])
            elif kind == "D":
                if "N" in query[max(q - 1, 0) : q + 1]:  # next to unknown bases: no evidence
                    _add_n_run(n_runs, r, r + n)
                else:
                    events.dels.append((r, r + n))
        prev = hit
    if hits:
        first, last = hits[0], hits[-1]
        if first.r_st == 0 and first.q_st > 0:
            _add_insertion(events, -1, query[: first.q_st].lstrip("N"))
        if last.r_en == len(reference) and last.q_en < len(query):
            _add_insertion(events, len(reference) - 1, query[last.q_en :].rstrip("N"))
    events.covered = [(a, b) for a, b in covered]
    events.ins.sort()
    events.dels.sort()
    return events


def _add_n_run(n_runs: list[tuple[int, int]], start: int, end: int) -> None:
    """Extend the last unknown range or start a new one (``n_runs`` stays sorted)."""
    if n_runs and n_runs[-1][1] >= start:
        n_runs[-1] = (n_runs[-1][0], max(n_runs[-1][1], end))
    else:
        n_runs.append((start, end))


def _add_insertion(events: NtEvents, anchor: int, bases: str) -> None:
    """Record an insertion, unless its bases are not all known (calling.md).

    Inserted N or other IUPAC codes are unknown sequence of uncertain length (typically an
    amplicon dropout padded with more Ns than the reference has there), not an insertion.
    """
    if bases and not bases.strip("ACGT"):
        events.ins.append((anchor, bases))
    elif bases.strip("N"):
        events.unknown_ins.append((anchor, bases))


class _Blocked:
    """Positions where the query differs from the reference: an indel cannot slide there."""

    def __init__(self, events: NtEvents) -> None:
        self.points = {pos for pos, _ in events.subs}
        intervals = sorted([*events.n_runs, *events.dels, *events.gaps])
        self.starts = [a for a, _ in intervals]
        self.ends = [b for _, b in intervals]

    def __contains__(self, pos: int) -> bool:
        if pos in self.points:
            return True
        i = bisect_right(self.starts, pos) - 1
        return i >= 0 and pos < self.ends[i]


def _covered_span(covered: list[tuple[int, int]], pos: int) -> tuple[int, int]:
    for a, b in covered:
        if a <= pos <= b:
            return a, b
    return pos, pos


def _choose(
    candidates: list[int], in_cds: list[list[CompiledCds]], aligned: list[list[bool]]
) -> int:
    """Preferred placement: outside CDS, else codon-aligned (all, then any CDS), else leftmost."""
    for i, cds in enumerate(in_cds):
        if not cds:
            return i
    for i, flags in enumerate(aligned):
        if flags and all(flags):
            return i
    for i, flags in enumerate(aligned):
        if any(flags):
            return i
    return 0


def normalise_deletion(
    start: int,
    end: int,
    reference: str,
    replicon: CompiledReplicon,
    blocked: _Blocked,
    covered: list[tuple[int, int]],
) -> tuple[int, int]:
    """Move a deletion ``[start, end)`` to its preferred equivalent placement."""
    length = end - start
    lo, hi = _covered_span(covered, start)
    # slide to the leftmost equivalent placement
    while (
        start - 1 >= lo and reference[start - 1] == reference[end - 1] and start - 1 not in blocked
    ):
        start -= 1
        end -= 1
    candidates = [start]
    s = start
    while s + length < hi and reference[s] == reference[s + length] and s + length not in blocked:
        s += 1
        candidates.append(s)
    if len(candidates) == 1 and not replicon.cds_overlapping(start, end):
        return start, end
    in_cds = [replicon.cds_overlapping(c, c + length) for c in candidates]
    aligned = []
    for c, cds_list in zip(candidates, in_cds, strict=True):
        flags = []
        for cds in cds_list:
            first = c if cds.strand == 1 else c + length - 1
            offsets = cds.offsets(first)
            flags.append(bool(offsets) and offsets[0] % 3 == 0)
        aligned.append(flags)
    c = candidates[_choose(candidates, in_cds, aligned)]
    return c, c + length


def normalise_insertion(
    anchor: int,
    bases: str,
    reference: str,
    replicon: CompiledReplicon,
    blocked: _Blocked,
    covered: list[tuple[int, int]],
) -> tuple[int, str]:
    """Move an insertion after ``anchor`` to its preferred equivalent placement."""
    if anchor < 0 or anchor >= len(reference) - 1:
        return anchor, bases
    lo, hi = _covered_span(covered, anchor)
    while anchor >= lo and reference[anchor] == bases[-1] and anchor not in blocked:
        bases = reference[anchor] + bases[:-1]
        anchor -= 1
    candidates = [(anchor, bases)]
    a, b = anchor, bases
    while a + 1 < hi and reference[a + 1] == b[0] and a + 1 not in blocked:
        a += 1
        b = b[1:] + reference[a]
        candidates.append((a, b))
    in_cds = []
    aligned = []
    for a, _ in candidates:
        cds_list = [
            c for c in replicon.cds_overlapping(a, a + 2) if c.insertion_offset(a) is not None
        ]
        in_cds.append(cds_list)
        aligned.append([(cds.insertion_offset(a) or 0) % 3 == 2 for cds in cds_list])
    if len(candidates) == 1:
        return anchor, bases
    return candidates[_choose([a for a, _ in candidates], in_cds, aligned)]


def normalise(events: NtEvents, reference: str, replicon: CompiledReplicon) -> None:
    """Apply the placement rule to every indel of ``events`` (in place)."""
    if not events.dels and not events.ins:
        return
    blocked = _Blocked(events)
    covered = events.covered
    dels = []
    for start, end in events.dels:
        # the deletion itself must not block its own sliding
        blocked_self = (
            _Blocked(
                NtEvents(
                    events.subs,
                    events.n_runs,
                    [d for d in events.dels if d != (start, end)],
                    [],
                    [],
                    events.gaps,
                )
            )
            if len(events.dels) > 1
            else _Blocked(NtEvents(events.subs, events.n_runs, [], [], [], events.gaps))
        )
        dels.append(normalise_deletion(start, end, reference, replicon, blocked_self, covered))
    events.dels = sorted(dels)
    blocked = _Blocked(events)
    events.ins = sorted(
        normalise_insertion(a, b, reference, replicon, blocked, covered) for a, b in events.ins
    )
