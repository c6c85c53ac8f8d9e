"""Effects of nucleotide mutations outside coding sequences (SnpEff's SO terms and impacts).

Coding effects come from :mod:`analyses.calling.translate`, where the amino-acid outcome is
known; here: upstream/downstream of genes within 5 kb, intragenic (in a gene, no CDS), and
intergenic.
"""

from __future__ import annotations

from analyses.calling.compiled import UPDOWN, CompiledReplicon
from analyses.calling.types import Effect

MODIFIER = "MODIFIER"
INTERGENIC = Effect(None, "intergenic_region", MODIFIER)


def noncoding_effects(replicon: CompiledReplicon, start: int, end: int) -> tuple[Effect, ...]:
    """Effects of a mutation at ``[start, end)`` that overlaps no CDS.

    Upstream means before the gene's 5' end in the gene's orientation (so a mutation at a
    higher position than a minus-strand gene is upstream of it).
    """
    end = max(end, start + 1)
    effects = []
    for gene in replicon.genes_near(start, end):
        if gene.start < end and start < gene.end:
            effects.append(Effect(gene.symbol, "intragenic_variant", MODIFIER))
            continue
        before = end <= gene.start and gene.start - end < UPDOWN
        after = start >= gene.end and start - gene.end < UPDOWN
        if not (before or after):
            continue
        upstream = before if gene.strand == 1 else after
        term = "upstream_gene_variant" if upstream else "downstream_gene_variant"
        effects.append(Effect(gene.symbol, term, MODIFIER))
    return tuple(effects) if effects else (INTERGENIC,)
