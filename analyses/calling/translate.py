"""Amino-acid calls for one CDS of one sequence, from its nucleotide events in CDS coordinates.

Only codons touched by an event are translated (slices and dict look-ups, no per-base loop
over the CDS). The rules of calling.md: in-frame indels become residue deletions/insertions,
placed as Nextclade's peptide alignment places them (:mod:`analyses.calling.peptide_align`); after a
frameshift the residues are unknown until the frame is restored (Nextclade's masking);
ambiguous codons give the residue when every resolution agrees, else ``X`` (unknown).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from analyses.calling.compiled import CompiledCds
from analyses.calling.peptide_align import align_peptides
from analyses.calling.types import AA_DELETION, AA_INSERTION, AA_SUBSTITUTION

LOW, MODERATE, HIGH, MODIFIER = "LOW", "MODERATE", "HIGH", "MODIFIER"
#: in-frame indels whose codon spans are at most this far apart (2 codons between them) form
#: one cluster, aligned as proteins together: BA.1's S:del:211 and S:R214REPE, ON819429's
#: 9-nt deletion + 9-nt insertion. Farther apart they are independent events.
NEAR_CODONS = 3
#: untouched codons added on each side of an indel cluster before its peptide alignment, so
#: gaps can settle where a whole-peptide alignment (Nextclade) puts them
FLANK_CODONS = 5


@dataclass
class CdsEvents:
    """Events of one sequence inside one CDS, in CDS (transcript) offsets, 0-based.

    Each event carries the index of the nucleotide mutation it comes from.
    """

    subs: dict[int, tuple[str, int]] = field(default_factory=dict)
    dels: list[tuple[int, int, int]] = field(default_factory=list)
    ins: list[tuple[int, str, int]] = field(default_factory=list)
    unknown: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class CdsCalls:
    """AA mutations ``(start, end, ref, alt, kind, parents)``, unknown residue ranges, effects."""

    aa: list[tuple[int, int, str, str, str, tuple[int, ...]]] = field(default_factory=list)
    unknown: list[tuple[int, int]] = field(default_factory=list)
    effects: dict[int, tuple[str, str]] = field(default_factory=dict)
    frameshifts: set[int] = field(default_factory=set)


class _Query:
    """The query's version of (parts of) a CDS, built on demand."""

    def __init__(self, cds: CompiledCds, events: CdsEvents) -> None:
        self.ref = cds.nt
        self.subs = events.subs
        self.deleted: dict[int, int] = {}  # offset -> index of the deletion
        for s, e, idx in events.dels:
            self.deleted.update(dict.fromkeys(range(s, e), idx))
        self.ins_after = {j: (b, idx) for j, b, idx in events.ins}
        unknown = sorted(events.unknown)
        self.u_starts = [a for a, _ in unknown]
        self.u_ends = [b for _, b in unknown]

    def unknown(self, offset: int) -> bool:
        i = bisect_right(self.u_starts, offset) - 1
        return i >= 0 and offset < self.u_ends[i]

    def nt(self, lo: int, hi: int) -> str:
        """Query bases of CDS offsets ``[lo, hi)`` (the per-codon fast path, no provenance)."""
        out = []
        deleted, subs, ins_after, ref = self.deleted, self.subs, self.ins_after, self.ref
        for o in range(lo, hi):
            if o not in deleted:
                if self.u_starts and self.unknown(o):
                    out.append("N")
                else:
                    sub = subs.get(o)
                    out.append(sub[0] if sub else ref[o])
            ins = ins_after.get(o)
            if ins:
                out.append(ins[0])
        return "".join(out)

    def nt_with_sources(self, lo: int, hi: int) -> tuple[str, list[set[int]]]:
        """Query bases of CDS offsets ``[lo, hi)`` and, per query codon, the events shaping it.

        A codon's sources are the substitutions and insertions among its bases, and a deletion
        that falls inside it (a merged codon); this is what links an amino-acid mutation to
        its nucleotide parents when several indels share a cluster.
        """
        out: list[str] = []
        sources: list[set[int]] = []
        pending_deletion: int | None = None
        length = 0

        def emit(bases: str, source: int | None) -> None:
            nonlocal length, pending_deletion
            if pending_deletion is not None:
                if length % 3:  # the next base completes a codon the deletion cut: merged
                    sources[-1].add(pending_deletion)
                pending_deletion = None
            if source is None:  # a run of plain bases: only count the codons it starts
                started = (length + len(bases) + 2) // 3 - (length + 2) // 3
                sources.extend(set() for _ in range(started))
                length += len(bases)
            else:
                for _ in bases:
                    if length % 3 == 0:
                        sources.append(set())
                    sources[-1].add(source)
                    length += 1
            out.append(bases)

        ref, deleted, subs, ins_after = self.ref, self.deleted, self.subs, self.ins_after
        run = lo  # start of the pending run of reference bases (emitted in one piece)
        for o in range(lo, hi):
            deletion = deleted.get(o)
            unknown = deletion is None and bool(self.u_starts) and self.unknown(o)
            sub = subs.get(o) if deletion is None and not unknown else None
            if deletion is not None or unknown or sub:
                if run < o:
                    emit(ref[run:o], None)
                run = o + 1
                if deletion is not None:
                    pending_deletion = deletion
                elif unknown:
                    emit("N", None)
                else:
                    emit(sub[0], sub[1])
            ins = ins_after.get(o)
            if ins:
                if run <= o:
                    emit(ref[run : o + 1], None)
                run = o + 1
                emit(*ins)
        if run < hi:
            emit(ref[run:hi], None)
        return "".join(out), sources


def _ref_aa(cds: CompiledCds, codon: int) -> str:
    if codon < len(cds.protein):
        return cds.protein[codon]
    return cds.table.get(cds.nt[3 * codon : 3 * codon + 3], "X")


def _translate(cds: CompiledCds, nt: str, first_codon: int) -> str:
    """Translate query codons starting at CDS codon ``first_codon``.

    The start codon is read as the reference protein's first residue only while it is the
    reference's own codon (a CDS may start on an alternative start such as ``TTG``, which the
    protein still shows as ``M``); a changed start codon is translated as any other codon, so
    ``ATG`` to ``CTG`` is reported as ``M1L`` (``start_lost``), as Nextclade reports it.
    """
    table = cds.table
    residues = [table.get(nt[i : i + 3], "X") for i in range(0, len(nt) - 2, 3)]
    if first_codon == 0 and residues and nt[:3] == cds.nt[:3] and cds.protein:
        residues[0] = cds.protein[0]
    return "".join(residues)


def _substitution_effect(ref: str, alt: str, codon: int) -> tuple[str, str]:
    if alt == "X":
        return ("coding_sequence_variant", MODIFIER)
    if alt == ref:
        return ("synonymous_variant", LOW)
    if alt == "*":
        return ("stop_gained", HIGH)
    if ref == "*":
        return ("stop_lost", HIGH)
    if codon == 0 and ref == "M":
        return ("start_lost", HIGH)
    return ("missense_variant", MODERATE)


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for a, b in sorted(ranges):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def call_cds(cds: CompiledCds, events: CdsEvents) -> CdsCalls:
    """Amino-acid mutations, unknown residues and per-mutation effects of one CDS."""
    calls = CdsCalls()
    n_codons = len(cds.nt) // 3
    query = _Query(cds, events)

    # 1. walk indels in CDS order: frame shift bookkeeping
    indels = sorted(
        [(s, s // 3, (e - 1) // 3, -(e - s), idx) for s, e, idx in events.dels]
        + [(j + 1, j // 3, j // 3, len(b), idx) for j, b, idx in events.ins]
    )
    masked: list[tuple[int, int]] = []
    spans: list[list[int]] = []
    shift = 0
    opened: int | None = None
    for _pos, c0, c1, delta, idx in indels:
        before = shift
        shift += delta
        if delta % 3:
            calls.frameshifts.add(idx)
            calls.effects[idx] = ("frameshift_variant", HIGH)
        if before % 3 == 0 and shift % 3 == 0:
            spans.append([c0, c1, idx])
        elif before % 3 == 0:
            opened = c0
        elif shift % 3 == 0 and opened is not None:
            masked.append((opened, min(c1 + 1, n_codons)))
            opened = None
    if opened is not None:
        masked.append((opened, n_codons))
    masked = _merge(masked)
    calls.unknown.extend(masked)
    m_starts = [a for a, _ in masked]

    def is_masked(codon: int) -> bool:
        i = bisect_right(m_starts, codon) - 1
        return i >= 0 and codon < masked[i][1]

    # 2. in-frame indels: clusters of codons aligned as proteins
    clusters: list[list] = []
    event_codons: dict[int, tuple[int, int]] = {}
    for c0, c1, idx in sorted(spans):
        event_codons[idx] = (c0, c1)
        if is_masked(c0):
            continue
        # indels within NEAR_CODONS of each other are aligned together (align_peptides)
        if (
            clusters
            and c0 <= clusters[-1][1] + NEAR_CODONS
            and not any(is_masked(c) for c in range(clusters[-1][1] + 1, c0))
        ):
            clusters[-1][1] = max(clusters[-1][1], c1)
            clusters[-1][2].append(idx)
        else:
            clusters.append([c0, c1, [idx]])
    in_cluster: set[int] = set()
    quiet = _QuietCodons(query, events, is_masked, n_codons)
    for k, (c0, c1, idxs) in enumerate(clusters):
        # flanks of untouched codons: Nextclade aligns the whole peptide, so a gap may move
        # across identical residues next to the cluster (ORF3a del:25416-25424 -> del:7-9)
        low = clusters[k - 1][1] + 1 if k else 0
        high = clusters[k + 1][0] - 1 if k + 1 < len(clusters) else n_codons - 1
        first, last = max(low, c0 - FLANK_CODONS), min(high, c1 + FLANK_CODONS)
        while c0 - 1 >= first and quiet(c0 - 1):
            c0 -= 1
        while c1 + 1 <= last and quiet(c1 + 1):
            c1 += 1
        clusters[k][0], clusters[k][1] = c0, c1
        in_cluster.update(range(c0, c1 + 1))
        _call_cluster(cds, query, events, c0, c1, {i: event_codons[i] for i in idxs}, calls)

    # 3. codons with substitutions or partly unknown
    touched: dict[int, list[int]] = {}
    for offset, (_, idx) in events.subs.items():
        touched.setdefault(offset // 3, []).append(idx)
    for s, e in _merge(events.unknown):
        first, last = s // 3, (e - 1) // 3
        if 3 * first < s:
            touched.setdefault(first, [])
            first += 1
        if 3 * last + 3 > e and last >= first:
            touched.setdefault(last, [])
            last -= 1
        if first <= last:
            calls.unknown.append((first, last + 1))
    for codon, idxs in sorted(touched.items()):
        if codon >= n_codons:
            continue
        if codon in in_cluster:
            continue
        if is_masked(codon):
            for idx in idxs:
                calls.effects[idx] = ("coding_sequence_variant", MODIFIER)
            continue
        alt = _translate(cds, query.nt(3 * codon, 3 * codon + 3), codon)
        ref = _ref_aa(cds, codon)
        if alt == "X":
            calls.unknown.append((codon, codon + 1))
        elif alt != ref:
            calls.aa.append((codon, codon + 1, ref, alt, AA_SUBSTITUTION, tuple(sorted(idxs))))
        effect = _substitution_effect(ref, alt, codon)
        for idx in idxs:
            calls.effects[idx] = effect
    calls.unknown = _merge(calls.unknown)
    calls.aa.sort()
    return calls


class _QuietCodons:
    """Codons with no substitution, no unknown base and no frameshift masking."""

    def __init__(self, query: _Query, events: CdsEvents, is_masked, n_codons: int) -> None:
        self.query = query
        self.sub_codons = {offset // 3 for offset in events.subs}
        self.is_masked = is_masked
        self.n_codons = n_codons

    def __call__(self, codon: int) -> bool:
        if not 0 <= codon < self.n_codons or codon in self.sub_codons or self.is_masked(codon):
            return False
        query = self.query
        return not (query.u_starts and any(query.unknown(3 * codon + k) for k in range(3)))


def _call_cluster(
    cds: CompiledCds,
    query: _Query,
    events: CdsEvents,
    c0: int,
    c1: int,
    indel_idxs: dict[int, tuple[int, int]],
    calls: CdsCalls,
) -> None:
    """Align the query residues of codons ``c0..c1`` to the reference ones.

    Always a real peptide alignment with Nextclade's scores and tie-breaks
    (:func:`~analyses.calling.peptide_align.align_peptides`): it places the gap of a merged
    codon as Nextclade does, and decides whether a deletion and an insertion of equal length in
    neighbouring codons are two gaps or just substitutions.

    :param indel_idxs: nucleotide mutation index -> inclusive codon span of each indel of the
        cluster; an amino-acid mutation's parents are the events touching its codons.
    """
    n_codons = len(cds.nt) // 3
    c1 = min(c1, n_codons - 1)
    lo, hi = 3 * c0, 3 * c1 + 3
    qnt, sources = query.nt_with_sources(lo, hi)
    spans = dict(indel_idxs)
    spans.update((idx, (o // 3, o // 3)) for o, (_, idx) in events.subs.items() if lo <= o < hi)
    all_parents = tuple(sorted(spans))

    def parents_of(ref_first: int, ref_last: int, alt_codons: range) -> tuple[int, ...]:
        # events shaping the query codons involved, plus indels whose codons overlap the
        # reference residues ref_first..ref_last (inclusive); the whole cluster if none
        found = set().union(*(sources[q] for q in alt_codons if q < len(sources)))
        found.update(i for i in indel_idxs if spans[i][0] <= ref_last and ref_first <= spans[i][1])
        return tuple(sorted(found)) or all_parents

    if len(qnt) % 3:
        calls.unknown.append((c0, c1 + 1))
        return
    ref = "".join(_ref_aa(cds, c) for c in range(c0, c1 + 1))
    alt = _translate(cds, qnt, c0)
    columns = align_peptides(ref, alt)
    aligned: list[tuple[int, str, int]] = []  # (ref residue, alt residue, alt index)
    last_ref = -1  # index into ref of the last reference residue seen (insertion anchor)
    k = 0
    while k < len(columns):
        r_i, a_i = columns[k]
        if r_i is not None and a_i is not None:
            aligned.append((c0 + r_i, alt[a_i], a_i))
            last_ref = r_i
            k += 1
        elif a_i is None:  # run of deleted reference residues
            first = r_i
            while k < len(columns) and columns[k][1] is None:
                last_ref = columns[k][0]  # type: ignore[assignment]
                k += 1
            assert first is not None
            calls.aa.append(
                (
                    c0 + first,
                    c0 + last_ref + 1,
                    ref[first : last_ref + 1],
                    "",
                    AA_DELETION,
                    parents_of(c0 + first, c0 + last_ref, range(0)),
                )
            )
        else:  # run of inserted residues after reference residue ``last_ref``
            inserted = []
            first_alt = columns[k][1]
            while k < len(columns) and columns[k][0] is None:
                inserted.append(alt[columns[k][1]])  # type: ignore[index]
                k += 1
            anchor = c0 + last_ref
            if anchor >= 0:
                anchor_aa = _ref_aa(cds, anchor)
                calls.aa.append(
                    (
                        anchor,
                        anchor + 1,
                        anchor_aa,
                        anchor_aa + "".join(inserted),
                        AA_INSERTION,
                        parents_of(
                            anchor,
                            anchor,
                            range(first_alt, first_alt + len(inserted)),  # type: ignore[arg-type]
                        ),
                    )
                )
    changed = False
    for codon, residue, a_i in aligned:
        ref_residue = _ref_aa(cds, codon)
        if residue == "X":
            calls.unknown.append((codon, codon + 1))
        elif residue != ref_residue:
            changed = True
            calls.aa.append(
                (
                    codon,
                    codon + 1,
                    ref_residue,
                    residue,
                    AA_SUBSTITUTION,
                    parents_of(codon, codon, range(a_i, a_i + 1)),
                )
            )
    for idx in indel_idxs:
        calls.effects.setdefault(idx, ("", ""))
    for s, _e, idx in events.dels:
        if idx in indel_idxs:
            conservative = s % 3 == 0
            calls.effects[idx] = (
                (
                    "conservative_inframe_deletion"
                    if conservative
                    else "disruptive_inframe_deletion"
                ),
                MODERATE,
            )
    for j, _b, idx in events.ins:
        if idx in indel_idxs:
            conservative = j % 3 == 2
            calls.effects[idx] = (
                (
                    "conservative_inframe_insertion"
                    if conservative
                    else "disruptive_inframe_insertion"
                ),
                MODERATE,
            )
    for o, (_, idx) in events.subs.items():
        if lo <= o < hi and idx not in indel_idxs:
            calls.effects[idx] = (
                ("missense_variant", MODERATE) if changed else ("synonymous_variant", LOW)
            )
