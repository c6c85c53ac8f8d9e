"""Amino-acid calls for one CDS of one sequence, from its nucleotide events in CDS coordinates.

Only codons touched by an event are translated (slices and dict look-ups, no per-base loop
over the CDS). The rules of calling.md: in-frame indels become residue deletions/insertions,
placed as a protein alignment would (identity, then BLOSUM62, then the left residue); after a
frameshift the residues are unknown until the frame is restored (Nextclade's masking);
ambiguous codons give the residue when every resolution agrees, else ``X`` (unknown).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from analyses.calling.codons import blosum62
from analyses.calling.compiled import CompiledCds
from analyses.calling.types import AA_DELETION, AA_INSERTION, AA_SUBSTITUTION

LOW, MODERATE, HIGH, MODIFIER = "LOW", "MODERATE", "HIGH", "MODIFIER"


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
        self.deleted: set[int] = set()
        for s, e, _ in events.dels:
            self.deleted.update(range(s, e))
        self.ins_after = {j: b for j, b, _ in events.ins}
        unknown = sorted(events.unknown)
        self.u_starts = [a for a, _ in unknown]
        self.u_ends = [b for _, b in unknown]

    def unknown(self, offset: int) -> bool:
        i = bisect_right(self.u_starts, offset) - 1
        return i >= 0 and offset < self.u_ends[i]

    def nt(self, lo: int, hi: int) -> str:
        out = []
        for o in range(lo, hi):
            if o not in self.deleted:
                if self.unknown(o):
                    out.append("N")
                else:
                    sub = self.subs.get(o)
                    out.append(sub[0] if sub else self.ref[o])
            ins = self.ins_after.get(o)
            if ins:
                out.append(ins)
        return "".join(out)


def _ref_aa(cds: CompiledCds, codon: int) -> str:
    if codon < len(cds.protein):
        return cds.protein[codon]
    return cds.table.get(cds.nt[3 * codon : 3 * codon + 3], "X")


def _translate(cds: CompiledCds, nt: str, first_codon: int) -> str:
    table = cds.table
    residues = [table.get(nt[i : i + 3], "X") for i in range(0, len(nt) - 2, 3)]
    if first_codon == 0 and residues and nt[:3] in cds.starts and cds.protein[:1] == "M":
        residues[0] = "M"
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
    for c0, c1, idx in sorted(spans):
        if is_masked(c0):
            continue
        if clusters and c0 <= clusters[-1][1]:
            clusters[-1][1] = max(clusters[-1][1], c1)
            clusters[-1][2].append(idx)
        else:
            clusters.append([c0, c1, [idx]])
    in_cluster: set[int] = set()
    for c0, c1, idxs in clusters:
        in_cluster.update(range(c0, c1 + 1))
        _call_cluster(cds, query, events, c0, c1, idxs, calls)

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


def _call_cluster(
    cds: CompiledCds,
    query: _Query,
    events: CdsEvents,
    c0: int,
    c1: int,
    indel_idxs: list[int],
    calls: CdsCalls,
) -> None:
    """Align the query residues of codons ``c0..c1`` to the reference ones (one gap block)."""
    n_codons = len(cds.nt) // 3
    c1 = min(c1, n_codons - 1)
    lo, hi = 3 * c0, 3 * c1 + 3
    qnt = query.nt(lo, hi)
    parents = set(indel_idxs)
    parents.update(idx for o, (_, idx) in events.subs.items() if lo <= o < hi)
    if len(qnt) % 3:
        calls.unknown.append((c0, c1 + 1))
        return
    ref = "".join(_ref_aa(cds, c) for c in range(c0, c1 + 1))
    alt = _translate(cds, qnt, c0)
    n, m = len(ref), len(alt)
    k = abs(n - m)
    best: tuple[int, int, int] | None = None
    best_i = 0
    for i in range(min(n, m) + 1):
        if m <= n:
            pairs = list(zip(alt[:i], ref[:i], strict=True)) + list(
                zip(alt[i:], ref[i + k :], strict=True)
            )
        else:
            pairs = list(zip(alt[:i], ref[:i], strict=True)) + list(
                zip(alt[i + k :], ref[i:], strict=True)
            )
        score = (sum(a == b for a, b in pairs), sum(blosum62(a, b) for a, b in pairs), i)
        if best is None or score >= best:
            best, best_i = score, i
    i = best_i
    parent_tuple = tuple(sorted(parents))
    aligned: list[tuple[int, str]] = []  # (ref residue index, alt residue)
    if m <= n:
        aligned = [(c0 + j, alt[j]) for j in range(i)] + [(c0 + j + k, alt[j]) for j in range(i, m)]
        if k:
            calls.aa.append((c0 + i, c0 + i + k, ref[i : i + k], "", AA_DELETION, parent_tuple))
    else:
        aligned = [(c0 + j, alt[j]) for j in range(i)] + [
            (c0 + j - k, alt[j]) for j in range(i + k, m)
        ]
        anchor = c0 + i - 1
        if anchor >= 0:
            anchor_aa = _ref_aa(cds, anchor)
            calls.aa.append(
                (
                    anchor,
                    anchor + 1,
                    anchor_aa,
                    anchor_aa + alt[i : i + k],
                    AA_INSERTION,
                    parent_tuple,
                )
            )
    changed = False
    for codon, residue in aligned:
        ref_residue = _ref_aa(cds, codon)
        if residue == "X":
            calls.unknown.append((codon, codon + 1))
        elif residue != ref_residue:
            changed = True
            calls.aa.append((codon, codon + 1, ref_residue, residue, AA_SUBSTITUTION, parent_tuple))
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
