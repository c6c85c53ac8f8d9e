"""The calling engine: one pure function per sequence, a process pool for many.

``call_sequence(record, reference, aligners)`` aligns, calls nucleotide and amino-acid
mutations and annotates effects. Nothing mutable is shared between sequences; the only
per-process state is the aligners (built once) and the compiled reference (read-only).
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace

import mappy

from analyses.calling import labels
from analyses.calling.align import (
    FALLBACK_MIN_QUERY_FRACTION,
    FALLBACK_PRESET,
    SENSITIVE_ABOVE_LEFT_OUT,
    Alignment,
    LazyAligners,
    align,
    build_aligners,
)
from analyses.calling.call import extract_events, normalise
from analyses.calling.codons import reverse_complement
from analyses.calling.compiled import CompiledReference, compile_reference
from analyses.calling.effects import noncoding_effects
from analyses.calling.qc import attach_qc
from analyses.calling.realign import realign_alignment
from analyses.calling.reference import ReferenceSpec
from analyses.calling.seqio import FastaRecord
from analyses.calling.translate import CdsEvents, call_cds
from analyses.calling.types import (
    NT_AMBIGUOUS,
    NT_DELETION,
    NT_INSERTION,
    NT_SUBSTITUTION,
    AaMutation,
    AlignedBlock,
    Effect,
    NtMutation,
    SequenceResult,
    UnknownAa,
)

logger = logging.getLogger(__name__)


def call_sequence(
    record: FastaRecord,
    reference: CompiledReference,
    aligners: Mapping[str, mappy.Aligner],
    fallback: Mapping[str, mappy.Aligner] | None = None,
) -> SequenceResult:
    """Call one sequence against a compiled reference.

    :param record: a harmonised record (``[molecule=ACC]`` in its description picks the replicon).
    :param reference: from :func:`~analyses.calling.compiled.compile_reference`.
    :param aligners: from :func:`~analyses.calling.align.build_aligners`, same reference.
    :param fallback: aligners with :data:`~analyses.calling.align.FALLBACK_PRESET` (usually a
        :class:`~analyses.calling.align.LazyAligners`), tried only when no replicon gives a hit
        with ``aligners``; ``None``: no fallback.
    :returns: the calls; a sequence that cannot be called has ``errors`` and no calls.
    """
    wanted = record.molecule
    if wanted is not None:
        match = next(
            (acc for acc in reference.replicons if wanted in (acc, acc.split(".")[0])), None
        )
        if match is None:
            return SequenceResult(
                record.id,
                record.seqhash,
                None,
                errors=(
                    f"header names molecule {wanted}, which is not a replicon of the reference",
                ),
                aligner_preset=None,
            )
        wanted = match
    alignment = align(record.sequence, aligners, wanted)
    if (
        alignment is not None
        and fallback is not None
        and _left_out(alignment, len(reference.replicons[alignment.replicon].sequence))
        > SENSITIVE_ABOVE_LEFT_OUT
    ):
        alignment = _more_sensitive(alignment, fallback)
    if alignment is None and fallback is not None:
        alignment = align(record.sequence, fallback, wanted, preset=FALLBACK_PRESET)
        if alignment is not None and alignment.query_fraction < FALLBACK_MIN_QUERY_FRACTION:
            target = wanted or ", ".join(reference.replicons)
            reason = (
                f"does not align to {target}: with {FALLBACK_PRESET} only "
                f"{alignment.query_fraction:.0%} of the sequence aligns (to "
                f"{alignment.replicon}), at least {FALLBACK_MIN_QUERY_FRACTION:.0%} needed"
            )
            return SequenceResult(
                record.id, record.seqhash, None, errors=(reason,), aligner_preset=None
            )
    if alignment is None:
        target = wanted or ", ".join(reference.replicons)
        return SequenceResult(
            record.id,
            record.seqhash,
            None,
            errors=(f"does not align to {target}",),
            aligner_preset=None,
        )
    replicon = reference.replicons[alignment.replicon]
    ref = replicon.sequence
    length = len(ref)
    alignment = realign_alignment(alignment, ref)
    events = extract_events(alignment, ref)
    normalise(events, ref, replicon)
    prefix = alignment.replicon if reference.multi_replicon else None

    # nucleotide mutations, ordered by position
    raw: list[tuple[int, int, int, str, str, str]] = []  # start, order, end, ref, alt, kind
    for pos, base in events.subs:
        kind = NT_SUBSTITUTION if base in "ACGT" else NT_AMBIGUOUS
        raw.append((pos, 0, pos + 1, ref[pos], base, kind))
    for s, e in events.dels:
        raw.append((s, 1, e, ref[s:e], "", NT_DELETION))
    for a, bases in events.ins:
        if a < 0:
            raw.append((0, 2, 0, "", bases, NT_INSERTION))
        else:
            raw.append((a, 2, a + 1, ref[a], ref[a] + bases, NT_INSERTION))
    raw.sort()

    # unknown reference ranges: outside the covered ranges, and N runs
    covered = events.covered
    unknown: list[tuple[int, int]] = []
    cursor = 0
    for a, b in covered:
        if a > cursor:
            unknown.append((cursor, a))
        cursor = b
    if cursor < length:
        unknown.append((cursor, length))
    unknown.extend(events.n_runs)

    # events per CDS (only CDS touched by something are translated)
    per_cds: dict[str, CdsEvents] = {}
    cds_by_symbol = {}

    def cds_events(symbol: str) -> CdsEvents:
        if symbol not in per_cds:
            per_cds[symbol] = CdsEvents()
        return per_cds[symbol]

    for idx, (s, _, e, _r, alt, kind) in enumerate(raw):
        if kind in (NT_SUBSTITUTION, NT_AMBIGUOUS):
            for cds in replicon.cds_overlapping(s, e):
                cds_by_symbol[cds.symbol] = cds
                base = alt if cds.strand == 1 else reverse_complement(alt)
                for offset in cds.offsets(s):
                    cds_events(cds.symbol).subs[offset] = (base, idx)
        elif kind == NT_DELETION:
            for cds in replicon.cds_overlapping(s, e):
                cds_by_symbol[cds.symbol] = cds
                for lo, hi in cds.range_offsets(s, e):
                    cds_events(cds.symbol).dels.append((lo, hi, idx))
        elif e > s:  # insertion after s
            bases = alt[1:]
            for cds in replicon.cds_overlapping(s, s + 2):
                offset = cds.insertion_offset(s)
                if offset is not None:
                    cds_by_symbol[cds.symbol] = cds
                    seq = bases if cds.strand == 1 else reverse_complement(bases)
                    cds_events(cds.symbol).ins.append((offset, seq, idx))
    for s, e in unknown:
        for cds in replicon.cds_overlapping(s, e):
            cds_by_symbol[cds.symbol] = cds
            cds_events(cds.symbol).unknown.extend(cds.range_offsets(s, e))

    effects: dict[int, list[Effect]] = {}
    frameshift: set[int] = set()
    aa_mutations: list[AaMutation] = []
    unknown_aa: list[UnknownAa] = []
    order = {c.symbol: i for i, c in enumerate(replicon.cds)}
    for symbol in sorted(per_cds, key=order.__getitem__):
        cds = cds_by_symbol[symbol]
        calls = call_cds(cds, per_cds[symbol])
        frameshift |= calls.frameshifts
        for idx, (term, impact) in calls.effects.items():
            if term:
                effects.setdefault(idx, []).append(Effect(symbol, term, impact))
        for start, end, r, alt, kind, parents in calls.aa:
            if kind == "deletion":
                label = labels.aa_deletion_label(symbol, start, end)
            elif kind == "insertion":
                label = labels.aa_insertion_label(symbol, r, start, alt)
            else:
                label = labels.aa_substitution_label(symbol, r, start, alt)
            aa_mutations.append(AaMutation(symbol, start, end, r, alt, kind, label, parents))
        unknown_aa.extend(UnknownAa(symbol, a, b) for a, b in calls.unknown)

    nt_mutations = []
    for idx, (s, _, e, r, alt, kind) in enumerate(raw):
        if kind == NT_DELETION:
            label = labels.nt_deletion_label(s, e, prefix)
        elif kind == NT_INSERTION:
            label = labels.nt_insertion_label(r, s, alt, prefix)
        else:
            label = labels.nt_substitution_label(r, s, alt, prefix)
        mutation_effects = effects.get(idx)
        if not mutation_effects:
            mutation_effects = list(noncoding_effects(replicon, s, e))
        nt_mutations.append(
            NtMutation(
                alignment.replicon,
                s,
                e,
                r,
                alt,
                kind,
                label,
                idx in frameshift,
                tuple(mutation_effects),
            )
        )

    missing = sorted([*events.n_runs, *events.gaps])
    result = SequenceResult(
        name=record.id,
        seqhash=record.seqhash,
        replicon=alignment.replicon,
        reverse_complemented=alignment.reverse_complemented,
        covered=tuple(covered),
        missing=tuple(_merge(missing)),
        blocks=tuple(
            AlignedBlock(h.r_st, h.r_en, h.q_st, h.q_en) for h in alignment.hits if h.r_en > h.r_st
        ),
        nt_mutations=tuple(nt_mutations),
        aa_mutations=tuple(aa_mutations),
        unknown_aa=tuple(unknown_aa),
        unknown_insertions=tuple(events.unknown_ins),
        aligner_preset=alignment.preset,
    )
    # sequence QC last: it rates the finished calls (analyses/calling/qc/)
    return attach_qc(result, record.sequence, replicon, reference.spec.accession)


def _left_out(alignment: Alignment, ref_length: int) -> int:
    """Non-N query bases the chain leaves out although reference bases lie opposite them.

    Between hits that is every query base; at the ends only as many as the reference has left
    (a query longer than a CDS-only reference, e.g. influenza segments with their UTRs, has
    overhang there, not missing alignment).
    """
    query, hits = alignment.query, alignment.hits

    def known(a: int, b: int) -> int:
        return max(b - a - query.count("N", a, b), 0)

    inside = sum(known(p.q_en, h.q_st) for p, h in itertools.pairwise(hits))
    first, last = hits[0], hits[-1]
    ends = min(known(0, first.q_st), first.r_st) + min(
        known(last.q_en, len(query)), ref_length - last.r_en
    )
    return inside + ends


def _more_sensitive(alignment: Alignment, fallback: Mapping[str, mappy.Aligner]) -> Alignment:
    """The sensitive preset's alignment to the same replicon, where it aligns more of the query.

    ``asm5`` expects < 1 % divergence: on a divergent strain (HIV subtypes, measles genotypes)
    it aligns one conserved part and leaves thousands of bases out, too many to realign by
    dynamic programming; ``map-ont`` chains through them.
    """
    sensitive = align(alignment.query, fallback, alignment.replicon, preset=FALLBACK_PRESET)
    if sensitive is None or sensitive.query_fraction <= alignment.query_fraction:
        return alignment
    # ``alignment.query`` is already on the forward strand
    return replace(sensitive, reverse_complemented=alignment.reverse_complemented)


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for a, b in ranges:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


class Caller:
    """A reference compiled and indexed once, ready to call many sequences in this process."""

    def __init__(self, reference: ReferenceSpec) -> None:
        self.spec = reference
        self.reference = compile_reference(reference)
        self.aligners = build_aligners(reference)
        #: sensitive aligners for divergent records, built on first need (most never are)
        self.fallback = LazyAligners(reference, FALLBACK_PRESET)

    def __call__(self, record: FastaRecord) -> SequenceResult:
        return call_sequence(record, self.reference, self.aligners, self.fallback)


_WORKER: Caller | None = None


def _init_worker(reference: ReferenceSpec) -> None:
    global _WORKER
    _WORKER = Caller(reference)


def _work(record: FastaRecord) -> SequenceResult:
    assert _WORKER is not None
    return _WORKER(record)


def call_records(
    records: Iterable[FastaRecord], reference: ReferenceSpec, *, jobs: int = 1, chunksize: int = 16
) -> Iterator[SequenceResult]:
    """Call many records, in input order; identical sequences (same seqhash) are called once.

    With ``jobs > 1`` each worker builds its :class:`Caller` once in the pool initializer
    (with ``fork`` the reference is inherited, not pickled), and records go out in chunks of
    ``chunksize`` through ``imap``: per task only the record and its result cross processes.

    :param jobs: worker processes (``0`` = all cores); 1 calls in this process.
    """
    jobs = jobs or os.cpu_count() or 1
    done: dict[str, SequenceResult] = {}

    def unique(records: Iterable[FastaRecord]) -> Iterator[FastaRecord]:
        seen: set[str] = set()
        for record in records:
            if record.seqhash not in seen:
                seen.add(record.seqhash)
                yield record

    buffered: deque[FastaRecord] = deque()  # records waiting for their (shared) result

    def remember(records: Iterable[FastaRecord]) -> Iterator[FastaRecord]:
        for record in records:
            buffered.append(record)
            yield record

    if jobs == 1:
        caller = Caller(reference)
        for record in records:
            result = done.get(record.seqhash)
            if result is None:
                result = done[record.seqhash] = caller(record)
                yield result
            else:
                yield _renamed(result, record.id)
        return
    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    with context.Pool(jobs, initializer=_init_worker, initargs=(reference,)) as pool:
        results = pool.imap(_work, unique(remember(records)), chunksize=chunksize)
        for result in results:
            done[result.seqhash] = result
            while buffered and buffered[0].seqhash in done:
                record = buffered.popleft()
                yield _renamed(done[record.seqhash], record.id)
    for record in buffered:
        yield _renamed(done[record.seqhash], record.id)


def _renamed(result: SequenceResult, name: str) -> SequenceResult:
    if result.name == name:
        return result
    return replace(result, name=name)
