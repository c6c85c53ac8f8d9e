"""Step ``plan``: what an import would change, computed without writing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from ena_like.services.sample_index import RECORD, SAMPLE, SEQUENCE
from workflows.steps.lookups import LOOKUP_BATCH, aligned_seqhashes
from workflows.steps.manifest import ImportRecord


@dataclass
class ImportPlan:
    """What loading ``records`` would do; computed without writing.

    :param replaced: sample name → record names whose stored sequence differs from the new one
        (the flow asks for confirmation before replacing).
    :param moved: record name → (old sample, new sample) for records that change sample.
    :param conflicts: samples that exist under another reference (they cannot be loaded).
    """

    new_samples: list[str] = field(default_factory=list)
    existing_samples: list[str] = field(default_factory=list)
    new_records: list[str] = field(default_factory=list)
    unchanged_records: list[str] = field(default_factory=list)
    replaced: dict[str, list[str]] = field(default_factory=dict)
    moved: dict[str, tuple[str, str]] = field(default_factory=dict)
    to_align: list[str] = field(default_factory=list)
    already_aligned: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    @property
    def replaced_samples(self) -> list[str]:
        """Samples whose sequences would be replaced (what the operator confirms)."""
        return sorted(set(self.replaced) | {new for _, new in self.moved.values()})

    @property
    def needs_confirmation(self) -> bool:
        return bool(self.replaced or self.moved)

    def as_dict(self) -> dict[str, Any]:
        return {
            "new_samples": len(self.new_samples),
            "existing_samples": len(self.existing_samples),
            "new_records": len(self.new_records),
            "unchanged_records": len(self.unchanged_records),
            "replaced_samples": self.replaced_samples,
            "moved_records": {k: list(v) for k, v in self.moved.items()},
            "sequences_to_align": len(self.to_align),
            "sequences_already_aligned": len(self.already_aligned),
            "conflicts": self.conflicts,
        }


def plan_import(reference_id: int, records: Iterable[ImportRecord | Sequence[Any]]) -> ImportPlan:
    """Compare an import's records with what is stored.

    :param records: ``(record_name, sample_name, seqhash, length)`` per FASTA record.
    """
    recs = [ImportRecord(*r) for r in records]
    plan = ImportPlan()
    names = [r.record_name for r in recs]
    samples = sorted({r.sample_name for r in recs})
    stored_records: dict[str, tuple[str, str]] = {}
    stored_samples: dict[str, int | None] = {}
    with connection.cursor() as cursor:
        for i in range(0, len(names), LOOKUP_BATCH):
            cursor.execute(
                f"SELECT ss.name, s.name, q.seqhash FROM {RECORD} ss "
                f"JOIN {SAMPLE} s ON s.id = ss.sample_id "
                f"JOIN {SEQUENCE} q ON q.id = ss.sequence_id "
                "WHERE ss.name = ANY(%s)",
                [names[i : i + LOOKUP_BATCH]],
            )
            stored_records.update((row[0], (row[1], row[2])) for row in cursor.fetchall())
        for i in range(0, len(samples), LOOKUP_BATCH):
            cursor.execute(
                f"SELECT name, reference_id FROM {SAMPLE} WHERE name = ANY(%s)",
                [samples[i : i + LOOKUP_BATCH]],
            )
            stored_samples.update(cursor.fetchall())
        hashes = sorted({r.seqhash for r in recs})
        aligned = aligned_seqhashes(cursor, reference_id, hashes)
    plan.already_aligned = sorted(aligned)
    plan.to_align = [h for h in hashes if h not in aligned]
    for name in samples:
        if name not in stored_samples:
            plan.new_samples.append(name)
        elif stored_samples[name] not in (None, reference_id):
            plan.conflicts.append(name)
        else:
            plan.existing_samples.append(name)
    for rec in recs:
        stored = stored_records.get(rec.record_name)
        if stored is None:
            plan.new_records.append(rec.record_name)
            continue
        old_sample, old_hash = stored
        if old_sample != rec.sample_name:
            plan.moved[rec.record_name] = (old_sample, rec.sample_name)
        elif old_hash != rec.seqhash:
            plan.replaced.setdefault(rec.sample_name, []).append(rec.record_name)
        else:
            plan.unchanged_records.append(rec.record_name)
    return plan
