"""Realignment of what minimap2 left out: the stretches between hits and the clipped ends.

minimap2 breaks its chain at dense clusters of indels and substitutions (2024 SARS-CoV-2 Spike:
the 12-nt insertion, 9-nt deletion and three SNVs of 21608-21641 within 35 nt; ten SNVs in
22882-22942) and soft-clips query ends that carry mutations near the genome's ends. Reading
those stretches as "not covered" made every current lineage's defining mutations invisible.

Here each such stretch is realigned with a gap-affine global aligner (Biopython's
``PairwiseAligner``, already a dependency; see ``docs/calling.md`` for the measurement that chose
it over WFA2), with at least :data:`FLANK` aligned bases of the neighbouring hits on each side,
so the indels inside are placed against real context; the placement rules of calling.md are
then applied by :mod:`analyses.calling.call` as for any other indel. N aligns to anything at
no cost (N inside a realigned stretch comes out as an N run). A stretch stays *not covered*
only when its query bases are mostly N (:data:`MAX_N_FRACTION`), the realignment is clearly
not homologous (:data:`MAX_MISMATCH_FRACTION`), or it is too large to realign
(:data:`MAX_CELLS`). Coordinates are 0-based, half-open.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache

from Bio.Align import PairwiseAligner

from analyses.calling.align import Alignment, Hit

#: aligned bases taken from each neighbouring hit into the realigned window: enough context
#: for the affine aligner to place an indel next to the hit boundary the way a whole-genome
#: alignment would (minimap2 cuts hits right at the first mismatch of a cluster)
FLANK = 20
#: more mismatches than this share of the aligned non-N columns is not a homologous stretch:
#: two unrelated sequences aligned with free gaps still mismatch at ~50 % of their columns,
#: while the densest real clusters seen (2024 Spike, 10 SNVs in 61 nt) stay under 20 %
MAX_MISMATCH_FRACTION = 0.3
#: a stretch whose query bases are more than this share N is an amplicon dropout: its few real
#: bases cannot be placed reliably (N aligns anywhere, so an insertion next to the run turns
#: into a false frameshift), and the stretch stays not covered
MAX_N_FRACTION = 0.5
#: dynamic-programming cells (reference x query bases) above which a stretch is not realigned
#: (about 0.1 s); larger divergent stretches are left not covered rather than stalling a chunk
MAX_CELLS = 20_000_000

#: scores in the spirit of Nextclade's nucleotide aligner (match 3, mismatch 1, gap open 6);
#: a small extension cost keeps long gaps from being split into several
MATCH, MISMATCH, GAP_OPEN, GAP_EXTEND = 3, -1, -6, -1

Op = tuple[str, int, int, int]


@cache
def _aligner(free_left: bool, free_right: bool) -> PairwiseAligner:
    """A global aligner; ``free_left``/``free_right`` make end gaps on that side free."""
    aligner = PairwiseAligner(
        mode="global",
        match_score=MATCH,
        mismatch_score=MISMATCH,
        open_gap_score=GAP_OPEN,
        extend_gap_score=GAP_EXTEND,
    )
    aligner.wildcard = "N"  # N aligns to anything for free: no data, no evidence either way
    # Biopython's names: an "insertion" is a gap in the reference, a "deletion" one in the query
    if free_left:
        aligner.open_left_insertion_score = aligner.extend_left_insertion_score = 0
        aligner.open_left_deletion_score = aligner.extend_left_deletion_score = 0
    if free_right:
        aligner.open_right_insertion_score = aligner.extend_right_insertion_score = 0
        aligner.open_right_deletion_score = aligner.extend_right_deletion_score = 0
    return aligner


@dataclass(frozen=True)
class Realigned:
    """Operations of one realigned window, and how good the inner (non-flank) part is."""

    ops: list[Op]
    r_st: int
    r_en: int
    q_st: int
    q_en: int
    aligned: int  # aligned non-N columns inside the inner window
    mismatched: int  # of which mismatches

    @property
    def homologous(self) -> bool:
        return not self.aligned or self.mismatched <= MAX_MISMATCH_FRACTION * self.aligned


def realign_window(
    reference: str,
    query: str,
    r_lo: int,
    r_hi: int,
    q_lo: int,
    q_hi: int,
    inner: tuple[int, int, int, int],
    *,
    free_left: bool = False,
    free_right: bool = False,
) -> Realigned:
    """Align ``reference[r_lo:r_hi]`` to ``query[q_lo:q_hi]`` and return absolute operations.

    :param inner: ``(r_from, r_to, q_from, q_to)``, the part of the window that minimap2 did not
        align; mismatches are counted only there (the flanks align by construction).
    :param free_left: free end gaps before the window (a clipped 5-prime end): the alignment may
        start anywhere; unaligned leading bases are left out of the operations.
    :param free_right: likewise after the window (a clipped 3-prime end).
    """
    ref, qry = reference[r_lo:r_hi], query[q_lo:q_hi]
    alignment = _aligner(free_left, free_right).align(ref, qry)[0]
    coords = alignment.coordinates
    r_from, r_to, q_from, q_to = inner
    ops: list[Op] = []
    aligned = mismatched = 0
    starts = list(zip(coords[0][:-1], coords[1][:-1], strict=True))
    ends = list(zip(coords[0][1:], coords[1][1:], strict=True))
    for (r0, q0), (r1, q1) in zip(starts, ends, strict=True):
        r0, r1, q0, q1 = int(r0), int(r1), int(q0), int(q1)
        if r1 > r0 and q1 > q0:
            _aligned_ops(ops, ref, qry, r0, q0, r1 - r0, r_lo, q_lo)
            for k in range(r1 - r0):
                rb, qb = ref[r0 + k], qry[q0 + k]
                if qb != "N" and (r_from <= r_lo + r0 + k < r_to or q_from <= q_lo + q0 + k < q_to):
                    aligned += 1
                    mismatched += rb != qb
        elif r1 > r0:
            if ops or not free_left:  # leading end gaps of a free end are overhang, not calls
                ops.append(("D", r_lo + r0, q_lo + q0, r1 - r0))
        elif q1 > q0 and (ops or not free_left):
            ops.append(("I", r_lo + r0, q_lo + q0, q1 - q0))
    if free_right:
        while ops and ops[-1][0] in "ID":  # trailing end gaps: overhang
            ops.pop()
    if not ops:
        return Realigned([], r_lo, r_lo, q_lo, q_lo, 0, 0)
    first, last = ops[0], ops[-1]
    r_en = last[1] + (last[3] if last[0] != "I" else 0)
    q_en = last[2] + (last[3] if last[0] != "D" else 0)
    return Realigned(ops, first[1], r_en, first[2], q_en, aligned, mismatched)


def _aligned_ops(
    ops: list[Op], ref: str, qry: str, r0: int, q0: int, n: int, r_lo: int, q_lo: int
) -> None:
    """Append ``=`` runs and ``X`` runs for an ungapped block (absolute coordinates)."""
    k = 0
    while k < n:
        same = ref[r0 + k] == qry[q0 + k]
        j = k + 1
        while j < n and (ref[r0 + j] == qry[q0 + j]) == same:
            j += 1
        ops.append(("=" if same else "X", r_lo + r0 + k, q_lo + q0 + k, j - k))
        k = j


def _cut_tail(ops: list[Op], flank: int) -> tuple[list[Op], int, int] | None:
    """Split ``ops`` so that the removed tail holds at least ``flank`` aligned bases.

    :returns: the kept head and the ``(r, q)`` where it ends; ``None`` when the hit is too
        short (the whole hit then joins the window).
    """
    need = flank
    for index in range(len(ops) - 1, -1, -1):
        kind, r, q, n = ops[index]
        if kind not in "=X":
            continue
        if n >= need:
            keep = n - need
            head = ops[:index] + ([(kind, r, q, keep)] if keep else [])
            return head, r + keep, q + keep
        need -= n
    return None


def _cut_head(ops: list[Op], flank: int) -> tuple[list[Op], int, int] | None:
    """Split ``ops`` so that the removed head holds at least ``flank`` aligned bases.

    :returns: the kept tail and the ``(r, q)`` where it starts; ``None`` when too short.
    """
    need = flank
    for index, (kind, r, q, n) in enumerate(ops):
        if kind not in "=X":
            continue
        if n >= need:
            tail = ([(kind, r + need, q + need, n - need)] if n > need else []) + ops[index + 1 :]
            return tail, r + need, q + need
        need -= n
    return None


def _mostly_n(query: str, q_from: int, q_to: int) -> bool:
    length = q_to - q_from
    return length > 0 and query.count("N", q_from, q_to) > MAX_N_FRACTION * length


def join_hits(prev: Hit, hit: Hit, reference: str, query: str) -> Hit | None:
    """Realign the stretch between two collinear hits; one hit, or ``None`` (not covered)."""
    inner = (prev.r_en, hit.r_st, prev.q_en, hit.q_st)
    if _mostly_n(query, prev.q_en, hit.q_st):
        return None
    left = _cut_tail(prev.ops, FLANK) or ([], prev.r_st, prev.q_st)
    right = _cut_head(hit.ops, FLANK) or ([], hit.r_en, hit.q_en)
    head, r_lo, q_lo = left
    tail, r_hi, q_hi = right
    if (r_hi - r_lo) * (q_hi - q_lo) > MAX_CELLS:
        return None
    window = realign_window(reference, query, r_lo, r_hi, q_lo, q_hi, inner)
    if not window.homologous:
        return None
    return Hit(prev.r_st, hit.r_en, prev.q_st, hit.q_en, prev.mlen + hit.mlen,
               [*head, *window.ops, *tail])  # fmt: skip


def extend_start(hit: Hit, reference: str, query: str) -> None:
    """Realign a clipped 5-prime end (query bases before the hit, reference before it) in place."""
    q_first = len(query[: hit.q_st]) - len(query[: hit.q_st].lstrip("N"))
    if hit.r_st == 0 or q_first >= hit.q_st:
        return
    cut = _cut_head(hit.ops, FLANK) or ([], hit.r_en, hit.q_en)
    tail, r_hi, q_hi = cut
    if r_hi * (q_hi - q_first) > MAX_CELLS:
        return
    inner = (0, hit.r_st, q_first, hit.q_st)
    window = realign_window(reference, query, 0, r_hi, q_first, q_hi, inner, free_left=True)
    if not window.ops or not window.homologous or window.r_st >= hit.r_st:
        return
    hit.ops = [*window.ops, *tail]
    hit.r_st, hit.q_st = window.r_st, window.q_st


def extend_end(hit: Hit, reference: str, query: str) -> None:
    """Realign a clipped 3-prime end (query bases after the hit, reference after it) in place."""
    q_last = len(query[hit.q_en :].rstrip("N")) + hit.q_en
    if hit.r_en == len(reference) or q_last <= hit.q_en:
        return
    cut = _cut_tail(hit.ops, FLANK) or ([], hit.r_st, hit.q_st)
    head, r_lo, q_lo = cut
    if (len(reference) - r_lo) * (q_last - q_lo) > MAX_CELLS:
        return
    inner = (hit.r_en, len(reference), hit.q_en, q_last)
    window = realign_window(
        reference, query, r_lo, len(reference), q_lo, q_last, inner, free_right=True
    )
    if not window.ops or not window.homologous or window.r_en <= hit.r_en:
        return
    hit.ops = [*head, *window.ops]
    hit.r_en, hit.q_en = window.r_en, window.q_en


def realign_chain(chain: list[Hit], reference: str, query: str) -> list[Hit]:
    """Join collinear hits through realigned stretches and extend clipped ends.

    Stretches that stay not covered keep their hits apart (the caller reads them as gaps).
    """
    if not chain:
        return chain
    joined = [chain[0]]
    for hit in chain[1:]:
        prev = joined[-1]
        merged = join_hits(prev, hit, reference, query) if prev.ops and hit.ops else None
        if merged is None:
            joined.append(hit)
        else:
            joined[-1] = merged
    extend_start(joined[0], reference, query)
    extend_end(joined[-1], reference, query)
    return joined


def realign_alignment(alignment: Alignment, reference: str) -> Alignment:
    """The alignment with gaps between hits and clipped ends realigned (see module doc)."""
    hits = [h for h in alignment.hits if h.r_en > h.r_st]
    return replace(alignment, hits=tuple(realign_chain(hits, reference, alignment.query)))
