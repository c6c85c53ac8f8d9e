"""Sample fields and typed values: one definition, read from the models, for import and query.

Which columns a sample has, their type, maximum length, choices and integer range come from
:class:`~ena_like.models.Sample` itself (Django's ``_meta``), so a new or changed column is
known everywhere at once: by metadata import (:mod:`ena_like.metadata`), the filter compiler,
the sample index and the exports. Custom property values take the type of the
:class:`~ena_like.models.SampleProperty` column that stores them.

One parser, :func:`parse_value`, turns a metadata cell and a filter's value alike into the
column's Python type, so a value means the same on both sides:

- integers are bounded to the column (``int4`` for ``length``, ``int8`` for custom
  properties), so an out-of-range number is reported with its line and column at import, and
  as a filter error at query, instead of failing later inside ``COPY`` or comparing wrongly;
- floats must be finite;
- dates are ISO ``YYYY-MM-DD`` (what sonar's frontend sends), an ISO date-time (time dropped,
  as sonar's metadata sends ``2024-11-05T00:00:00``), US ``M/D/YYYY`` (sonar's
  ``meta_autolink.tsv``: ``2/9/2021`` is 9 February) and German ``D.M.YYYY``. The separator
  tells the orders apart, so no date is ambiguous; a filter accepts what a metadata file
  accepts, so a date copied from one's own TSV finds the rows it imported.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from django.db import connection, models

from ena_like.models import Property, Sample, SampleProperty


class ValueType(StrEnum):
    """How a value is parsed and compared (numbers and dates as such, not as text)."""

    INTEGER = "integer"
    FLOAT = "float"
    DATE = "date"
    DATETIME = "datetime"
    BOOL = "bool"
    TEXT = "text"


@dataclass(frozen=True)
class FieldSpec:
    """What a value of one column must be: its type and the column's constraints.

    :param int_range: the smallest and largest integer the column stores (integers only).
    :param max_length: longest text the column stores (text only; ``None``: no limit).
    :param choices: the only values allowed, in lower case (empty: any).
    :param postal_code: text restricted to a postal code (sonar's ``zip`` type).
    """

    name: str
    type: ValueType
    int_range: tuple[int, int] | None = None
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    postal_code: bool = False


#: sonar's ``zip`` type: the model stores plain text, sonar checks the format
_POSTAL_CODE_COLUMNS = frozenset({"zip_code"})


def _spec(field: models.Field) -> FieldSpec | None:
    """The spec of a plain scalar column; ``None`` for the key, relations and arrays."""
    if field.primary_key or field.is_relation or not field.concrete:
        return None
    internal = field.get_internal_type()
    if isinstance(field, models.DateTimeField):
        value_type = ValueType.DATETIME
    elif isinstance(field, models.DateField):
        value_type = ValueType.DATE
    elif isinstance(field, models.BooleanField):
        value_type = ValueType.BOOL
    elif isinstance(field, models.FloatField):
        value_type = ValueType.FLOAT
    elif isinstance(field, models.IntegerField):
        low, high = connection.ops.integer_field_range(internal)
        return FieldSpec(field.name, ValueType.INTEGER, int_range=(low, high))
    elif isinstance(field, models.CharField | models.TextField):
        return FieldSpec(
            field.name,
            ValueType.TEXT,
            max_length=field.max_length,
            choices=tuple(str(value).lower() for value, _ in field.choices or ()),
            postal_code=field.name in _POSTAL_CODE_COLUMNS,
        )
    elif internal == "ArrayField":
        return None
    else:
        raise TypeError(f"no value type for {field.model.__name__}.{field.name} ({internal})")
    return FieldSpec(field.name, value_type)


#: every plain column of a sample, in the model's order: what a filter, an ordering or an
#: export may name besides custom properties
SAMPLE_FIELDS: dict[str, FieldSpec] = {
    spec.name: spec for spec in map(_spec, Sample._meta.concrete_fields) if spec is not None
}
#: the value type of each sample column (filters call them the fixed columns)
FIXED_COLUMNS: dict[str, ValueType] = {name: spec.type for name, spec in SAMPLE_FIELDS.items()}
#: sonar's fixed metadata columns, which a metadata file sets (``Sample.FIXED_FIELDS``)
METADATA_FIELDS: dict[str, FieldSpec] = {name: SAMPLE_FIELDS[name] for name in Sample.FIXED_FIELDS}
#: property names with a special meaning in a metadata file
NAME = "name"
SEQUENCES = "sequences"
#: names no custom property may take: every sample column (the key, relations and the derived
#: arrays included), the special metadata columns and the fields the API derives
RESERVED_NAMES = frozenset(
    {field.name for field in Sample._meta.concrete_fields}
    | {NAME, SEQUENCES, "genomic_profiles", "proteomic_profiles", "qc"}
)
#: custom property types (the values of ``Property.DataType``)
DATATYPES = tuple(Property.DataType.values)


def property_spec(name: str, datatype: str) -> FieldSpec:
    """The spec of a custom property: the type and range of the ``SampleProperty`` column its
    values are stored in (``value_integer`` is ``int8``), and sonar's ``zip`` format."""
    column = Property(datatype=datatype).value_column
    spec = _spec(SampleProperty._meta.get_field(column))
    assert spec is not None
    return FieldSpec(
        name,
        spec.type,
        int_range=spec.int_range,
        postal_code=datatype == Property.DataType.ZIP,
    )


# --- parsing ------------------------------------------------------------------------------------
DATE_FORMATS = "YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS, M/D/YYYY or D.M.YYYY"
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
_ZIP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 \-]*$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_ISO_DATETIME = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
    r"(?:Z|[+-]\d{2}:?\d{2})?$"
)
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_DE_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
#: the widest integer any column stores (``int8``), for values without a column
INT8 = connection.ops.integer_field_range("BigIntegerField")


def parse_value(
    value_type: ValueType, value: object, *, int_range: tuple[int, int] | None = None
) -> object:
    """Convert a metadata cell or a filter value to ``value_type``.

    >>> parse_value(ValueType.DATE, "2/9/2021"), parse_value(ValueType.DATE, "2024-11-05T00:00")
    (datetime.date(2021, 2, 9), datetime.date(2024, 11, 5))
    >>> parse_value(ValueType.BOOL, "Yes"), parse_value(ValueType.INTEGER, "48.0")
    (True, 48)
    >>> parse_value(ValueType.INTEGER, "3000000000", int_range=(-2**31, 2**31 - 1))
    Traceback (most recent call last):
    ValueError: '3000000000' is out of range (-2147483648 to 2147483647)

    :param int_range: bounds of the integer column (default: ``int8``).
    :raises ValueError: with a reason naming the value, fit for a row problem or filter error.
    """
    if value_type is ValueType.INTEGER:
        return _integer(value, int_range or INT8)
    if value_type is ValueType.FLOAT:
        return _float(value)
    if value_type is ValueType.DATE:
        if isinstance(value, dt.datetime):
            return value.date()
        return value if isinstance(value, dt.date) else parse_date(str(value).strip())
    if value_type is ValueType.DATETIME:
        return _datetime(value)
    if value_type is ValueType.BOOL:
        return _bool(value)
    return str(value)


def check_value(spec: FieldSpec, value: object) -> object:
    """A parsed value checked against the column's constraints (what a metadata file stores).

    Not applied to filter values, which may be patterns (``contains 04``) rather than values.

    :returns: the value, a choice in its stored (lower) case.
    :raises ValueError: too long, not one of the choices, not a postal code.
    """
    if spec.type is not ValueType.TEXT:
        return value
    text = str(value)
    if spec.max_length is not None and len(text) > spec.max_length:
        raise ValueError(f"{text!r} is longer than {spec.max_length} characters")
    if spec.choices:
        if text.lower() not in spec.choices:
            raise ValueError(f"{text!r} is not one of: {', '.join(spec.choices)}")
        return text.lower()
    if spec.postal_code and not _ZIP.match(text):
        raise ValueError(f"{text!r} is not a postal code (letters, digits, spaces, '-')")
    return text


def parse_date(text: str) -> dt.date:
    """Parse a date in one of :data:`DATE_FORMATS`.

    :raises ValueError: not a date in an accepted format, or an impossible date.
    """
    for pattern, order in ((_ISO_DATE, "ymd"), (_US_DATE, "mdy"), (_DE_DATE, "dmy")):
        match = pattern.match(text)
        if match:
            parts = dict(zip(order, map(int, match.groups()), strict=True))
            return _make_date(text, parts["y"], parts["m"], parts["d"])
    match = _ISO_DATETIME.match(text)
    if match:
        year, month, day = (int(g) for g in match.groups()[:3])
        return _make_date(text, year, month, day)
    raise ValueError(f"{text!r} is not a date (accepted: {DATE_FORMATS})")


def _make_date(text: str, year: int, month: int, day: int) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid date ({exc})") from None


def _datetime(value: object) -> dt.datetime:
    """A moment: a date alone is its midnight; without a zone, UTC (the server's zone)."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    else:
        text = str(value).strip()
        if _ISO_DATETIME.match(text):
            try:
                moment = dt.datetime.fromisoformat(text)
            except ValueError as exc:
                raise ValueError(f"{text!r} is not a valid date-time ({exc})") from None
        else:
            moment = dt.datetime.combine(parse_date(text), dt.time())
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _integer(value: object, int_range: tuple[int, int]) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value!r} is not an integer")
        number = int(value)
    else:
        text = str(value).strip()
        try:
            number = int(text)
        except ValueError:
            try:
                as_float = float(text)
            except ValueError:
                as_float = None
            if as_float is None or not as_float.is_integer():
                raise ValueError(f"{text!r} is not an integer") from None
            number = int(as_float)
    low, high = int_range
    if not low <= number <= high:
        shown = value if isinstance(value, str) else number
        raise ValueError(f"{shown!r} is out of range ({low} to {high})")
    return number


def _float(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    try:
        number = float(value if isinstance(value, int | float) else str(value).strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{value!r} is not a boolean (use true/false, yes/no or 1/0)")
