"""The one definition of sample fields matches the table the database really has.

Expected values come from Postgres's catalogue (``information_schema.columns``), not from the
model or from :mod:`ena_like.fields`, so a column added to the model without its field spec, or
a spec that guesses a type, fails here.
"""

from __future__ import annotations

import pytest
from django.db import connection

from ena_like.fields import (
    FIXED_COLUMNS,
    METADATA_FIELDS,
    RESERVED_NAMES,
    SAMPLE_FIELDS,
    ValueType,
    property_spec,
)
from ena_like.models import Sample, SampleProperty

pytestmark = pytest.mark.django_db

#: Postgres type → value type; arrays (``ARRAY``) and keys are no plain column
_PG_TYPES = {
    "character varying": ValueType.TEXT,
    "text": ValueType.TEXT,
    "date": ValueType.DATE,
    "timestamp with time zone": ValueType.DATETIME,
    "integer": ValueType.INTEGER,
    "bigint": ValueType.INTEGER,
    "double precision": ValueType.FLOAT,
    "boolean": ValueType.BOOL,
}
_PG_RANGES = {"integer": (-(2**31), 2**31 - 1), "bigint": (-(2**63), 2**63 - 1)}


def _columns(table: str) -> list[tuple[str, str, int | None]]:
    """(name, data type, character maximum length) of a table, in the table's order."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type, character_maximum_length "
            "FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
            [table],
        )
        return cursor.fetchall()


def test_sample_fields_are_the_tables_plain_columns() -> None:
    keys = {"id", *(f.column for f in Sample._meta.concrete_fields if f.is_relation)}
    plain = [c for c in _columns(Sample._meta.db_table) if c[0] not in keys and c[1] != "ARRAY"]
    # the same columns (migrations append, so the table's order is not the model's)
    assert sorted(SAMPLE_FIELDS) == sorted(name for name, _, _ in plain)
    assert FIXED_COLUMNS == {name: _PG_TYPES[pg_type] for name, pg_type, _ in plain}
    for name, pg_type, max_length in plain:
        spec = SAMPLE_FIELDS[name]
        assert spec.int_range == _PG_RANGES.get(pg_type), name
        assert spec.max_length == max_length, name
    # ``length`` is int4: one more than its largest value would fail inside the database
    assert SAMPLE_FIELDS["length"].int_range == (-(2**31), 2**31 - 1)


def test_metadata_fields_and_reserved_names() -> None:
    assert set(METADATA_FIELDS) <= set(SAMPLE_FIELDS)
    assert METADATA_FIELDS["genome_completeness"].choices == ("complete", "partial")
    assert METADATA_FIELDS["zip_code"].postal_code
    # every column of the table, keys and arrays included, is refused as a property name
    columns = {name.removesuffix("_id") for name, _, _ in _columns(Sample._meta.db_table)}
    assert columns <= RESERVED_NAMES


def test_custom_property_values_take_their_columns_type() -> None:
    pg = {name: pg_type for name, pg_type, _ in _columns(SampleProperty._meta.db_table)}
    assert pg["value_integer"] == "bigint"
    assert property_spec("age", "integer").int_range == _PG_RANGES["bigint"]
    for datatype, column in (
        ("float", "value_float"),
        ("date", "value_date"),
        ("bool", "value_bool"),
        ("text", "value_text"),
        ("varchar", "value_text"),
        ("zip", "value_text"),
    ):
        assert property_spec("p", datatype).type is _PG_TYPES[pg[column]], datatype
