"""QC rule *SNP clusters* (Nextclade's "C"): many substitutions close together.

A cluster is a run of windows holding more than ``cluster_cut_off`` substitutions, each window
spanning ``window_size`` nt back from a substitution (Nextclade's sliding window: positions
``pos - window_size`` to ``pos``); overlapping windows extend one cluster. Each cluster scores
``score_weight``.

**Without a tree.** Nextclade counts *private* substitutions (those not on the nearest node of
its reference tree); we have no tree and count every substitution against the reference
(IUPAC codes other than N included, as Nextclade does). Lineages far from the reference carry
dense clusters of defining mutations (Omicron's spike receptor-binding domain), so this rule
fires on them where Nextclade's would not.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from analyses.calling.types import NT_AMBIGUOUS, NT_SUBSTITUTION, NtMutation, RuleResult

RULE = "snp_clusters"


@dataclass(frozen=True)
class SnpClustersConfig:
    """:param window_size: nt back from each substitution that its window reaches.
    :param cluster_cut_off: substitutions a window may hold without being a cluster."""

    enabled: bool = True
    window_size: int = 100
    cluster_cut_off: int = 6
    score_weight: float = 50.0


def substitution_positions(nt_mutations: Iterable[NtMutation]) -> list[int]:
    """0-based positions of the substitutions (ambiguous ones included), ascending."""
    return sorted(m.start for m in nt_mutations if m.kind in (NT_SUBSTITUTION, NT_AMBIGUOUS))


def find_snp_clusters(positions: Iterable[int], config: SnpClustersConfig) -> list[list[int]]:
    """Clusters of ``positions`` (0-based, ascending): each the list of its positions.

    >>> find_snp_clusters([10, 20, 30, 40, 50, 60, 70, 500], SnpClustersConfig())
    [[10, 20, 30, 40, 50, 60, 70]]
    """
    window: deque[int] = deque()
    clusters: list[list[int]] = []
    previous: int | None = None
    for pos in positions:
        window.append(pos)
        while window[0] < pos - config.window_size:
            window.popleft()
        if len(window) > config.cluster_cut_off:
            if clusters and clusters[-1][-1] == previous:
                clusters[-1].append(pos)
            else:
                clusters.append(list(window))
        previous = pos
    return clusters


def rule_snp_clusters(positions: Iterable[int], config: SnpClustersConfig) -> RuleResult | None:
    """Score the clusters of substitutions at ``positions`` (0-based, ascending).

    Items name each cluster 1-based with its substitutions: ``22992-23075 (8)``.
    """
    if not config.enabled:
        return None
    clusters = find_snp_clusters(positions, config)
    items = tuple(f"{c[0] + 1}-{c[-1] + 1} ({len(c)})" for c in clusters)
    return RuleResult.scored(RULE, len(clusters) * config.score_weight, len(clusters), items)
