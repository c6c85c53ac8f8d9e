"""Sequence QC: Nextclade's rules that need no tree, one pure function per rule.

``run_qc(result, sequence, replicon, config)`` rates one called sequence: missing data
(:mod:`.missing_data`), mixed sites (:mod:`.mixed_sites`), frameshifts (:mod:`.frameshifts`),
premature stop codons (:mod:`.stop_codons`) and SNP clusters (:mod:`.snp_clusters`), each a
:class:`RuleResult` with Nextclade's score and status, plus the coverage (:mod:`.coverage`,
reported, not scored). The overall score is Nextclade's: the sum of the squared rule scores
divided by 100, rated good (< 30), mediocre (30 to < 100) or bad (>= 100). Settings:
:mod:`.config`. Framework-free, like the rest of the calling core.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from analyses.calling.compiled import CompiledReplicon
from analyses.calling.qc.config import QcConfig, config_for
from analyses.calling.qc.coverage import coverage
from analyses.calling.qc.frameshifts import find_frameshifts, rule_frameshifts
from analyses.calling.qc.missing_data import rule_missing_data
from analyses.calling.qc.mixed_sites import rule_mixed_sites
from analyses.calling.qc.snp_clusters import rule_snp_clusters, substitution_positions
from analyses.calling.qc.stop_codons import find_stop_codons, rule_stop_codons
from analyses.calling.types import NT_AMBIGUOUS, QcResult, QcStatus, RuleResult, SequenceResult

__all__ = [
    "QcConfig",
    "QcResult",
    "QcStatus",
    "RuleResult",
    "attach_qc",
    "base_counts",
    "config_for",
    "overall_score",
    "qc_issues",
    "qc_json",
    "run_qc",
]


def base_counts(sequence: str) -> tuple[int, int]:
    """``(N bases, other non-ACGT bases)`` of a harmonised (upper-case, gap-free) sequence."""
    acgt = sum(sequence.count(b) for b in "ACGT")
    n = sequence.count("N")
    return n, len(sequence) - acgt - n


def overall_score(rules: tuple[RuleResult, ...]) -> float:
    """Nextclade's overall score: ``sum(score ** 2) / 100`` over the enabled rules.

    >>> overall_score((RuleResult.scored("frameshifts", 75, 1),))
    56.25
    """
    return sum(r.score**2 for r in rules) / 100.0


def run_qc(
    result: SequenceResult, sequence: str, replicon: CompiledReplicon, config: QcConfig
) -> QcResult:
    """Rate one called sequence.

    :param result: the calls of ``sequence`` against ``replicon``.
    :param sequence: the harmonised query (its N and mixed bases are counted; all of them,
        also in insertions and overhangs, which Nextclade's aligned query leaves out).
    """
    n, mixed = base_counts(sequence)
    ambiguous = sum(1 for m in result.nt_mutations if m.kind == NT_AMBIGUOUS)
    rules = tuple(
        r
        for r in (
            rule_missing_data(n, config.missing_data),
            rule_mixed_sites(mixed, config.mixed_sites),
            rule_frameshifts(find_frameshifts(result.nt_mutations, replicon), config.frameshifts),
            rule_stop_codons(find_stop_codons(result.aa_mutations), config.stop_codons),
            rule_snp_clusters(substitution_positions(result.nt_mutations), config.snp_clusters),
        )
        if r is not None
    )
    score = overall_score(rules)
    return QcResult(
        score=score,
        status=QcStatus.from_score(score).value,
        coverage=coverage(result.covered, result.missing, ambiguous, len(replicon.sequence)),
        missing_data=n,
        mixed_sites=mixed,
        rules=rules,
    )


def attach_qc(
    result: SequenceResult, sequence: str, replicon: CompiledReplicon, accession: str
) -> SequenceResult:
    """``result`` with its :class:`QcResult` (settings of reference ``accession``)."""
    return replace(result, qc=run_qc(result, sequence, replicon, config_for(accession)))


def qc_json(qc: QcResult) -> dict[str, Any]:
    """The QC of one sequence as stored (``Alignment.qc``) and shown by the API.

    ``{"status", "score", "coverage", "missing_data", "mixed_sites", "rules": {rule: {"score",
    "status", "count", "items", "known"}}}`` (``items``/``known`` only when not empty); scores
    rounded to 2 decimals, coverage to 4.
    """
    return {
        "status": qc.status,
        "score": round(qc.score, 2),
        "coverage": round(qc.coverage, 4),
        "missing_data": qc.missing_data,
        "mixed_sites": qc.mixed_sites,
        "rules": {r.rule: _rule_json(r) for r in qc.rules},
    }


def _rule_json(rule: RuleResult) -> dict[str, Any]:
    data: dict[str, Any] = {
        "score": round(rule.score, 2),
        "status": rule.status,
        "count": rule.count,
    }
    # empty lists left out: ~0.5 kB less per stored alignment (≈0.15 GB at 1M sequences)
    if rule.items:
        data["items"] = list(rule.items)
    if rule.known:
        data["known"] = list(rule.known)
    return data


def qc_issues(data: Mapping[str, Any], items: int = 5) -> list[str]:
    """Why a sequence is not good: one phrase per rule that scored, worst first.

    :param data: :func:`qc_json` of the sequence (as stored), so stored QC reads the same.
    :param items: items listed per rule at most.

    >>> qc_issues({"rules": {"frameshifts": {"score": 75, "status": "mediocre", "count": 1,
    ...     "items": ["ORF1b:525-2696"], "known": []}}})
    ['frameshifts 1 [ORF1b:525-2696] (score 75, mediocre)']
    """
    rules = sorted(data.get("rules", {}).items(), key=lambda item: -item[1]["score"])
    return [
        f"{name} {rule['count']}"
        + (f" [{', '.join(rule['items'][:items])}]" if rule.get("items") else "")
        + f" (score {rule['score']:.0f}, {rule['status']})"
        for name, rule in rules
        if rule["score"] > 0
    ]
