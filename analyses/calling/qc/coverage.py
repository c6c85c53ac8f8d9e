"""Coverage: the share of the reference with sequence data.

Nextclade reports it (``coverage``) without scoring it: the aligned span minus N and other
ambiguous bases, over the reference length. Here the aligned span is the sequence's
``covered`` ranges (deletions inside count as covered, like Nextclade's alignment range);
``missing`` ranges inside them (N runs, query stretches that did not align) and the bases of
ambiguous calls are taken away. All ranges 0-based half-open.
"""

from __future__ import annotations

from collections.abc import Sequence


def _overlap(ranges: Sequence[tuple[int, int]], within: Sequence[tuple[int, int]]) -> int:
    total = 0
    for a, b in ranges:
        for c, d in within:
            total += max(0, min(b, d) - max(a, c))
    return total


def coverage(
    covered: Sequence[tuple[int, int]],
    missing: Sequence[tuple[int, int]],
    ambiguous: int,
    reference_length: int,
) -> float:
    """Share (0 to 1) of a reference of ``reference_length`` nt with informative bases.

    :param covered: reference ranges with sequence data (not overlapping each other).
    :param missing: reference ranges without data (only their part inside ``covered`` counts).
    :param ambiguous: ambiguous bases called inside ``covered`` (one per ambiguous call).

    >>> coverage([(0, 1000)], [(100, 200)], 5, 2000)
    0.4475
    """
    if reference_length <= 0:
        return 0.0
    bases = sum(b - a for a, b in covered) - _overlap(missing, covered) - ambiguous
    return max(0.0, min(1.0, bases / reference_length))
