"""Result dataclasses of the calling engine.

Frozen and free of framework types, so results can cross process boundaries (pickle), be
written to TSV, or be bulk-loaded by the Django side without conversion. Coordinates are 0-based
and half-open (like VCF's storage, unlike its text); labels are 1-based (sonar notation).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: kinds of nucleotide mutation
NT_SUBSTITUTION = "substitution"
NT_AMBIGUOUS = "ambiguous"
NT_DELETION = "deletion"
NT_INSERTION = "insertion"
#: kinds of amino-acid mutation
AA_SUBSTITUTION = "substitution"
AA_DELETION = "deletion"
AA_INSERTION = "insertion"


@dataclass(frozen=True)
class Effect:
    """One Sequence Ontology effect of a nucleotide mutation.

    :param cds: symbol of the CDS (coding effects) or gene (up/downstream, intragenic) concerned;
        ``None`` for ``intergenic_region``.
    """

    cds: str | None
    so_term: str
    impact: str


@dataclass(frozen=True)
class NtMutation:
    """A nucleotide mutation on one replicon.

    Substitution/ambiguous: ``end = start + 1``. Deletion: ``ref`` = deleted bases, ``alt = ''``.
    Insertion: ``start`` = anchor position, ``end = start + 1``, ``ref`` = anchor base, ``alt`` =
    anchor + inserted bases; before the first base ``start = end = 0``, ``ref = ''``.
    """

    replicon: str
    start: int
    end: int
    ref: str
    alt: str
    kind: str
    label: str
    frameshift: bool = False
    effects: tuple[Effect, ...] = ()

    @property
    def key(self) -> tuple[str, int, int, str, str]:
        """Identity of the mutation independent of the sequence (for de-duplicated storage)."""
        return (self.replicon, self.start, self.end, self.ref, self.alt)


@dataclass(frozen=True)
class AaMutation:
    """An amino-acid mutation in one CDS; residues 0-based half-open.

    Insertion: ``start`` = anchor residue, ``end = start + 1``, ``ref`` = anchor residue,
    ``alt`` = anchor + inserted residues (as in labels).

    :param parents: indexes into :attr:`SequenceResult.nt_mutations` of the nucleotide
        mutations that caused it.
    """

    cds: str
    start: int
    end: int
    ref: str
    alt: str
    kind: str
    label: str
    parents: tuple[int, ...] = ()


@dataclass(frozen=True)
class UnknownAa:
    """Residues of a CDS without a reliable call: N, unsequenced, ambiguous, frameshifted."""

    cds: str
    start: int
    end: int


@dataclass(frozen=True)
class AlignedBlock:
    """One stitched alignment hit: reference ``[r_st, r_en)`` aligned to query ``[q_st, q_en)``.

    Query coordinates are on the forward strand of the (possibly reverse-complemented) query.
    """

    r_st: int
    r_en: int
    q_st: int
    q_en: int


@dataclass(frozen=True)
class SequenceResult:
    """Everything called for one sequence.

    :param covered: reference ranges with sequence data (alignment blocks, joined across
        deletions); everything outside is unknown, never deleted.
    :param missing: reference ranges inside the covered span without data: N runs of the query
        and stretches between hits whose query bases did not align.
    :param unknown_insertions: ``(anchor, bases)`` of inserted stretches that hold N or other
        IUPAC codes: unknown sequence (calling.md), so no insertion is called; kept so that the
        input can be accounted for base by base (not stored in the database).
    :param errors: why nothing was called (empty when the sequence was called).
    :param aligner_preset: the minimap2 preset whose alignment was called: ``"asm5"`` (the
        usual case) or the sensitive fallback ``"map-ont"`` for a divergent strain, whose calls
        are then many; ``None`` when the engine aligned nothing (an error result built elsewhere
        may keep the default: only read it when ``replicon`` is set).
    """

    name: str
    seqhash: str
    replicon: str | None
    reverse_complemented: bool = False
    covered: tuple[tuple[int, int], ...] = ()
    missing: tuple[tuple[int, int], ...] = ()
    blocks: tuple[AlignedBlock, ...] = ()
    nt_mutations: tuple[NtMutation, ...] = ()
    aa_mutations: tuple[AaMutation, ...] = ()
    unknown_aa: tuple[UnknownAa, ...] = ()
    unknown_insertions: tuple[tuple[int, str], ...] = ()
    errors: tuple[str, ...] = field(default=())
    aligner_preset: str | None = "asm5"

    def nt_of_kind(self, kind: str) -> tuple[NtMutation, ...]:
        return tuple(m for m in self.nt_mutations if m.kind == kind)

    def aa_of_kind(self, kind: str) -> tuple[AaMutation, ...]:
        return tuple(m for m in self.aa_mutations if m.kind == kind)

    @property
    def frameshifts(self) -> tuple[NtMutation, ...]:
        return tuple(m for m in self.nt_mutations if m.frameshift)
