"""Invariants of the loaded data, recomputed the slow, obvious way (for tests)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.db import connection

from analyses.models import Alignment, MutationCount
from ena_like.models import (
    MutationWeekCount,
    Sample,
    SampleFieldCoverage,
    SampleProperty,
    SampleSequence,
)


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
    problems.extend(coverage_problems())
    problems.extend(week_count_problems())
    return problems


def week_count_problems() -> list[str]:
    """Where ``MutationWeekCount`` differs from a recount done the obvious way in Python: every
    sample with a reference and a date adds 1 to (reference, level, mutation, week since
    0001-01-01, first two dot-segments of its lineage) for each of its mutations."""
    expected: Counter[tuple[int, str, int, int, str]] = Counter()
    for ref, day, lineage, nt, aa in Sample.objects.values_list(
        "reference_id", "collection_date", "lineage", "nt_mutation_ids", "aa_mutation_ids"
    ):
        if ref is None or day is None:
            continue
        week = (day.toordinal() - 1) // 7
        prefix = ".".join((lineage or "").split(".")[:2])
        expected.update((ref, "nt", m, week, prefix) for m in nt)
        expected.update((ref, "aa", m, week, prefix) for m in aa)
    stored = {
        row[:5]: row[5]
        for row in MutationWeekCount.objects.values_list(
            "reference_id", "level", "mutation_id", "week", "lineage_group", "samples"
        )
    }
    diff = sorted(k for k in set(stored) | set(expected) if stored.get(k) != expected.get(k))
    return [
        f"MutationWeekCount {key}: stored {stored.get(key)}, counted {expected.get(key)}"
        for key in diff[:10]
    ]


def coverage_problems() -> list[str]:
    """Where ``SampleFieldCoverage`` differs from a recount, field by field, done the slow,
    obvious way in Python (every sample, every property row) — not with the service's SQL."""
    fixed = ("name", *Sample.FIXED_FIELDS, "length")
    expected: Counter[tuple[int | None, str]] = Counter()
    for sample in Sample.objects.all():
        ref = sample.reference_id
        expected[(ref, "*")] += 1
        for name in fixed:
            if getattr(sample, name) not in (None, ""):
                expected[(ref, name)] += 1
        expected[(ref, "genomic_profiles")] += bool(sample.nt_mutation_ids)
        expected[(ref, "proteomic_profiles")] += bool(sample.aa_mutation_ids)
    for ref, name in SampleProperty.objects.values_list("sample__reference_id", "property__name"):
        expected[(ref, name)] += 1
    wanted = {k: n for k, n in expected.items() if n}
    stored = {
        (ref, name): n
        for ref, name, n in SampleFieldCoverage.objects.values_list(
            "reference_id", "field", "samples"
        )
    }
    return [
        f"SampleFieldCoverage {key}: stored {stored.get(key)}, counted {wanted.get(key)}"
        for key in sorted(set(stored) | set(wanted), key=lambda k: (k[0] or 0, k[1]))
        if stored.get(key) != wanted.get(key)
    ]


_TABLES = {
    "sample": ("ena_like_sample", "last_update_date"),
    "record": ("ena_like_samplesequence", "updated"),
    "sequence": ("ena_like_sequence", "created"),
    "property_value": ("ena_like_sampleproperty", None),
    "alignment": ("analyses_alignment", "created"),
    "unknown_range": ("analyses_unknownrange", None),
    "mutation_count": ("analyses_mutationcount", "updated"),
    "field_coverage": ("ena_like_samplefieldcoverage", None),
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
        cursor.execute(
            "SELECT coalesce(sum(hashtext(coalesce(reference_id::text, '-') || field || ':' || "
            "samples::text)), 0) FROM ena_like_samplefieldcoverage"
        )
        result["coverage_content"] = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*), coalesce(sum(hashtext(reference_id::text || level || "
            "mutation_id::text || ':' || week::text || ':' || lineage_group || ':' || "
            "samples::text)), 0) FROM ena_like_mutationweekcount"
        )
        result["week_count_content"] = tuple(cursor.fetchone())
    return result
