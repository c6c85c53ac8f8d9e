"""Expected calls from the input genomes by a route independent of the calling engine.

Each genome is aligned to the reference around the site of interest with Biopython's
``PairwiseAligner`` (local, affine gaps; not minimap2), codons are translated with Biopython's
``Seq.translate`` (not ``analyses.calling.codons``), and CDS coordinates come from the GenBank
file read by ``Bio.SeqIO`` (not our reference parser). An indel is recognised by the genome's
text alone (the reference flanks joined around it), so any placement of the gap an aligner might
choose gives the same answer. Positions here are 1-based, as in the labels.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

from Bio import Align, SeqIO
from Bio.Seq import Seq

#: reference bases on each side of a site in the aligned window
WINDOW_FLANK = 150
#: how far a genome position may be from the reference position (unsequenced ends, big deletions)
SEARCH_SLACK = 3000
#: reference bases on each side of an indel that its allele is judged on
INDEL_FLANK = 6
#: differences (SNVs) allowed in those flanks
MAX_FLANK_MISMATCHES = 2


@dataclass(frozen=True)
class Reference:
    """The reference sequence and its CDS starts (0-based), by gene name."""

    sequence: str
    cds_start: dict[str, int]


@functools.cache
def read_reference(genbank: Path) -> Reference:
    """The reference of a one-record GenBank file, read by Biopython."""
    record = SeqIO.read(genbank, "genbank")
    starts = {
        feature.qualifiers["gene"][0]: int(feature.location.start)
        for feature in record.features
        if feature.type == "CDS"
    }
    return Reference(str(record.seq).upper(), starts)


@functools.cache
def _aligner() -> Align.PairwiseAligner:
    return Align.PairwiseAligner(
        mode="local", match_score=2, mismatch_score=-3, open_gap_score=-8, extend_gap_score=-1
    )


def genome_bases(
    ref: Reference, genome: str, first: int, last: int, flank: int = WINDOW_FLANK
) -> str | None:
    """The genome's bases aligned to reference positions ``first``..``last`` (1-based,
    inclusive), insertions between them included; None if that stretch is not all aligned
    (unsequenced, or at the edge of the local alignment).

    :param flank: reference bases aligned on each side; longer than a deletion, so that the
        local alignment bridges it rather than stopping at it.
    """
    start, end = first - 1, last
    w0 = max(0, start - flank)
    window = ref.sequence[w0 : min(len(ref.sequence), end + flank)]
    g0 = max(0, start - SEARCH_SLACK)
    region = genome.upper()[g0 : end + SEARCH_SLACK]
    alignment = _aligner().align(window, region)[0]
    ref_index, genome_index = alignment.indices
    columns = [c for c, r in enumerate(ref_index) if start <= r + w0 < end]
    if len(columns) != end - start:
        return None
    span = range(columns[0], columns[-1] + 1)
    return "".join(region[genome_index[c]] for c in span if genome_index[c] >= 0)


def base_at(ref: Reference, genome: str, position: int) -> str | None:
    """The genome's base at a reference position (1-based); None where it is not aligned."""
    bases = genome_bases(ref, genome, position, position)
    return bases if bases is not None and len(bases) == 1 else None


def residue(ref: Reference, genome: str, gene: str, codon: int) -> str | None:
    """The amino acid the genome has at ``codon`` (1-based) of ``gene``; None for an unknown
    codon (not aligned, an indel in it, or any base other than A, C, G, T)."""
    first = ref.cds_start[gene] + (codon - 1) * 3 + 1
    bases = genome_bases(ref, genome, first, first + 2)
    if bases is None or len(bases) != 3 or set(bases) - set("ACGT"):
        return None
    return str(Seq(bases).translate())


def _mismatches(a: str, b: str) -> int:
    return sum(x != y for x, y in zip(a, b, strict=True))


def _carries(seg: str | None, alleles: list[str], ours: int) -> bool:
    """Whether the genome segment ``seg`` is the allele ``alleles[ours]``: same length, at most
    :data:`MAX_FLANK_MISMATCHES` other differences (SNVs next to the indel), and no other
    placement of the same indel (``alleles``) closer to it."""
    if seg is None or len(seg) != len(alleles[ours]):
        return False
    distance = {allele: _mismatches(seg, allele) for allele in alleles}
    best = min(distance.values())
    return distance[alleles[ours]] == best <= MAX_FLANK_MISMATCHES


def has_deletion(ref: Reference, genome: str, first: int, last: int) -> bool:
    """Whether the genome lacks reference positions ``first``..``last`` (1-based), judged on the
    genome's bases over the site and :data:`INDEL_FLANK` bases each side, against the same
    deletion shifted within that stretch (an equivalent placement in a repeat is the same allele).
    """
    lo, hi = first - INDEL_FLANK, last + INDEL_FLANK
    window = ref.sequence[lo - 1 : hi]
    size = last - first + 1
    alleles = [
        window[:start] + window[start + size :] for start in range(0, len(window) - size + 1)
    ]
    seg = genome_bases(ref, genome, lo, hi, flank=WINDOW_FLANK + size)
    return _carries(seg, alleles, INDEL_FLANK)


def has_insertion(ref: Reference, genome: str, after: int, inserted: str) -> bool:
    """Whether the genome has ``inserted`` right after reference position ``after`` (1-based),
    judged as :func:`has_deletion` is, against the same bases inserted elsewhere nearby."""
    lo, hi = after - INDEL_FLANK + 1, after + INDEL_FLANK
    window = ref.sequence[lo - 1 : hi]
    alleles = [window[:cut] + inserted + window[cut:] for cut in range(len(window) + 1)]
    return _carries(genome_bases(ref, genome, lo, hi), alleles, INDEL_FLANK)


def tree_descendants(tree: Path, roots: list[str]) -> set[str]:
    """The roots and every lineage below them, read from sonar's lineage TSV (``lineage``,
    ``sublineage`` as a comma list): not through our lineage import or graph."""
    with tree.open() as handle:
        children = {
            row["lineage"]: row["sublineage"].split(",")
            for row in csv.DictReader(handle, delimiter="\t")
        }
    found, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo += children.get(name, [])
    return found
