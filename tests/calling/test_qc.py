"""Sequence QC: each rule with values worked out by hand, then real genomes counted by hand.

Expected values come from the rule definitions (Nextclade's, calling.md's thresholds), not
from our output: scores are computed here with the formula, N and mixed counts are counted in
the FASTA text with plain Python.
"""

from __future__ import annotations

import lzma
from pathlib import Path

import pytest

from analyses.calling.engine import Caller
from analyses.calling.qc import base_counts, overall_score, qc_json
from analyses.calling.qc.config import QcConfig, config_for, known_frameshifts, known_stops
from analyses.calling.qc.coverage import coverage
from analyses.calling.qc.frameshifts import Frameshift, FrameshiftsConfig, rule_frameshifts
from analyses.calling.qc.missing_data import MissingDataConfig, rule_missing_data
from analyses.calling.qc.mixed_sites import MixedSitesConfig, rule_mixed_sites
from analyses.calling.qc.snp_clusters import SnpClustersConfig, find_snp_clusters
from analyses.calling.qc.stop_codons import StopCodon, StopCodonsConfig, rule_stop_codons
from analyses.calling.types import QcStatus, RuleResult
from analyses.results_io import encode_results, read_results, write_results
from tests.calling.conftest import DATA
from tests.calling.helpers import mutate, record

SC2_12 = DATA / "sars-cov-2" / "SARS-CoV-2_12.fasta.xz"


# --- one rule at a time ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("n", "score", "status"),
    [(0, 0.0, "good"), (300, 0.0, "good"), (1110, 30.0, "mediocre"), (1650, 50.0, "mediocre"),
     (3000, 100.0, "bad"), (5700, 200.0, "bad")],
)  # fmt: skip
def test_missing_data(n: int, score: float, status: str) -> None:
    # 300 N free, then 100 / 2700 per N: (n - 300) / 27
    result = rule_missing_data(n, MissingDataConfig())
    assert result == RuleResult("missing_data", score, status, n)


@pytest.mark.parametrize(
    ("mixed", "score", "status"),
    [(0, 0.0, "good"), (2, 20.0, "good"), (3, 30.0, "mediocre"), (9, 90.0, "mediocre"),
     (10, 100.0, "bad"), (27, 270.0, "bad")],
)  # fmt: skip
def test_mixed_sites(mixed: int, score: float, status: str) -> None:
    assert rule_mixed_sites(mixed, MixedSitesConfig()) == RuleResult(
        "mixed_sites", score, status, mixed
    )


def test_disabled_rules_give_nothing() -> None:
    assert rule_missing_data(5000, MissingDataConfig(enabled=False)) is None
    assert rule_mixed_sites(50, MixedSitesConfig(enabled=False)) is None
    assert rule_stop_codons([], StopCodonsConfig(enabled=False)) is None


def test_snp_cluster_windows() -> None:
    config = SnpClustersConfig()
    # 7 substitutions within [pos - 100, pos]: the window keeps the one exactly 100 back
    assert find_snp_clusters([0, 10, 20, 30, 40, 50, 100], config) == [[0, 10, 20, 30, 40, 50, 100]]
    assert find_snp_clusters([0, 10, 20, 30, 40, 50, 101], config) == []
    # six is not "more than 6"
    assert find_snp_clusters([0, 10, 20, 30, 40, 50], config) == []
    # one dense run is one cluster, however long; two far apart are two
    assert find_snp_clusters(list(range(0, 90, 10)), config) == [list(range(0, 90, 10))]
    far = [*range(1000, 1070, 10), *range(5000, 5070, 10)]
    assert len(find_snp_clusters(far, config)) == 2


def test_frameshift_and_stop_rules_skip_known_items() -> None:
    config = FrameshiftsConfig(known=known_frameshifts("ORF3a:257-276"))
    shifts = [Frameshift("ORF3a", 256, 276), Frameshift("S", 100, 1274)]
    assert rule_frameshifts(shifts, config) == RuleResult(
        "frameshifts", 75.0, "mediocre", 1, ("S:101-1274",), ("ORF3a:257-276",)
    )
    stops = [StopCodon("ORF8", 26, "ORF8:Q27*"), StopCodon("S", 2, "S:V3*")]
    result = rule_stop_codons(
        stops, StopCodonsConfig(score_weight=75, known=known_stops("ORF8:27"))
    )
    assert (result.score, result.items, result.known) == (75.0, ("S:V3*",), ("ORF8:Q27*",))


def test_overall_score_and_status() -> None:
    # Nextclade: sum of squared rule scores / 100; a frameshift alone (75) is 56.25 = mediocre
    rules = (RuleResult.scored("frameshifts", 75, 1), RuleResult.scored("missing_data", 50, 1650))
    assert overall_score(rules) == pytest.approx((75**2 + 50**2) / 100)
    assert QcStatus.from_score(81.25) is QcStatus.MEDIOCRE
    assert QcStatus.from_score(29.999) is QcStatus.GOOD
    assert QcStatus.from_score(100.0) is QcStatus.BAD


def test_coverage_counts_deletions_as_covered() -> None:
    # 1000 nt covered, 100 of them N, 5 ambiguous calls, reference of 2000 nt
    assert coverage([(0, 1000)], [(100, 200)], 5, 2000) == pytest.approx(895 / 2000)
    # a missing stretch between two covered ranges takes nothing away
    assert coverage([(0, 10), (20, 30)], [(10, 20)], 0, 40) == pytest.approx(20 / 40)


def test_sars_cov_2_knows_nextclades_2021_lists() -> None:
    config = config_for("MN908947.3")
    assert ("ORF8", 26) in config.stop_codons.known  # ORF8:Q27* (Alpha)
    assert ("ORF3a", 256, 276) in config.frameshifts.known
    assert config_for("NC_045512.2") is config
    assert config_for("NC_063383.1") == QcConfig()  # mpox: thresholds only, nothing known


# --- through the engine ---------------------------------------------------------------------
def test_engine_frameshifts_with_cds_and_known_ones(sc2: Caller, sc2_ref) -> None:
    ref = sc2_ref.replicons[0].sequence
    # 1-nt deletion at 0-based 21862 (S offset 300): frame shifted from the next base, offset
    # 300 → codon 100 (0-based), never restored → to the end of S (1273 aa + stop = 1274)
    qc = sc2(record("s", mutate(ref, dels=[(21862, 21863)]))).qc
    assert qc.rule("frameshifts") == RuleResult("frameshifts", 75.0, "mediocre", 1, ("S:101-1274",))
    assert (qc.score, qc.status) == (56.25, "mediocre")
    # restored 30 nt later by a 2-nt deletion: one frameshift, codons 100 to 110 (offset 330)
    both = mutate(ref, dels=[(21862, 21863), (21892, 21894)])
    assert sc2(record("s2", both)).qc.rule("frameshifts").items == ("S:101-110",)
    # ORF3a offset 768 deleted (0-based 26160): shifted from codon 256 to the end (276) — the
    # known ORF3a:257-276 of Nextclade's list, found but not scored
    qc = sc2(record("orf3a", mutate(ref, dels=[(26160, 26161)]))).qc
    assert qc.rule("frameshifts") == RuleResult(
        "frameshifts", 0.0, "good", 0, (), ("ORF3a:257-276",)
    )
    assert qc.status == "good"


def test_engine_stop_codons(sc2: Caller, sc2_ref) -> None:
    ref = sc2_ref.replicons[0].sequence
    s_start = 21562
    # the first CAA/CAG codon of S becomes TAA/TAG (premature stop, not known)
    codon = next(
        i for i in range(0, 3819, 3) if ref[s_start + i : s_start + i + 3] in ("CAA", "CAG")
    )
    seq = mutate(ref, subs={s_start + codon: "T", 27971: "T"})  # + C27972T = ORF8:Q27* (known)
    qc = sc2(record("stops", seq)).qc
    assert qc.rule("stop_codons") == RuleResult(
        "stop_codons", 75.0, "mediocre", 1, (f"S:Q{codon // 3 + 1}*",), ("ORF8:Q27*",)
    )


def _fasta_records(path: Path) -> list[tuple[str, str]]:
    """(id, upper-case sequence) read with plain Python, independently of our reader."""
    records: list[tuple[str, list[str]]] = []
    with lzma.open(path, "rt") as handle:
        for line in handle:
            line = line.strip()
            if line.startswith(">"):
                records.append((line[1:].split()[0], []))
            elif line:
                records[-1][1].append(line.upper())
    return [(name, "".join(parts)) for name, parts in records]


def test_real_genomes_counts_by_hand(sc2: Caller) -> None:
    """SARS-CoV-2_12: N runs and IUPAC codes counted in the FASTA text, scores by formula."""
    raw = _fasta_records(SC2_12)
    assert len(raw) == 12
    seen_n = seen_mixed = 0
    for name, seq in raw:
        n = seq.count("N")
        mixed = sum(1 for ch in seq if ch not in "ACGTN")
        seen_n += n > 300
        seen_mixed += mixed > 0
        result = sc2(record(name, seq))
        qc = result.qc
        assert (qc.missing_data, qc.mixed_sites) == (n, mixed), name
        assert qc.rule("missing_data").score == pytest.approx(max(0.0, (n - 300) / 27)), name
        assert qc.rule("mixed_sites").score == pytest.approx(10.0 * mixed), name
        assert qc.score == pytest.approx(sum(r.score**2 for r in qc.rules) / 100), name
        assert qc.status == QcStatus.from_score(qc.score)
        # coverage per base: covered (deletions included), minus missing and ambiguous bases
        mask = bytearray(29903)
        for a, b in result.covered:
            mask[a:b] = b"\x01" * (b - a)
        for a, b in result.missing:
            mask[a:b] = bytes(b - a)
        for m in result.nt_mutations:
            if m.kind == "ambiguous":
                mask[m.start] = 0
        assert qc.coverage == pytest.approx(sum(mask) / 29903), name
        # at least the informative bases of the query (more where deletions count as covered)
        assert qc.coverage >= (len(seq) - n - mixed) / 29903 - 0.005, name
        stored = qc_json(qc)
        assert stored["rules"]["missing_data"]["count"] == n
    assert seen_n >= 3 and seen_mixed >= 3  # the file exercises both rules
    assert base_counts("ACGTNNRYK") == (2, 3)


def test_qc_round_trips_through_the_results_file(sc2: Caller, sc2_ref, tmp_path: Path) -> None:
    raw = _fasta_records(SC2_12)[:3]
    results = [sc2(record(name, seq)) for name, seq in raw]
    path = tmp_path / "RESULT.jsonl"
    write_results(path, sc2_ref, results)
    _, back = read_results(path)
    assert back == results
    assert all(r.qc is not None for r in back)
    assert len(encode_results(sc2_ref, results)) == len(path.read_text().splitlines())
