"""Test helpers: build mutated queries and rebuild queries from calls."""

from __future__ import annotations

import itertools

from analyses.calling.codons import reverse_complement
from analyses.calling.seqio import FastaRecord, seqhash
from analyses.calling.types import NT_DELETION, NT_INSERTION, NtMutation, SequenceResult


def record(name: str, sequence: str, description: str = "") -> FastaRecord:
    return FastaRecord(name, description, sequence, seqhash(sequence))


def mutate(
    reference: str,
    subs: dict[int, str] | None = None,
    dels: list[tuple[int, int]] | None = None,
    ins: dict[int, str] | None = None,
) -> str:
    """Apply 0-based events to ``reference``: ``ins[a]`` = bases inserted after position ``a``."""
    subs, dels, ins = subs or {}, dels or [], ins or {}
    deleted = {p for s, e in dels for p in range(s, e)}
    out = []
    for pos, base in enumerate(reference):
        if pos not in deleted:
            out.append(subs.get(pos, base))
        if pos in ins:
            out.append(ins[pos])
    return "".join(out)


def _strip_n(text: str) -> str:
    # N runs (of any length, also inserted Ns) say "unknown": compare everything else
    return text.replace("N", "")


def rebuild(result: SequenceResult, reference: str) -> str:
    """The query as reference + calls over the covered span; N runs and uncovered parts dropped."""
    gaps = zip([b for _, b in result.covered[:-1]], [a for a, _ in result.covered[1:]], strict=True)
    masked = list(reference)
    for a, b in [*result.missing, *gaps]:
        masked[a:b] = "N" * (b - a)
    return rebuild_masked(result, "".join(masked))


def rebuild_masked(result: SequenceResult, masked: str) -> str:
    pieces: list[str] = []
    cursor = result.covered[0][0]
    # inserted unknown stretches are no calls, but they are part of the input: put them back
    unknown = [
        NtMutation(result.replicon or "", a, a + 1, masked[a], masked[a] + b, NT_INSERTION, "")
        for a, b in result.unknown_insertions
    ]
    events = [*result.nt_mutations, *unknown]
    for m in sorted(events, key=lambda m: (m.start, m.kind == NT_INSERTION)):
        if m.kind == NT_INSERTION and m.end == 0:
            pieces.append(m.alt)
            continue
        if m.kind == NT_INSERTION:
            pieces.append(masked[cursor : m.end])
            pieces.append(m.alt[len(m.ref) :])
        elif m.kind == NT_DELETION:
            pieces.append(masked[cursor : m.start])
        else:
            pieces.append(masked[cursor : m.start])
            pieces.append(m.alt)
        cursor = m.end
    pieces.append(masked[cursor : result.covered[-1][1]])
    return _strip_n("".join(pieces))


def observed(result: SequenceResult, query: str) -> str:
    """The part of the input the calls speak for: aligned span, unaligned stretches as 'N'."""
    if result.reverse_complemented:
        query = reverse_complement(query)
    blocks = result.blocks
    lead = next(
        (len(m.alt) for m in result.nt_mutations if m.kind == NT_INSERTION and m.end == 0), 0
    )
    ref_len_end = result.covered[-1][1]
    trail = next(
        (
            len(m.alt) - len(m.ref)
            for m in result.nt_mutations
            if m.kind == NT_INSERTION
            and m.start == ref_len_end - 1
            and m.end == ref_len_end
            and m.start == blocks[-1].r_en - 1
        ),
        0,
    )
    parts = [query[blocks[0].q_st - lead : blocks[0].q_st]]
    for prev, block in itertools.pairwise(blocks):
        parts.append(query[prev.q_st : prev.q_en])
        between = query[prev.q_en : block.q_st]
        parts.append("N" if between and block.r_st > prev.r_en else between)
    parts.append(query[blocks[-1].q_st : blocks[-1].q_en + trail])
    return _strip_n("".join(parts))
