"""Alignment with minimap2 (mappy): one aligner per replicon, hits stitched into one chain.

minimap2 splits a genome into several hits at long N runs, large deletions, divergent
stretches and dense indel+SNV clusters; what lies between two hits, and clipped ends, is
realigned by :mod:`analyses.calling.realign`. Everything here works on the cs tag, which says
per operation what happened, so no per-base loop over the genome is needed.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import mappy

from analyses.calling.codons import reverse_complement
from analyses.calling.reference import ReferenceSpec, RepliconSpec
from emgsonar.errors import ReferenceDataError

logger = logging.getLogger(__name__)

#: minimap2 preset: whole-genome assembly to reference, <1% divergence expected (viruses)
PRESET = "asm5"
#: sensitive preset, tried only for a record no replicon aligns to with :data:`PRESET`: it
#: aligns strains 15-20% divergent from the reference (A/PR/8/34 against pdm09 influenza)
FALLBACK_PRESET = "map-ont"
#: a fallback alignment must cover at least this share of the query's non-N bases; less is a
#: conserved stretch of a related virus (hMPV's L gene on RSV), not the same organism
FALLBACK_MIN_QUERY_FRACTION = 0.5
#: an ``asm5`` chain that leaves more non-N query bases than this out, opposite reference
#: bases, is retried with :data:`FALLBACK_PRESET` (and the better of the two kept): that much
#: is a divergent strain, too long for the realignment of :mod:`analyses.calling.realign`,
#: which closes the short stretches (dense mutation clusters, clipped ends) in either case
SENSITIVE_ABOVE_LEFT_OUT = 500
#: cs operations; a run of mismatches against query ``n`` (N runs, but also IUPAC codes, which
#: minimap2 writes as ``n``) is one match group, so long N runs cost one op, not one per base
_CS = re.compile(r":(\d+)|((?:\*[a-z]n)+)|\*([a-z])([a-z])|([+\-])([a-z]+)")


def build_aligners(reference: ReferenceSpec, preset: str = PRESET) -> dict[str, mappy.Aligner]:
    """Build one mappy index per replicon (about 1.5 ms for 30 kb); do it once per process.

    ``sc_ambi=0`` (minimap2 ``--score-N=0``) keeps one hit across long N runs.

    :raises ReferenceDataError: a replicon has no sequence (annotation-only GenBank record).
    """
    return {r.accession: _build(r, preset) for r in reference.replicons}


def _build(replicon: RepliconSpec, preset: str) -> mappy.Aligner:
    accession = replicon.accession
    if not replicon.has_sequence:
        raise ReferenceDataError(
            "replicon has no sequence, so nothing can be aligned to it",
            record_id=accession,
            path=replicon.source_path or None,
            hint="Use a GenBank file with the sequence (ORIGIN section)",
        )
    aligner = mappy.Aligner(seq=replicon.sequence, preset=preset, sc_ambi=0)
    if not aligner:
        raise ReferenceDataError("minimap2 could not index the replicon", record_id=accession)
    return aligner


class LazyAligners(Mapping[str, mappy.Aligner]):
    """One mappy index per replicon with ``preset``, each built on first use, then kept.

    For the fallback preset: most processes never need it, so it costs nothing until a record
    fails the primary preset; then it is built once per process and replicon.
    """

    def __init__(self, reference: ReferenceSpec, preset: str = FALLBACK_PRESET) -> None:
        self.preset = preset
        self._replicons = {r.accession: r for r in reference.replicons}
        self._built: dict[str, mappy.Aligner] = {}

    def __getitem__(self, accession: str) -> mappy.Aligner:
        aligner = self._built.get(accession)
        if aligner is None:
            aligner = _build(self._replicons[accession], self.preset)
            self._built[accession] = aligner
        return aligner

    def __iter__(self) -> Iterator[str]:
        return iter(self._replicons)

    def __len__(self) -> int:
        return len(self._replicons)


@dataclass
class Hit:
    """One alignment hit as operations with absolute coordinates (mutable while stitching).

    ``ops`` items: ``("=", r, q, n)`` match run; ``("X", r, q, n)`` n mismatches (n > 1 only
    for a run of query ``n``: N or IUPAC codes); ``("I", r, q, n)`` n query bases inserted
    before reference position ``r``; ``("D", r, q, n)`` n reference bases deleted.
    """

    r_st: int
    r_en: int
    q_st: int
    q_en: int
    mlen: int
    ops: list[tuple[str, int, int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class Alignment:
    """The stitched chain of one query against one replicon."""

    replicon: str
    query: str  # forward strand (reverse-complemented when needed)
    reverse_complemented: bool
    hits: tuple[Hit, ...]
    preset: str = PRESET

    @property
    def score(self) -> int:
        return sum(hit.mlen for hit in self.hits)

    @property
    def query_fraction(self) -> float:
        """Share of the query's non-N bases inside the stitched hits."""
        query = self.query
        total = len(query) - query.count("N")
        aligned = sum(h.q_en - h.q_st - query.count("N", h.q_st, h.q_en) for h in self.hits)
        return aligned / total if total else 0.0


def _parse_cs(cs: str, r: int, q: int) -> list[tuple[str, int, int, int]]:
    ops: list[tuple[str, int, int, int]] = []
    append = ops.append
    for match, n_run, ref_base, _query_base, indel, bases in _CS.findall(cs):
        if match:
            n = int(match)
            append(("=", r, q, n))
            r += n
            q += n
        elif n_run:
            n = len(n_run) // 3
            append(("X", r, q, n))
            r += n
            q += n
        elif ref_base:
            append(("X", r, q, 1))
            r += 1
            q += 1
        elif indel == "+":
            append(("I", r, q, len(bases)))
            q += len(bases)
        else:
            append(("D", r, q, len(bases)))
            r += len(bases)
    return ops


def _map(aligner: mappy.Aligner, query: str) -> list[mappy.Alignment]:
    return [hit for hit in aligner.map(query, cs=True) if hit.is_primary]


def align(
    query: str,
    aligners: Mapping[str, mappy.Aligner],
    replicon: str | None = None,
    *,
    preset: str = PRESET,
) -> Alignment | None:
    """Align ``query`` to the best replicon (or the named one) and stitch its primary hits.

    :param preset: the preset ``aligners`` were built with (recorded on the alignment).
    :returns: ``None`` when nothing aligns.
    """
    candidates = {replicon: aligners[replicon]} if replicon else aligners
    best: tuple[int, str, list[mappy.Alignment]] | None = None
    for accession, aligner in candidates.items():
        hits = _map(aligner, query)
        if hits:
            score = sum(h.mlen for h in hits)
            if best is None or score > best[0]:
                best = (score, accession, hits)
    if best is None:
        return None
    _, accession, hits = best
    forward = sum(h.mlen for h in hits if h.strand == 1)
    reverse = sum(h.mlen for h in hits if h.strand == -1)
    reverse_complemented = reverse > forward
    if reverse_complemented:
        query = reverse_complement(query)
        hits = _map(candidates[accession], query)
    hits = [h for h in hits if h.strand == 1]
    if not hits:
        return None
    chain = _stitch(
        [Hit(h.r_st, h.r_en, h.q_st, h.q_en, h.mlen, _parse_cs(h.cs, h.r_st, h.q_st)) for h in hits]
    )
    return Alignment(accession, query, reverse_complemented, tuple(chain), preset)


def _stitch(hits: list[Hit]) -> list[Hit]:
    """Keep the best collinear chain (most matching bases) and trim overlaps between its hits."""
    hits.sort(key=lambda h: (h.r_st, h.q_st))
    n = len(hits)
    score = [h.mlen for h in hits]
    back = [-1] * n
    for j in range(n):
        for i in range(j):
            a, b = hits[i], hits[j]
            if b.r_en > a.r_en and b.q_en > a.q_en and b.r_st >= a.r_st and b.q_st >= a.q_st:
                if score[i] + b.mlen > score[j]:
                    score[j] = score[i] + b.mlen
                    back[j] = i
    j = max(range(n), key=lambda k: score[k])
    chain: list[Hit] = []
    while j >= 0:
        chain.append(hits[j])
        j = back[j]
    chain.reverse()
    for prev, hit in itertools.pairwise(chain):
        if hit.r_st < prev.r_en or hit.q_st < prev.q_en:
            _trim_start(hit, prev.r_en, prev.q_en)
    return chain


def _trim_start(hit: Hit, r_min: int, q_min: int) -> None:
    """Drop the part of ``hit`` before reference ``r_min`` and query ``q_min`` (in place)."""
    ops = hit.ops
    kept: list[tuple[str, int, int, int]] = []
    for index, (kind, r, q, n) in enumerate(ops):
        if kind in ("=", "X"):  # runs of aligned bases can be cut anywhere
            skip = max(r_min - r, q_min - q, 0)
            if skip < n:
                kept = [(kind, r + skip, q + skip, n - skip), *ops[index + 1 :]]
                break
    else:
        kept = []
    # an alignment must start with an aligned base; indels at the new start are dropped above
    hit.ops = kept
    if kept:
        hit.r_st, hit.q_st = kept[0][1], kept[0][2]
    else:
        hit.r_st, hit.q_st = hit.r_en, hit.q_en
