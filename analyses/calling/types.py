"""Result dataclasses of the calling engine.

Frozen and free of framework types, so results can cross process boundaries (pickle), be
written to TSV, or be bulk-loaded by the Django side without conversion. Coordinates are 0-based
and half-open (like VCF's storage, unlike its text); labels are 1-based (sonar notation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

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


# --- sequence QC (rules in analyses/calling/qc/) ---------------------------------------
#: lowest score that is mediocre, lowest score that is bad
MEDIOCRE_FROM = 30.0
BAD_FROM = 100.0


class QcStatus(StrEnum):
    """Quality category of a score (stored and filtered as its lower-case value)."""

    GOOD = "good"
    MEDIOCRE = "mediocre"
    BAD = "bad"

    @classmethod
    def from_score(cls, score: float) -> QcStatus:
        """The category of ``score``.

        >>> QcStatus.from_score(29.99), QcStatus.from_score(30), QcStatus.from_score(100)
        (<QcStatus.GOOD: 'good'>, <QcStatus.MEDIOCRE: 'mediocre'>, <QcStatus.BAD: 'bad'>)
        """
        if score >= BAD_FROM:
            return cls.BAD
        if score >= MEDIOCRE_FROM:
            return cls.MEDIOCRE
        return cls.GOOD


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one QC rule for one sequence.

    :param rule: the rule's name (``missing_data``, ``mixed_sites``, ``frameshifts``,
        ``stop_codons``, ``snp_clusters``).
    :param score: Nextclade's score of the rule (0 = nothing found; not capped at 100).
    :param status: :meth:`QcStatus.from_score` of ``score`` (its string value).
    :param count: what the rule counted (N bases, mixed sites, frameshifts, stops, clusters),
        known items excluded.
    :param items: the counted items, labelled 1-based for people (``ORF8:Q27*``,
        ``ORF3a:257-276``, ``22992-23075 (8)``); empty for plain counts.
    :param known: items listed as known for the reference, found but not scored.
    """

    rule: str
    score: float
    status: str
    count: int
    items: tuple[str, ...] = ()
    known: tuple[str, ...] = ()

    @classmethod
    def scored(
        cls,
        rule: str,
        score: float,
        count: int,
        items: tuple[str, ...] = (),
        known: tuple[str, ...] = (),
    ) -> RuleResult:
        """A result whose status follows from its score (never below 0, as in Nextclade)."""
        score = max(0.0, float(score))
        return cls(rule, score, QcStatus.from_score(score).value, count, items, known)


@dataclass(frozen=True)
class QcResult:
    """Nextclade's QC of one sequence (see :mod:`analyses.calling.qc`).

    :param score: overall score, ``sum(rule score ** 2) / 100``.
    :param status: :meth:`QcStatus.from_score` of ``score`` (its string value).
    :param coverage: share (0 to 1) of the replicon with informative bases.
    :param missing_data: N bases of the query.
    :param mixed_sites: other non-ACGT bases of the query (IUPAC codes).
    :param rules: the enabled rules' results, in a fixed order.
    """

    score: float
    status: str
    coverage: float
    missing_data: int
    mixed_sites: int
    rules: tuple[RuleResult, ...] = ()

    def rule(self, name: str) -> RuleResult | None:
        """The result of rule ``name``, ``None`` when disabled."""
        return next((r for r in self.rules if r.rule == name), None)


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
    #: sequence QC, computed last by the engine; ``None`` when nothing was called
    qc: QcResult | None = None

    def nt_of_kind(self, kind: str) -> tuple[NtMutation, ...]:
        return tuple(m for m in self.nt_mutations if m.kind == kind)

    def aa_of_kind(self, kind: str) -> tuple[AaMutation, ...]:
        return tuple(m for m in self.aa_mutations if m.kind == kind)

    @property
    def frameshifts(self) -> tuple[NtMutation, ...]:
        return tuple(m for m in self.nt_mutations if m.frameshift)
