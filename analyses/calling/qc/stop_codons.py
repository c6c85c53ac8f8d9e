"""QC rule *premature stop codons* (Nextclade's "S"): a stop codon inside a CDS.

A premature stop is an amino-acid substitution to ``*`` (``ORF8:Q27*``); the CDS's own stop
codon is the residue after the protein and has reference ``*``, so it never counts. Residues
masked after a frameshift are not called, so stops there do not count either (as in Nextclade,
which masks them). Stops inside inserted residues are not counted (Nextclade strips
insertions before looking). Each stop not listed as known scores ``score_weight``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from analyses.calling.types import AA_SUBSTITUTION, AaMutation, RuleResult

RULE = "stop_codons"


@dataclass(frozen=True)
class StopCodon:
    """:param codon: 0-based residue of the stop in the CDS; :param label: ``ORF8:Q27*``."""

    cds: str
    codon: int
    label: str


@dataclass(frozen=True)
class StopCodonsConfig:
    """:param known: stops not scored, as ``(cds, codon)`` with the codon 0-based (Nextclade's
    ``ignoredStopCodons``)."""

    enabled: bool = True
    score_weight: float = 75.0
    known: frozenset[tuple[str, int]] = frozenset()


def find_stop_codons(aa_mutations: Iterable[AaMutation]) -> tuple[StopCodon, ...]:
    """The premature stops among a sequence's amino-acid calls, in call order."""
    return tuple(
        StopCodon(m.cds, m.start, m.label)
        for m in aa_mutations
        if m.kind == AA_SUBSTITUTION and m.alt == "*" and m.ref != "*"
    )


def rule_stop_codons(stops: Iterable[StopCodon], config: StopCodonsConfig) -> RuleResult | None:
    """Score the premature stops not listed as known; ``None`` when the rule is disabled.

    >>> rule_stop_codons([StopCodon("ORF8", 26, "ORF8:Q27*")], StopCodonsConfig()).score
    75.0
    """
    if not config.enabled:
        return None
    scored, known = [], []
    for stop in stops:
        (known if (stop.cds, stop.codon) in config.known else scored).append(stop.label)
    return RuleResult.scored(
        RULE, len(scored) * config.score_weight, len(scored), tuple(scored), tuple(known)
    )
