"""Typed comparison values: a filter's ``value`` converted to the column's type.

Numbers and dates compare as numbers and dates (``gt 9`` is not ``> '9'``); a value that does
not fit the type is an error naming the property and the value.
"""

import ast
import datetime as dt
import re
from typing import Any

from ena_like.filters.errors import FilterError

#: value types of sample columns and custom properties
INTEGER, FLOAT, DATE, DATETIME, BOOL, TEXT = "integer", "float", "date", "datetime", "bool", "text"

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("not a boolean")


def _to_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    # "2024-11-05T00:00:00" as sent by sonar's metadata
    return dt.date.fromisoformat(text[:10])


def _to_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    else:
        text = str(value).strip()
        moment = (
            dt.datetime.fromisoformat(text)
            if len(text) > 10
            else dt.datetime.fromisoformat(text + "T00:00:00")
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("not an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("not an integer")
        return int(value)
    number = int(str(value).strip())
    if abs(number) >= 2**63:
        raise ValueError("integer out of range")
    return number


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("not a number")
    number = float(str(value).strip()) if not isinstance(value, int | float) else float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError("not a finite number")
    return number


#: substring comparisons of text (``%`` at either end, SQL's wildcard, is dropped)
_TEXT_LOOKUPS = ("contains", "icontains", "startswith", "istartswith", "endswith", "iendswith")

_CONVERT = {
    INTEGER: _to_int,
    FLOAT: _to_float,
    DATE: _to_date,
    DATETIME: _to_datetime,
    BOOL: _to_bool,
    TEXT: lambda v: str(v),
}


def _as_list(value: Any) -> list:
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                parsed = None
            if isinstance(parsed, list | tuple):
                return list(parsed)
        return [part.strip() for part in text.split(",")]
    return [value]


def typed_value(name: str, value_type: str, filter_type: str, value: Any) -> tuple[str, Any]:
    """The Django lookup and the converted value for ``name <filter_type> value``.

    :returns: ``(lookup, value)``, e.g. ``("range", (3, 9))``.
    :raises FilterError: the value does not fit the type, or the comparison makes no sense for
        it (``contains`` on a number), naming the property and the value.
    """
    convert = _CONVERT[value_type]

    def one(item: Any) -> Any:
        if item is None:
            raise FilterError(f"property '{name}': {filter_type} needs a value")
        try:
            return convert(item)
        except (TypeError, ValueError):
            raise FilterError(
                f"property '{name}' holds {value_type} values; cannot compare with '{filter_type}'",
                value=item,
            ) from None

    if filter_type == "isnull":
        try:
            return "isnull", _to_bool(True if value is None else value)
        except ValueError:
            raise FilterError("'isnull' takes true or false", value=value) from None
    if filter_type in (*_TEXT_LOOKUPS, "regex", "iregex", "iexact") and value_type != TEXT:
        if filter_type == "iexact":
            return "exact", one(value)
        raise FilterError(f"'{filter_type}' needs a text property; '{name}' holds {value_type}")
    if filter_type in _TEXT_LOOKUPS:
        return filter_type, str(one(value)).strip("%")
    if filter_type in ("regex", "iregex"):
        pattern = str(one(value))
        try:
            re.compile(pattern)
        except re.error as exc:
            raise FilterError(f"invalid regular expression ({exc})", value=pattern) from None
        return filter_type, pattern
    if filter_type == "in":
        return "in", [one(item) for item in _as_list(value)]
    if filter_type == "range":
        bounds = _as_list(value)
        if len(bounds) != 2:
            raise FilterError(
                f"property '{name}': 'range' needs two bounds like \"10,50\" or [10, 50]",
                value=value,
            )
        return "range", (one(bounds[0]), one(bounds[1]))
    return filter_type, one(value)
