"""Custom sample properties (sonar's ``add_property``): the one place that creates them.

A property's type decides which typed column of ``SampleProperty`` holds its values, so numbers
and dates compare as such. Its name must not shadow a fixed sample column: a filter on
``lineage`` must mean exactly one thing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from django.db import transaction

from emgsonar.errors import ConflictError, EmgsonarError
from ena_like.fields import DATATYPES, METADATA_FIELDS, NAME, RESERVED_NAMES
from ena_like.models import Property, SampleFieldCoverage

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_MAX_NAME = 100
#: sonar's own sample columns: its scripts declare them as properties, which exist already
SONAR_COLUMNS = (NAME, *METADATA_FIELDS, "length", "init_upload_date", "last_update_date")


def validate_property(name: str, datatype: str) -> tuple[str, str]:
    """Check a property name and type before anything is written (house rule 6).

    :returns: the stripped name and the lower-cased type.
    :raises EmgsonarError: bad name or unknown type.
    :raises ConflictError: the name is a fixed sample column or otherwise reserved.
    """
    name = (name or "").strip()
    datatype = (datatype or "").strip().lower()
    if not name or len(name) > _MAX_NAME or not _NAME.match(name):
        raise EmgsonarError(
            "invalid property name",
            value=name,
            hint=f"Use up to {_MAX_NAME} letters, digits, '_', '.' or '-', starting with a "
            "letter or '_'",
        )
    if name.lower() in RESERVED_NAMES:
        raise ConflictError(
            f"'{name}' is a fixed sample column, not a custom property",
            value=name,
            hint="Map the metadata column to the fixed column with --cols "
            f"{name.lower()}=COLUMN instead",
        )
    if datatype not in DATATYPES:
        raise EmgsonarError(
            "unknown property type",
            value=datatype,
            hint="Use one of: " + ", ".join(DATATYPES),
        )
    return name, datatype


def add_property(name: str, datatype: str, description: str = "") -> Property:
    """Declare a typed custom property; declaring the same name and type again is a no-op.

    A new description replaces the old one, so the call can be repeated to fix it.

    :raises EmgsonarError: bad name or unknown type.
    :raises ConflictError: the name is reserved, or the property exists with another type
        (changing the type would re-interpret every stored value).
    """
    name, datatype = validate_property(name, datatype)
    with transaction.atomic():
        existing = Property.objects.select_for_update().filter(name__iexact=name).first()
        if existing is None:
            return Property.objects.create(name=name, datatype=datatype, description=description)
        if existing.datatype != datatype:
            raise ConflictError(
                f"property '{existing.name}' already exists with type {existing.datatype}",
                value=datatype,
                hint="Choose another name, or delete the property and its values first",
            )
        if description and existing.description != description:
            existing.description = description
            existing.save(update_fields=["description"])
        return existing


@dataclass(frozen=True)
class Declaration:
    """What declaring a property did: ``created`` it, or found it ``existing`` (a custom
    property, or a fixed sample column when ``fixed``)."""

    name: str
    created: bool
    fixed: bool = False


def declare_property(name: str, datatype: str, description: str = "") -> Declaration:
    """Sonar's ``add_property``: declare a custom property, or report that it exists.

    One of sonar's sample columns (``lineage``, ``collection_date`` …) already exists in
    every installation, so declaring it is answered as "already exists" without writing
    anything: sonar's setup scripts declare such names and must run unchanged. Our own derived
    columns (``qc_status`` …) stay refused, as other reserved names.

    :raises EmgsonarError: bad name or unknown type.
    :raises ConflictError: another reserved name, or an existing property of another type.
    """
    fixed = next((c for c in SONAR_COLUMNS if c == (name or "").strip().lower()), None)
    if fixed is not None:
        return Declaration(fixed, created=False, fixed=True)
    existed = Property.objects.filter(name__iexact=(name or "").strip()).exists()
    prop = add_property(name, datatype, description)
    return Declaration(prop.name, created=not existed)


def delete_property(name: str) -> int:
    """Delete a custom property with all its values (sonar's ``delete_property``).

    The property's coverage row goes with it, so statistics stop listing it.

    :returns: how many properties were deleted (0 or 1).
    """
    with transaction.atomic():
        found = Property.objects.filter(name=(name or "").strip()).first()
        if found is None:
            return 0
        SampleFieldCoverage.objects.filter(field=found.name).delete()
        found.delete()
    return 1


def declared_properties() -> dict[str, str]:
    """Every declared property, name → data type (input of :func:`read_metadata`)."""
    return dict(Property.objects.values_list("name", "datatype"))


def ensure_properties(types: Mapping[str, str]) -> dict[str, Property]:
    """Make sure every property in ``types`` exists (creating missing ones) with that type.

    Used by the metadata import for mapped columns without a declared property (as ``text``).

    :raises ConflictError: a property exists with another type.
    """
    result: dict[str, Property] = {}
    existing = {p.name: p for p in Property.objects.filter(name__in=list(types))}
    missing: list[Property] = []
    for name, datatype in types.items():
        prop = existing.get(name)
        if prop is None:
            validate_property(name, datatype)
            missing.append(Property(name=name, datatype=datatype))
        elif prop.datatype != datatype:
            raise ConflictError(
                f"property '{name}' already exists with type {prop.datatype}",
                value=datatype,
                hint="Declare the property with add_property before importing",
            )
        else:
            result[name] = prop
    if missing:
        Property.objects.bulk_create(missing, ignore_conflicts=True)
        for prop in Property.objects.filter(name__in=[p.name for p in missing]):
            result[prop.name] = prop
    return result
