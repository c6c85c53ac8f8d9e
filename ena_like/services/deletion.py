"""Delete samples or sequence records (sonar's ``delete_sample_data``/``delete_sequence_data``).

Deleting is clean: records and property values of deleted samples go, sequences no record
points at any more are garbage-collected with their alignments and unknown ranges, and the
derived index stays exact (``MutationCount`` decremented, surviving samples' arrays recomputed).
Mutation rows themselves are kept: they are a dictionary shared by all sequences, and their ids
must stay stable for clients that cached them.

Everything happens in one transaction with raw SQL (Django's Python-side cascade would load
every row into memory first).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, transaction

from analyses.models import Reference
from emgsonar.errors import NotFoundError
from ena_like.models import SampleProperty
from ena_like.services.sample_index import (
    RECORD,
    SAMPLE,
    apply_count_deltas,
    collect_orphan_sequences,
    count_deltas_of_removal,
    lock_samples,
    refresh_samples,
    tracked_coverage,
)

SAMPLE_PROPERTY = SampleProperty._meta.db_table


def _reference_id(reference_accession: str | None) -> int | None:
    if reference_accession is None:
        return None
    accession = reference_accession.strip().strip("\"'")
    reference_id = Reference.objects.filter(accession=accession).values_list("id", flat=True)
    found = list(reference_id)
    if not found:
        raise NotFoundError(f"unknown reference {accession!r}", hint="Import the reference first")
    return found[0]


def delete_samples(reference_accession: str | None, names: Iterable[str]) -> tuple[int, int]:
    """Delete samples by name (of this reference, when given), with all their records.

    :param reference_accession: only samples of this reference are deleted; ``None``: any.
    :param names: sample names; unknown names are ignored (counted as not deleted).
    :returns: ``(deleted_count, deleted_samples_count)``: sequence records deleted and samples
        deleted.
    :raises NotFoundError: unknown reference.
    """
    reference_id = _reference_id(reference_accession)
    wanted = sorted({n for n in names if n})
    if not wanted:
        return 0, 0
    with transaction.atomic(), connection.cursor() as cursor:
        sql = f"SELECT id FROM {SAMPLE} WHERE name = ANY(%s)"
        params: list[object] = [wanted]
        if reference_id is not None:
            sql += " AND reference_id = %s"
            params.append(reference_id)
        cursor.execute(sql, params)
        sample_ids = [row[0] for row in cursor.fetchall()]
        locked = lock_samples(cursor, sample_ids)
        if not locked:
            return 0, 0
        ids = sorted(locked)
        cursor.execute(
            f"DELETE FROM {RECORD} WHERE sample_id = ANY(%s) RETURNING sequence_id", [ids]
        )
        sequence_ids = [row[0] for row in cursor.fetchall()]
        with tracked_coverage(cursor, ids):
            cursor.execute(f"DELETE FROM {SAMPLE_PROPERTY} WHERE sample_id = ANY(%s)", [ids])
            cursor.execute(f"DELETE FROM {SAMPLE} WHERE id = ANY(%s)", [ids])
        apply_count_deltas(cursor, count_deltas_of_removal(locked))
        collect_orphan_sequences(cursor, sequence_ids)
    return len(sequence_ids), len(ids)


def delete_sequences(
    reference_accession: str | None, names: Iterable[str], *, delete_empty_samples: bool = True
) -> tuple[int, int]:
    """Delete sequence records by name (FASTA record ids).

    A sample left without any record is deleted too (as sonar does), unless
    ``delete_empty_samples`` is false; a sample that keeps other records (influenza segments)
    gets its mutation arrays recomputed from what is left.

    :returns: ``(deleted_sequences_count, deleted_samples_count)``.
    :raises NotFoundError: unknown reference.
    """
    reference_id = _reference_id(reference_accession)
    wanted = sorted({n for n in names if n})
    if not wanted:
        return 0, 0
    with transaction.atomic(), connection.cursor() as cursor:
        sql = (
            f"SELECT ss.sample_id FROM {RECORD} ss JOIN {SAMPLE} s ON s.id = ss.sample_id "
            "WHERE ss.name = ANY(%s)"
        )
        params: list[object] = [wanted]
        if reference_id is not None:
            sql += " AND s.reference_id = %s"
            params.append(reference_id)
        cursor.execute(sql, params)
        sample_ids = sorted({row[0] for row in cursor.fetchall()})
        locked = lock_samples(cursor, sample_ids)
        if not locked:
            return 0, 0
        cursor.execute(
            f"DELETE FROM {RECORD} WHERE name = ANY(%s) AND sample_id = ANY(%s) "
            "RETURNING sequence_id",
            [wanted, sorted(locked)],
        )
        sequence_ids = [row[0] for row in cursor.fetchall()]
        empty: list[int] = []
        if delete_empty_samples:
            cursor.execute(
                f"SELECT s.id FROM {SAMPLE} s WHERE s.id = ANY(%s) AND NOT EXISTS "
                f"(SELECT 1 FROM {RECORD} ss WHERE ss.sample_id = s.id)",
                [sorted(locked)],
            )
            empty = sorted(row[0] for row in cursor.fetchall())
        if empty:
            with tracked_coverage(cursor, empty):
                cursor.execute(f"DELETE FROM {SAMPLE_PROPERTY} WHERE sample_id = ANY(%s)", [empty])
                cursor.execute(f"DELETE FROM {SAMPLE} WHERE id = ANY(%s)", [empty])
            apply_count_deltas(cursor, count_deltas_of_removal({i: locked[i] for i in empty}))
        remaining = [i for i in locked if i not in set(empty)]
        refresh_samples(cursor, remaining)
        collect_orphan_sequences(cursor, sequence_ids)
    return len(sequence_ids), len(empty)
