"""A sample's values, as SQL expressions and as JSON.

One place decides how a name (a sample column or a custom property) becomes a value: ordering,
plots, distinct values and the CSV export all read it through :func:`value_expression` or
:func:`custom_value`, and show it through :func:`plain_value`.
"""

import datetime as dt
from typing import Any

from django.db.models import F, OuterRef, Subquery

from ena_like.fields import FIXED_COLUMNS
from ena_like.filters import FilterError
from ena_like.models import Property, SampleProperty


def plain_value(value: Any) -> Any:
    """Dates as ISO ``YYYY-MM-DD`` (sonar shows dates without time), the rest unchanged."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def property_types() -> dict[str, Property]:
    """Custom properties by name (one query; callers look several names up)."""
    return {p.name: p for p in Property.objects.all()}


def custom_value(prop: Property) -> Subquery:
    """The sample's value of ``prop`` as a correlated subquery on ``(sample, property)``,
    so it can be annotated, ordered and grouped like a column."""
    return Subquery(
        SampleProperty.objects.filter(sample=OuterRef("pk"), property_id=prop.pk).values(
            prop.value_column
        )[:1]
    )


def value_expression(name: str, props: dict[str, Property]) -> F | Subquery:
    """A sample column or custom property as an expression.

    :raises FilterError: unknown name.
    """
    if name in FIXED_COLUMNS:
        return F(name)
    prop = props.get(name)
    if prop is None:
        raise FilterError(
            f"unknown property '{name}'",
            hint="List them with GET /api/properties/distinct_property_names/",
        )
    return custom_value(prop)
