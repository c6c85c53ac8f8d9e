"""A reference prepared for calling: CDS sequences, proteins and fast position look-ups.

Built once per process from a :class:`~analyses.calling.reference.ReferenceSpec` and never
changed afterwards, so worker processes can share nothing mutable between sequences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from analyses.calling.codons import codon_table, reverse_complement
from analyses.calling.reference import CdsSpec, GeneSpec, ReferenceSpec, Segment

#: bin width of the position index (nt)
_BIN = 512
#: upstream/downstream window of SnpEff (nt)
UPDOWN = 5000


@dataclass(frozen=True)
class CompiledCds:
    """A CDS ready for translation: segments trimmed by ``codon_start``, nt in transcript order.

    ``protein`` is the reference protein plus ``*`` when the CDS ends with a stop codon, so a
    lost stop is a normal substitution (``ORF8:*122Q``).
    """

    spec: CdsSpec
    symbol: str
    strand: int
    segments: tuple[Segment, ...]
    nt: str
    protein: str
    table: dict[str, str] = field(repr=False)
    start: int = 0
    end: int = 0

    def offsets(self, position: int) -> list[int]:
        """CDS offsets (0-based) of a replicon position: none, one, or two (ribosomal slippage)."""
        result = []
        offset = 0
        for seg in self.segments:
            if seg.start <= position < seg.end:
                result.append(
                    offset + position - seg.start
                    if seg.strand == 1
                    else offset + seg.end - 1 - position
                )
            offset += seg.end - seg.start
        return result

    def range_offsets(self, start: int, end: int) -> list[tuple[int, int]]:
        """CDS offset ranges covered by replicon range ``[start, end)``, in transcript order."""
        result = []
        offset = 0
        for seg in self.segments:
            lo, hi = max(start, seg.start), min(end, seg.end)
            if lo < hi:
                if seg.strand == 1:
                    result.append((offset + lo - seg.start, offset + hi - seg.start))
                else:
                    result.append((offset + seg.end - hi, offset + seg.end - lo))
            offset += seg.end - seg.start
        return result

    def insertion_offset(self, anchor: int) -> int | None:
        """CDS offset after which bases inserted after replicon position ``anchor`` go, if inside.

        Inside means both flanking bases belong to one segment; on the minus strand the
        insertion comes after the base to its right (transcript order).
        """
        offset = 0
        for seg in self.segments:
            if seg.strand == 1:
                if seg.start <= anchor and anchor + 1 < seg.end:
                    return offset + anchor - seg.start
            elif seg.start <= anchor and anchor + 1 < seg.end:
                return offset + seg.end - 1 - (anchor + 1)
            offset += seg.end - seg.start
        return None


@dataclass(frozen=True)
class CompiledReplicon:
    accession: str
    sequence: str
    cds: tuple[CompiledCds, ...]
    genes: tuple[GeneSpec, ...]
    cds_bins: dict[int, tuple[int, ...]] = field(repr=False)
    gene_bins: dict[int, tuple[int, ...]] = field(repr=False)

    def cds_overlapping(self, start: int, end: int) -> list[CompiledCds]:
        """CDS with a segment overlapping ``[start, end)`` (``end > start``), in file order.

        Called several times per mutation, so it works on bin indexes and sorts integers (not
        ``tuple.index`` on dataclasses, which compared whole CDS objects field by field).
        """
        last = (max(end, start + 1) - 1) // _BIN
        first = start // _BIN
        if first == last:
            candidates: tuple[int, ...] | set[int] = self.cds_bins.get(first, ())
        else:
            candidates = set()
            for b in range(first, last + 1):
                candidates.update(self.cds_bins.get(b, ()))
        result = []
        for index in sorted(candidates):
            cds = self.cds[index]
            for s in cds.segments:
                if s.start < end and start < s.end:
                    result.append(cds)
                    break
        return result

    def genes_near(self, start: int, end: int) -> list[GeneSpec]:
        """Genes within :data:`UPDOWN` nt of ``[start, end)`` (overlapping ones included)."""
        seen: set[int] = set()
        result = []
        for b in range((start - UPDOWN) // _BIN, (end + UPDOWN) // _BIN + 1):
            for index in self.gene_bins.get(b, ()):
                if index not in seen:
                    seen.add(index)
                    result.append(self.genes[index])
        return result


@dataclass(frozen=True)
class CompiledReference:
    """What the engine needs of a reference, indexed."""

    spec: ReferenceSpec
    replicons: dict[str, CompiledReplicon]

    @property
    def multi_replicon(self) -> bool:
        return len(self.replicons) > 1


def _bins(spans: Sequence[Sequence[tuple[int, int]]]) -> dict[int, tuple[int, ...]]:
    bins: dict[int, list[int]] = {}
    for index, parts in enumerate(spans):
        for start, end in parts:
            for b in range(start // _BIN, (end - 1) // _BIN + 1):
                bins.setdefault(b, []).append(index)
    return {b: tuple(dict.fromkeys(v)) for b, v in bins.items()}


def compile_cds(spec: CdsSpec, sequence: str) -> CompiledCds:
    trim = spec.codon_start - 1
    segments = list(spec.segments)
    if trim:
        first = segments[0]
        segments[0] = (
            Segment(first.start + trim, first.end, 1)
            if first.strand == 1
            else Segment(first.start, first.end - trim, -1)
        )
    nt = "".join(
        sequence[s.start : s.end]
        if s.strand == 1
        else reverse_complement(sequence[s.start : s.end])
        for s in segments
    )
    table = codon_table(spec.transl_table)
    protein = spec.translation
    n = len(protein)
    if table.get(nt[3 * n : 3 * n + 3]) == "*":
        protein += "*"
    return CompiledCds(
        spec=spec,
        symbol=spec.symbol,
        strand=spec.strand,
        segments=tuple(segments),
        nt=nt,
        protein=protein,
        table=table,
        start=min(s.start for s in segments),
        end=max(s.end for s in segments),
    )


def compile_reference(reference: ReferenceSpec) -> CompiledReference:
    """Prepare ``reference`` for calling (CDS sequences, proteins, bin indexes)."""
    replicons = {}
    for replicon in reference.replicons:
        cds = tuple(compile_cds(c, replicon.sequence) for c in replicon.cds)
        genes = list(replicon.genes)
        named = {g.symbol for g in genes}
        for c in replicon.cds:  # a CDS without gene feature still counts as a gene
            if (c.gene_symbol or c.symbol) not in named:
                genes.append(GeneSpec(c.symbol, c.locus_tag, c.product, c.start, c.end, c.strand))
                named.add(c.symbol)
        replicons[replicon.accession] = CompiledReplicon(
            accession=replicon.accession,
            sequence=replicon.sequence,
            cds=cds,
            genes=tuple(genes),
            cds_bins=_bins([[(s.start, s.end) for s in c.segments] for c in cds]),
            gene_bins=_bins([[(g.start, g.end)] for g in genes]),
        )
    return CompiledReference(reference, replicons)
