"""QC settings: calling.md's thresholds for every reference, known items per reference.

The thresholds are Nextclade's SARS-CoV-2 values, which calling.md states for every
reference (missing data: 300 N free, 100 at 3000; mixed sites: 100 at 10; frameshifts and stops
75 each; SNP clusters: more than 6 substitutions within 100 nt, 50 each).

*Known* frameshifts and stop codons (found, listed, not scored) exist only for SARS-CoV-2: the
lists Nextclade's SARS-CoV-2 dataset declared on 2021-09-30 (its changelog; positions there are
1-based, as written below). Nextclade's current dataset lists many more (hundreds of ORF3a,
ORF6, ORF7a, ORF7b and ORF8 frameshifts); they are not copied here. Other references have no
known items, so every frameshift and premature stop there scores.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from analyses.calling.qc.frameshifts import FrameshiftsConfig
from analyses.calling.qc.missing_data import MissingDataConfig
from analyses.calling.qc.mixed_sites import MixedSitesConfig
from analyses.calling.qc.snp_clusters import SnpClustersConfig
from analyses.calling.qc.stop_codons import StopCodonsConfig


@dataclass(frozen=True)
class QcConfig:
    """The settings of every rule, one config object each."""

    missing_data: MissingDataConfig = field(default_factory=MissingDataConfig)
    mixed_sites: MixedSitesConfig = field(default_factory=MixedSitesConfig)
    frameshifts: FrameshiftsConfig = field(default_factory=FrameshiftsConfig)
    stop_codons: StopCodonsConfig = field(default_factory=StopCodonsConfig)
    snp_clusters: SnpClustersConfig = field(default_factory=SnpClustersConfig)


def known_stops(text: str) -> frozenset[tuple[str, int]]:
    """``"ORF8:27 ORF8:68"`` (1-based codons) → ``{("ORF8", 26), ("ORF8", 67)}`` (0-based).

    >>> sorted(known_stops("ORF8:27 ORF8:68"))
    [('ORF8', 26), ('ORF8', 67)]
    """
    result = set()
    for item in text.split():
        cds, codon = item.rsplit(":", 1)
        result.add((cds, int(codon) - 1))
    return frozenset(result)


def known_frameshifts(text: str) -> frozenset[tuple[str, int, int]]:
    """``"ORF3a:257-276"`` (1-based inclusive codons) → ``{("ORF3a", 256, 276)}`` (half-open).

    >>> sorted(known_frameshifts("ORF3a:257-276"))
    [('ORF3a', 256, 276)]
    """
    result = set()
    for item in text.split():
        cds, span = item.rsplit(":", 1)
        first, last = span.split("-")
        result.add((cds, int(first) - 1, int(last)))
    return frozenset(result)


#: Nextclade SARS-CoV-2 dataset 2021-09-30: known stops and frameshifts (1-based)
SARS_COV_2_STOPS = (
    "ORF7a:62 ORF7a:94 ORF7b:33 ORF7b:39 ORF8:18 ORF8:19 ORF8:26 ORF8:27 ORF8:59 ORF8:67 "
    "ORF8:68 ORF8:106"
)
SARS_COV_2_FRAMESHIFTS = (
    "ORF3a:257-276 ORF3a:259-276 ORF7a:62-122 ORF7a:63-122 ORF7a:77-122 ORF7a:102-122 "
    "ORF7b:42-44 ORF8:108-122 ORF8:120-122 ORF8:121-122 ORF8:122-123"
)

SARS_COV_2 = QcConfig(
    frameshifts=FrameshiftsConfig(known=known_frameshifts(SARS_COV_2_FRAMESHIFTS)),
    stop_codons=StopCodonsConfig(known=known_stops(SARS_COV_2_STOPS)),
)

#: per reference accession without version: its settings (others get :class:`QcConfig()`)
CONFIGS: dict[str, QcConfig] = {"MN908947": SARS_COV_2, "NC_045512": SARS_COV_2}


@functools.cache
def config_for(accession: str) -> QcConfig:
    """The QC settings of a reference (by accession, with or without version)."""
    return CONFIGS.get(accession.split(".")[0], QcConfig())
