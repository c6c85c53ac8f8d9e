"""Peptide alignment with Nextclade's scoring, for residue ranges of amino-acid indels.

Nextclade translates the query's CDS (its alignment gaps removed, so an in-frame deletion that
starts inside a codon leaves one merged codon) and aligns the peptide to the reference peptide
with the same affine aligner as for nucleotides; amino-acid deletions and insertions are the
gaps of that peptide alignment. Its scores: identity only (match +3, mismatch -1, ``X`` matches
anything at +2), gap open 6, gap extension free. Among equally good alignments the diagonal
step wins at every cell and the path is read back from the end, so ambiguous gaps go left and
a merged residue aligns to the right-hand reference residue when it is identical to neither:
``del:21633-21641`` gives ``S:del:24-26`` + ``S:A27S`` (merged ``S`` against ``LPPA``);
``del:21990-21995`` gives ``S:del:143-144`` + ``S:Y145D``; ``del:28362-28370`` gives
``N:del:31-33`` (merged ``G`` is identical to ``G30``).

>>> align_peptides("TQLPPAYT", "TQSYT")[2:7]
((2, None), (3, None), (4, None), (5, 2), (6, 3))
"""

from __future__ import annotations

from functools import lru_cache

MATCH = 3
MISMATCH = 1
UNKNOWN_MATCH = MATCH - 1  # Nextclade de-prioritises matches against X by one
GAP_OPEN = 6
GAP_EXTEND = 0
_NEG = -(10**9)
# back-pointer bits: which move is optimal into a cell, and whether a gap there extends one
_DIAG, _INS, _DEL, _INS_EXT, _DEL_EXT = 1, 2, 4, 8, 16

Columns = tuple[tuple[int | None, int | None], ...]


def _pair_score(r: str, a: str) -> int:
    if r == "X" or a == "X":
        return UNKNOWN_MATCH
    return MATCH if r == a else -MISMATCH


@lru_cache(maxsize=8192)
def align_peptides(ref: str, alt: str) -> Columns:
    """Global alignment of two peptides as Nextclade scores and breaks ties (see module doc).

    Plain Python dynamic programming: it only ever sees the few codons around an indel
    cluster (plus flanks), never a whole protein. Cached per process: genomes of one lineage
    share their indels, so most clusters of a chunk repeat an earlier one exactly.

    :returns: alignment columns ``(ref index, alt index)``, ``None`` on the gap side.
    """
    n, m = len(ref), len(alt)
    score = [[_NEG] * (m + 1) for _ in range(n + 1)]
    path = [[0] * (m + 1) for _ in range(n + 1)]
    score[0][0] = 0
    for j in range(1, m + 1):  # leading insertion
        score[0][j] = -GAP_OPEN - (j - 1) * GAP_EXTEND
        path[0][j] = _INS | _INS_EXT
    del_run = [_NEG] * (m + 1)  # best score ending in a deletion, per column
    for i in range(1, n + 1):
        ins_run = _NEG
        for j in range(m + 1):
            if j == 0:
                score[i][0] = -GAP_OPEN - (i - 1) * GAP_EXTEND
                path[i][0] = _DEL | _DEL_EXT
                continue
            best = score[i - 1][j - 1] + _pair_score(ref[i - 1], alt[j - 1])
            origin, flags = _DIAG, 0
            extend, opened = ins_run - GAP_EXTEND, score[i][j - 1] - GAP_OPEN
            ins_run = extend if extend >= opened and j > 1 else opened
            if extend >= opened and j > 1:
                flags |= _INS_EXT
            if ins_run > best:  # strict: the diagonal wins ties
                best, origin = ins_run, _INS
            extend, opened = del_run[j] - GAP_EXTEND, score[i - 1][j] - GAP_OPEN
            del_run[j] = extend if extend >= opened and i > 1 else opened
            if extend >= opened and i > 1:
                flags |= _DEL_EXT
            if del_run[j] > best:
                best, origin = del_run[j], _DEL
            score[i][j], path[i][j] = best, origin | flags
    return _backtrace(path, n, m)


def _backtrace(path: list[list[int]], n: int, m: int) -> Columns:
    columns: list[tuple[int | None, int | None]] = []
    i, j, state = n, m, 0
    while i or j:
        here = path[i][j]
        if state == 0 and here & _DIAG:
            i, j = i - 1, j - 1
            columns.append((i, j))
        elif state == _INS or (state == 0 and here & _INS):
            j -= 1
            columns.append((None, j))
            state = _INS if here & _INS_EXT else 0
        else:
            i -= 1
            columns.append((i, None))
            state = _DEL if here & _DEL_EXT else 0
    columns.reverse()
    return tuple(columns)
