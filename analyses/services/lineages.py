"""Lineage graphs in the database: import (bulk, idempotent).

``import_lineages`` is what ``python manage.py import_lineage`` and its flow call. It merges: a
lineage is never duplicated (``(reference, name)`` is unique), the parents of every lineage the
input defines are replaced by the input's, and lineages the input does not mention are kept
(samples may still carry them). So re-importing the same file is a no-op, and importing the
full tree after the test tree corrects ``B.1.617`` (a child of ``BA.1`` only in the test file).

Reading the stored graph (sublineages, name resolution) is :mod:`analyses.lineage_graph`,
whose per-process cache an import here clears.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.db import connection, transaction

from analyses.lineage_graph import forget_graph
from analyses.lineages import LineageSet, parse_lineage_tsv, parse_pango
from analyses.models import Lineage, LineageAlias, Reference
from emgsonar.errors import EmgsonarError, NotFoundError

logger = logging.getLogger(__name__)

LINEAGE = Lineage._meta.db_table
EDGE = Lineage.parents.through._meta.db_table


def validate_lineage_sources(
    lineages_tsv: Path | None, alias_key: Path | None, notes: Path | None
) -> None:
    """Exactly one source: a sonar TSV, or Pango's alias key together with its notes.

    :raises EmgsonarError: none, both, or half of the Pango pair.
    """
    pango = alias_key is not None or notes is not None
    if (lineages_tsv is None) == (not pango):
        raise EmgsonarError(
            "give either a lineage TSV or Pango's alias key and lineage notes",
            hint="--lineages FILE.tsv, or --pango alias_key.json lineage_notes.txt",
        )
    if pango and (alias_key is None or notes is None):
        raise EmgsonarError(
            "Pango import needs both alias_key.json and lineage_notes.txt",
            hint="--pango alias_key.json lineage_notes.txt",
        )


def import_lineages(
    reference_accession: str,
    *,
    lineages_tsv: Path | None = None,
    alias_key: Path | None = None,
    notes: Path | None = None,
    import_run_id: int | None = None,
) -> dict[str, object]:
    """Import a lineage graph for a reference (see the module docstring for the merge rules).

    :returns: a summary: lineages total/created/updated, edges added/removed, aliases
        created/updated, withdrawn count, parser warnings.
    :raises NotFoundError: unknown reference.
    :raises InputFormatError: unreadable or malformed files (nothing written).
    """
    validate_lineage_sources(lineages_tsv, alias_key, notes)
    reference = Reference.objects.filter(accession=reference_accession.strip()).first()
    if reference is None:
        raise NotFoundError(
            f"unknown reference {reference_accession!r}", hint="Import the reference first"
        )
    parsed = (
        parse_lineage_tsv(Path(lineages_tsv))
        if lineages_tsv is not None
        else parse_pango(Path(alias_key), Path(notes))  # type: ignore[arg-type]
    )
    with transaction.atomic():
        summary = _write(reference.pk, parsed, import_run_id)
    forget_graph(reference.pk)
    summary["warnings"] = list(parsed.warnings)
    return summary


def _write(reference_id: int, parsed: LineageSet, import_run_id: int | None) -> dict[str, object]:
    existing = {
        row[1]: row
        for row in Lineage.objects.filter(reference_id=reference_id).values_list(
            "id", "name", "full_name", "description", "withdrawn"
        )
    }
    new = [
        Lineage(
            reference_id=reference_id,
            name=rec.name,
            full_name=rec.full_name,
            description=rec.description,
            withdrawn=rec.withdrawn,
            import_run_id=import_run_id,
        )
        for rec in parsed.lineages.values()
        if rec.name not in existing
    ]
    Lineage.objects.bulk_create(new, batch_size=2000, ignore_conflicts=True)
    changed: list[tuple[int, str, str, bool]] = []
    if parsed.details_defined:
        for rec in parsed.lineages.values():
            row = existing.get(rec.name)
            if row is not None and (row[2], row[3], row[4]) != (
                rec.full_name,
                rec.description,
                rec.withdrawn,
            ):
                changed.append((row[0], rec.full_name, rec.description, rec.withdrawn))
    if changed:  # COPY + one UPDATE: bulk_update's CASE expressions take seconds here
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS tmp_lineage_update")
            cursor.execute(
                "CREATE TEMP TABLE tmp_lineage_update (id bigint, full_name text, "
                "description text, withdrawn boolean) ON COMMIT DROP"
            )
            with cursor.copy(
                "COPY tmp_lineage_update (id, full_name, description, withdrawn) FROM STDIN"
            ) as copy:
                for row in changed:
                    copy.write_row(row)
            cursor.execute(
                f"UPDATE {LINEAGE} l SET full_name = t.full_name, description = t.description, "
                "withdrawn = t.withdrawn, import_run_id = %s FROM tmp_lineage_update t "
                "WHERE l.id = t.id",
                [import_run_id],
            )
    ids = dict(Lineage.objects.filter(reference_id=reference_id).values_list("name", "id"))
    wanted = {
        (ids[child], ids[parent])
        for child, parent in parsed.edges
        if child in parsed.parents_defined and child in ids and parent in ids
    }
    defined_ids = [ids[name] for name in parsed.parents_defined if name in ids]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT from_lineage_id, to_lineage_id FROM {EDGE} WHERE from_lineage_id = ANY(%s)",
            [defined_ids],
        )
        stored = set(cursor.fetchall())
        removed = sorted(stored - wanted)
        added = sorted(wanted - stored)
        if removed:
            cursor.execute(
                f"DELETE FROM {EDGE} e USING unnest(%s::bigint[], %s::bigint[]) AS r(c, p) "
                "WHERE e.from_lineage_id = r.c AND e.to_lineage_id = r.p",
                [[c for c, _ in removed], [p for _, p in removed]],
            )
        if added:
            with cursor.copy(f"COPY {EDGE} (from_lineage_id, to_lineage_id) FROM STDIN") as copy:
                for edge in added:
                    copy.write_row(edge)
    aliases_created, aliases_updated = _write_aliases(reference_id, parsed)
    return {
        "lineages": len(parsed.lineages),
        "lineages_created": len(new),
        "lineages_updated": len(changed),
        "edges_added": len(added),
        "edges_removed": len(removed),
        "aliases_created": aliases_created,
        "aliases_updated": aliases_updated,
        "withdrawn": sum(1 for rec in parsed.lineages.values() if rec.withdrawn),
    }


def _write_aliases(reference_id: int, parsed: LineageSet) -> tuple[int, int]:
    if not parsed.aliases:
        return 0, 0
    stored = {a.alias: a for a in LineageAlias.objects.filter(reference_id=reference_id)}
    created, updated = [], []
    for rec in parsed.aliases:
        row = stored.get(rec.alias)
        if row is None:
            created.append(
                LineageAlias(
                    reference_id=reference_id,
                    alias=rec.alias,
                    expansion=rec.expansion,
                    recombinant_parents=list(rec.recombinant_parents),
                )
            )
        elif (row.expansion, list(row.recombinant_parents)) != (
            rec.expansion,
            list(rec.recombinant_parents),
        ):
            row.expansion = rec.expansion
            row.recombinant_parents = list(rec.recombinant_parents)
            updated.append(row)
    LineageAlias.objects.bulk_create(created, batch_size=2000)
    LineageAlias.objects.bulk_update(updated, ["expansion", "recombinant_parents"])
    return len(created), len(updated)
