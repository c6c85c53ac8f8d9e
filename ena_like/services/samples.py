"""Write sample metadata: fixed columns and typed custom properties, in bulk.

Input is a validated :class:`~ena_like.metadata.MetadataTable` (nothing here parses text). One
transaction; rows go through ``COPY`` into temporary tables and are merged with set-based
statements, so 20,000 rows cost a handful of statements rather than 20,000 ORM saves.

Semantics:

- an empty cell never overwrites a stored value (it was not given);
- a row only changes ``last_update_date``/``updated_by_run`` when a value actually changed, so
  importing the same file again changes nothing;
- a row for a sample that does not exist yet creates it (under ``reference_id`` when given), so
  metadata may arrive before or after the sequences; the count is reported;
- a sample stored under another reference is a conflict, reported before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import connection, transaction

from emgsonar.errors import ConflictError
from ena_like.fields import METADATA_FIELDS
from ena_like.metadata import MetadataTable
from ena_like.models import Property, Sample, SampleProperty
from ena_like.services.properties import ensure_properties
from ena_like.services.sample_index import tracked_coverage

SAMPLE = Sample._meta.db_table
SAMPLE_PROPERTY = SampleProperty._meta.db_table
_FIXED = tuple(METADATA_FIELDS)
_VALUE_COLUMNS = ("value_integer", "value_float", "value_date", "value_text", "value_bool")


@dataclass
class MetadataStats:
    """What :func:`apply_metadata` did (goes into the import summary)."""

    rows: int = 0
    samples_created: int = 0
    samples_updated: int = 0
    samples_unchanged: int = 0
    property_values_written: int = 0
    #: mapped columns without a declared property, imported as text properties
    new_text_properties: list[str] = field(default_factory=list)
    #: rows left out under skip-invalid-rows: (line, name, reasons)
    skipped_rows: list[dict[str, object]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def apply_metadata(
    table: MetadataTable,
    import_run_id: int | None = None,
    *,
    reference_id: int | None = None,
    create_missing: bool = True,
) -> MetadataStats:
    """Upsert the fixed columns and custom properties of every row of ``table``.

    :param table: a parsed, validated metadata file.
    :param import_run_id: the run that writes (``created_by_run``/``updated_by_run``).
    :param reference_id: the reference of the import: new samples get it, and samples of another
        reference are refused.
    :param create_missing: create samples that do not exist yet (else they are left out and
        counted as unchanged).
    :raises ConflictError: a sample belongs to another reference, or a mapped property exists
        with another type.
    """
    stats = MetadataStats(
        rows=len(table.rows),
        new_text_properties=list(table.new_properties),
        skipped_rows=[
            {"line": s.line, "name": s.name, "problems": [str(p) for p in s.problems]}
            for s in table.skipped
        ],
    )
    if not table.rows:
        return stats
    fixed_used = [c for c in _FIXED if any(c in row.fixed for row in table.rows)]
    with transaction.atomic(), connection.cursor() as cursor:
        props = ensure_properties(table.property_types)
        _copy_rows(cursor, table, fixed_used)
        if reference_id is not None:
            _check_reference(cursor, reference_id)
        created: set[int] = set()
        if create_missing:
            created = insert_samples(
                cursor, "tmp_meta t", [], reference_id, import_run_id, fixed_used
            )
            stats.samples_created = len(created)
        cursor.execute(
            f"SELECT s.id FROM {SAMPLE} s JOIN tmp_meta t ON t.name = s.name "
            "ORDER BY s.id FOR UPDATE OF s"
        )
        locked = [row[0] for row in cursor.fetchall()]
        with tracked_coverage(cursor, locked, created):
            touched = _update_fixed(cursor, fixed_used, reference_id, import_run_id)
            written, prop_touched = _upsert_properties(cursor, table, props)
        stats.property_values_written = written
        late = prop_touched - touched
        if late:
            cursor.execute(
                f"UPDATE {SAMPLE} SET last_update_date = now(), updated_by_run_id = %s "
                "WHERE id = ANY(%s)",
                [import_run_id, sorted(late)],
            )
        stats.samples_updated = len((touched | prop_touched) - created)
        stats.samples_unchanged = len(table.rows) - stats.samples_created - stats.samples_updated
    return stats


def _copy_rows(cursor, table: MetadataTable, fixed_used: list[str]) -> None:
    columns = ", ".join(f"{c} {Sample._meta.get_field(c).db_type(connection)}" for c in fixed_used)
    cursor.execute("DROP TABLE IF EXISTS tmp_meta")
    cursor.execute(
        "CREATE TEMP TABLE tmp_meta (name text PRIMARY KEY"
        + (f", {columns}" if columns else "")
        + ") ON COMMIT DROP"
    )
    names = ", ".join(["name", *fixed_used])
    with cursor.copy(f"COPY tmp_meta ({names}) FROM STDIN") as copy:
        for row in table.rows:
            copy.write_row((row.name, *(row.fixed.get(c) for c in fixed_used)))


def _check_reference(cursor, reference_id: int) -> None:
    cursor.execute(
        f"SELECT s.name FROM {SAMPLE} s JOIN tmp_meta t ON t.name = s.name "
        "WHERE s.reference_id IS NOT NULL AND s.reference_id <> %s ORDER BY s.name LIMIT 20",
        [reference_id],
    )
    clashes = [row[0] for row in cursor.fetchall()]
    if clashes:
        raise ConflictError(
            f"{len(clashes)} sample(s) belong to another reference",
            value=clashes,
            hint="Sample names are unique across references; rename or delete them first",
        )


def insert_samples(
    cursor,
    source: str,
    source_params: Sequence[object],
    reference_id: int | None,
    import_run_id: int | None,
    columns: Sequence[str] = (),
) -> set[int]:
    """Create the samples named in ``source`` that do not exist yet; return the new ids.

    The one statement that creates sample rows, shared by the metadata import and the sequence
    load (samples may arrive either way first): empty mutation arrays, upload and update date
    now, the run as creator and updater. Names are inserted in order and a name another
    transaction just created is skipped (``ON CONFLICT``), so concurrent loads do not deadlock.

    :param source: a FROM item aliased ``t`` with a ``name`` column and ``columns``, e.g.
        ``tmp_meta t`` or ``unnest(%s::text[]) AS t(name)``; ``source_params`` fill it.
    :param columns: fixed sample columns copied from ``t`` (trusted names, never user text).
    """
    names = "".join(f", {c}" for c in columns)
    values = "".join(f", t.{c}" for c in columns)
    cursor.execute(
        f"""
        INSERT INTO {SAMPLE} (name, reference_id, nt_mutation_ids, aa_mutation_ids,
            init_upload_date, last_update_date, created_by_run_id, updated_by_run_id{names})
        SELECT t.name, %s, '{{}}', '{{}}', now(), now(), %s, %s{values}
        FROM {source}
        WHERE NOT EXISTS (SELECT 1 FROM {SAMPLE} s WHERE s.name = t.name)
        ORDER BY t.name
        ON CONFLICT (name) DO NOTHING
        RETURNING id
        """,
        [reference_id, import_run_id, import_run_id, *source_params],
    )
    return {row[0] for row in cursor.fetchall()}


def _update_fixed(
    cursor, fixed_used: list[str], reference_id: int | None, import_run_id: int | None
) -> set[int]:
    """Set given fixed values that differ; returns the ids of the samples changed."""
    sets = [f"{c} = COALESCE(t.{c}, s.{c})" for c in fixed_used]
    differs = [f"(t.{c} IS NOT NULL AND t.{c} IS DISTINCT FROM s.{c})" for c in fixed_used]
    params: list[object] = []
    if reference_id is not None:
        sets.append("reference_id = COALESCE(s.reference_id, %s)")
        differs.append("s.reference_id IS NULL")
        params.append(reference_id)
    if not sets:
        return set()
    cursor.execute(
        f"UPDATE {SAMPLE} s SET {', '.join(sets)}, last_update_date = now(), "
        "updated_by_run_id = %s FROM tmp_meta t WHERE s.name = t.name AND ("
        + " OR ".join(differs)
        + ") RETURNING s.id",
        [*params, import_run_id],
    )
    return {row[0] for row in cursor.fetchall()}


def _upsert_properties(
    cursor, table: MetadataTable, props: dict[str, Property]
) -> tuple[int, set[int]]:
    """Insert or change property values that differ; returns (values written, sample ids)."""
    if not props:
        return 0, set()
    cursor.execute("DROP TABLE IF EXISTS tmp_meta_prop")
    cursor.execute(
        "CREATE TEMP TABLE tmp_meta_prop (name text, property_id bigint, value_integer bigint, "
        "value_float double precision, value_date date, value_text text, value_bool boolean) "
        "ON COMMIT DROP"
    )
    with cursor.copy(
        "COPY tmp_meta_prop (name, property_id, " + ", ".join(_VALUE_COLUMNS) + ") FROM STDIN"
    ) as copy:
        for row in table.rows:
            for prop_name, value in row.properties.items():
                prop = props[prop_name]
                values = [None] * len(_VALUE_COLUMNS)
                values[_VALUE_COLUMNS.index(prop.value_column)] = value
                copy.write_row((row.name, prop.pk, *values))
    assignments = ", ".join(f"{c} = EXCLUDED.{c}" for c in _VALUE_COLUMNS)
    old = ", ".join(f"sp.{c}" for c in _VALUE_COLUMNS)
    new = ", ".join(f"EXCLUDED.{c}" for c in _VALUE_COLUMNS)
    cursor.execute(
        f"""
        INSERT INTO {SAMPLE_PROPERTY} AS sp (sample_id, property_id, {", ".join(_VALUE_COLUMNS)})
        SELECT s.id, t.property_id, {", ".join("t." + c for c in _VALUE_COLUMNS)}
        FROM tmp_meta_prop t JOIN {SAMPLE} s ON s.name = t.name
        ORDER BY s.id, t.property_id
        ON CONFLICT (sample_id, property_id) DO UPDATE SET {assignments}
        WHERE ({old}) IS DISTINCT FROM ({new})
        RETURNING sp.sample_id
        """
    )
    sample_ids = [row[0] for row in cursor.fetchall()]
    return len(sample_ids), set(sample_ids)
