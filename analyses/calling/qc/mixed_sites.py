"""QC rule *mixed sites* (Nextclade's "M"): ambiguous bases (IUPAC codes other than N).

Many of them hint at a mixed infection or contamination. The score is
``100 * mixed / mixed_sites_threshold``, not capped: with SARS-CoV-2's threshold of 10, ten
mixed sites give 100 (bad), three give 30 (mediocre).
"""

from __future__ import annotations

from dataclasses import dataclass

from analyses.calling.types import RuleResult

RULE = "mixed_sites"


@dataclass(frozen=True)
class MixedSitesConfig:
    """:param mixed_sites_threshold: mixed sites at which the score reaches 100."""

    enabled: bool = True
    mixed_sites_threshold: int = 10


def rule_mixed_sites(total_mixed: int, config: MixedSitesConfig) -> RuleResult | None:
    """Score ``total_mixed`` non-ACGTN bases; ``None`` when the rule is disabled.

    >>> rule_mixed_sites(10, MixedSitesConfig()).status
    'bad'
    """
    if not config.enabled:
        return None
    score = 100.0 * total_mixed / config.mixed_sites_threshold
    return RuleResult.scored(RULE, score, total_mixed)
