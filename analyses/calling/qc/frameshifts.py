"""QC rule *frameshifts* (Nextclade's "F"): CDS stretches read in a shifted frame.

A frameshift is what Nextclade calls one: the stretch of a CDS from the first base after an
indel that shifts the frame to the indel that restores it (or to the end of the CDS), so a
compensating pair of indels is **one** frameshift. Its codon range is 0-based half-open
internally (Nextclade's ``codonRange``) and printed 1-based inclusive (``ORF3a:257-276``, as
Nextclade's lists write it). Each frameshift not listed as known scores ``score_weight``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from analyses.calling.compiled import CompiledReplicon
from analyses.calling.types import NT_DELETION, NT_INSERTION, NtMutation, RuleResult

RULE = "frameshifts"
FRAMESHIFT_TERM = "frameshift_variant"


@dataclass(frozen=True)
class Frameshift:
    """A frame-shifted stretch of one CDS.

    :param codon_start: first codon of the stretch, 0-based.
    :param codon_end: codon after the stretch (half-open).
    :param mutations: labels of the nucleotide indels that shift and restore the frame.
    """

    cds: str
    codon_start: int
    codon_end: int
    mutations: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """1-based inclusive codon range, Nextclade's notation: ``ORF3a:257-276``."""
        return f"{self.cds}:{self.codon_start + 1}-{self.codon_end}"


@dataclass(frozen=True)
class FrameshiftsConfig:
    """:param known: frameshifts not scored, as ``(cds, codon_start, codon_end)``, 0-based
    half-open (Nextclade's ``ignoredFrameShifts``); matched exactly, as Nextclade does."""

    enabled: bool = True
    score_weight: float = 75.0
    known: frozenset[tuple[str, int, int]] = frozenset()


def find_frameshifts(
    nt_mutations: Iterable[NtMutation], replicon: CompiledReplicon
) -> tuple[Frameshift, ...]:
    """The frameshifts of a sequence's calls, per CDS in reference order.

    Uses the indels the engine flagged with ``frameshift_variant`` for a CDS; walks them in
    transcript order with a frame counter (deleted bases shift it by ``-len``, inserted ones by
    ``+len``, modulo 3).
    """
    mutations = [m for m in nt_mutations if m.frameshift]
    found: list[Frameshift] = []
    if not mutations:
        return ()
    for cds in replicon.cds:
        events: list[tuple[int, int, int, str]] = []  # (first offset, after, shift, label)
        for m in mutations:
            if not any(e.cds == cds.symbol and e.so_term == FRAMESHIFT_TERM for e in m.effects):
                continue
            if m.kind == NT_DELETION:
                parts = cds.range_offsets(m.start, m.end)
                if parts:
                    lo, hi = min(p[0] for p in parts), max(p[1] for p in parts)
                    events.append((lo, hi, -sum(b - a for a, b in parts), m.label))
            elif m.kind == NT_INSERTION and m.end > m.start:
                offset = cds.insertion_offset(m.start)
                if offset is not None:
                    events.append((offset + 1, offset + 1, len(m.alt) - len(m.ref), m.label))
        frame, begin, labels = 0, 0, []
        for lo, after, shift, label in sorted(events):
            before, frame = frame, (frame + shift) % 3
            labels.append(label)
            if before == 0 and frame != 0:
                begin = after
            elif before != 0 and frame == 0:
                found.append(Frameshift(cds.symbol, begin // 3, -(-lo // 3), tuple(labels)))
                labels = []
            elif before == 0:
                labels = []  # an in-frame change of the counter: not part of a frameshift
        if frame != 0:
            found.append(Frameshift(cds.symbol, begin // 3, -(-len(cds.nt) // 3), tuple(labels)))
    return tuple(found)


def rule_frameshifts(
    frameshifts: Iterable[Frameshift], config: FrameshiftsConfig
) -> RuleResult | None:
    """Score the frameshifts not listed as known; ``None`` when the rule is disabled."""
    if not config.enabled:
        return None
    scored, known = [], []
    for fs in frameshifts:
        is_known = (fs.cds, fs.codon_start, fs.codon_end) in config.known
        (known if is_known else scored).append(fs.label)
    return RuleResult.scored(
        RULE, len(scored) * config.score_weight, len(scored), tuple(scored), tuple(known)
    )
