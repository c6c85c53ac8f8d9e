"""Invariants of the loaded data, recomputed the slow, obvious way (for tests)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.db import connection

from analyses.models import Alignment, MutationCount
from ena_like.models import Sample, SampleSequence


def index_problems(reference_id: int) -> list[str]:
    """Where ``Sample.*_mutation_ids`` or ``MutationCount`` disagree with the records.

    :returns: human-readable problems; empty when the derived index is exact.
    """
    problems: list[str] = []
    aln: dict[int, tuple[set[int], set[int]]] = {}
    for a in Alignment.objects.filter(replicon__reference_id=reference_id):
        nt, aa = aln.setdefault(a.sequence_id, (set(), set()))
        nt.update(a.nt_mutation_ids)
        aa.update(a.aa_mutation_ids)
    expected: dict[int, tuple[set[int], set[int]]] = {}
    for rec in SampleSequence.objects.filter(sample__reference_id=reference_id):
        nt, aa = expected.setdefault(rec.sample_id, (set(), set()))
        got = aln.get(rec.sequence_id)
        if got is None:
            problems.append(f"record {rec.name}: sequence {rec.sequence_id} has no alignment")
            continue
        nt.update(got[0])
        aa.update(got[1])
    counts: Counter[tuple[str, int]] = Counter()
    for sample in Sample.objects.filter(reference_id=reference_id):
        nt, aa = expected.get(sample.pk, (set(), set()))
        if sorted(nt) != list(sample.nt_mutation_ids):
            problems.append(f"sample {sample.name}: nt_mutation_ids differ from its alignments")
        if sorted(aa) != list(sample.aa_mutation_ids):
            problems.append(f"sample {sample.name}: aa_mutation_ids differ from its alignments")
        counts.update(("nt", m) for m in sample.nt_mutation_ids)
        counts.update(("aa", m) for m in sample.aa_mutation_ids)
    stored = {
        (level, mutation_id): samples
        for level, mutation_id, samples in MutationCount.objects.filter(
            reference_id=reference_id
        ).values_list("level", "mutation_id", "samples")
    }
    if stored != dict(counts):
        diff = {k for k in set(stored) | set(counts) if stored.get(k) != counts.get(k)}
        problems.append(f"MutationCount differs for {len(diff)} mutation(s): {sorted(diff)[:5]}")
    return problems


_TABLES = {
    "sample": ("ena_like_sample", "last_update_date"),
    "record": ("ena_like_samplesequence", "updated"),
    "sequence": ("ena_like_sequence", "created"),
    "property_value": ("ena_like_sampleproperty", None),
    "alignment": ("analyses_alignment", "created"),
    "unknown_range": ("analyses_unknownrange", None),
    "mutation_count": ("analyses_mutationcount", "updated"),
    "nt_mutation": ("analyses_nucleotidemutation", None),
    "aa_mutation": ("analyses_aminoacidmutation", None),
    "effect": ("analyses_mutationeffect", None),
}


def snapshot() -> dict[str, Any]:
    """Row count, id sum and latest change time of every table the loader writes.

    Two equal snapshots mean no row was added, removed or touched in between.
    """
    result: dict[str, Any] = {}
    with connection.cursor() as cursor:
        for name, (table, stamp) in _TABLES.items():
            cursor.execute(
                f"SELECT count(*), coalesce(sum(id), 0), "
                f"{f'max({stamp})' if stamp else 'NULL'} FROM {table}"
            )
            result[name] = tuple(cursor.fetchone())
        cursor.execute(
            "SELECT coalesce(sum(hashtext(name || ':' || coalesce(lineage, '') || ':' || "
            "coalesce(collection_date::text, '') || ':' || coalesce(length, 0)::text || ':' || "
            "nt_mutation_ids::text || aa_mutation_ids::text)), 0) FROM ena_like_sample"
        )
        result["sample_content"] = cursor.fetchone()[0]
        cursor.execute(
            "SELECT coalesce(sum(hashtext(reference_id::text || level || mutation_id::text || "
            "':' || samples::text)), 0) FROM analyses_mutationcount"
        )
        result["count_content"] = cursor.fetchone()[0]
    return result
