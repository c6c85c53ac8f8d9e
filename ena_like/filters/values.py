"""Typed comparison values: a filter's ``value`` converted to the column's type.

Numbers and dates compare as numbers and dates (``gt 9`` is not ``> '9'``); a value that does
not fit the type is an error naming the property and the value. Values are parsed by
:func:`ena_like.fields.parse_value`, as metadata import parses them, so a date or an integer
means the same in a filter as in the file that was imported.
"""

import ast
import re
from typing import Any

from ena_like.fields import FieldSpec, ValueType, parse_value
from ena_like.filters.errors import FilterError

#: substring comparisons of text (``%`` at either end, SQL's wildcard, is dropped)
_TEXT_LOOKUPS = ("contains", "icontains", "startswith", "istartswith", "endswith", "iendswith")


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


def typed_value(spec: FieldSpec, filter_type: str, value: Any) -> tuple[str, Any]:
    """The Django lookup and the converted value for ``<spec's column> <filter_type> value``.

    :returns: ``(lookup, value)``, e.g. ``("range", (3, 9))``.
    :raises FilterError: the value does not fit the type (an integer out of the column's range
        too), or the comparison makes no sense for it (``contains`` on a number), naming the
        property and the value.
    """
    name, value_type = spec.name, spec.type

    def one(item: Any) -> Any:
        if item is None:
            raise FilterError(f"property '{name}': {filter_type} needs a value")
        try:
            return parse_value(value_type, item, int_range=spec.int_range)
        except (TypeError, ValueError) as exc:
            raise FilterError(f"property '{name}' holds {value_type} values; {exc}") from None

    if filter_type == "isnull":
        try:
            return "isnull", parse_value(ValueType.BOOL, True if value is None else value)
        except ValueError:
            raise FilterError("'isnull' takes true or false", value=value) from None
    if (
        filter_type in (*_TEXT_LOOKUPS, "regex", "iregex", "iexact")
        and value_type is not ValueType.TEXT
    ):
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
