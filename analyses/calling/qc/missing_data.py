"""QC rule *missing data* (Nextclade's "N"): too many N bases.

Free up to ``score_bias`` N, then the score rises linearly and reaches 100 at
``score_bias + missing_data_threshold`` N (SARS-CoV-2: 300 and 2700, i.e. 100 at 3000 N).
"""

from __future__ import annotations

from dataclasses import dataclass

from analyses.calling.types import RuleResult

RULE = "missing_data"


@dataclass(frozen=True)
class MissingDataConfig:
    """:param score_bias: N bases tolerated before the score rises.
    :param missing_data_threshold: N bases beyond ``score_bias`` at which the score is 100."""

    enabled: bool = True
    score_bias: float = 300.0
    missing_data_threshold: float = 2700.0


def rule_missing_data(total_missing: int, config: MissingDataConfig) -> RuleResult | None:
    """Score ``total_missing`` N bases; ``None`` when the rule is disabled.

    >>> rule_missing_data(1650, MissingDataConfig()).score
    50.0
    >>> rule_missing_data(120, MissingDataConfig()).status
    'good'
    """
    if not config.enabled:
        return None
    score = (total_missing - config.score_bias) * 100.0 / config.missing_data_threshold
    return RuleResult.scored(RULE, score, total_missing)
