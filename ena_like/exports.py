"""Streamed exports of ``samples/genomes/``: CSV (constant memory, any number of rows).

Samples come from a server-side cursor in batches of 1000; each batch gets its profiles from
:class:`ena_like.queries.ProfileBuilder` (a fixed number of queries per batch) and is written
out before the next one is read, so memory does not grow with the result.

Columns (``columns=a,b,…``): a sample column (``name``, ``lineage``, ``collection_date`` …), a
custom property, ``length``, ``sequences``, or a profile column. ``genomic_profiles`` expands
to one column per replicon of the reference (header ``genomic_profiles: <replicon>``) and
``proteomic_profiles`` to one per CDS (``proteomic_profiles: <replicon>: <CDS>``); a column
named like an expanded header selects that one. Cells of profile columns join labels with
``", "``. The delimiter is ``;`` as in sonar, the first row is the header.
"""

import csv
from collections.abc import Iterator

from django.db.models import F, QuerySet

from analyses.models import Cds, Reference
from ena_like.filters import FilterError
from ena_like.models import Property, Sample
from ena_like.queries import ProfileBuilder, iter_batches

GENOMIC, PROTEOMIC = "genomic_profiles", "proteomic_profiles"
_SAMPLE_COLUMNS = {
    "id",
    "name",
    *Sample.FIXED_FIELDS,
    "length",
    "init_upload_date",
    "last_update_date",
    "sequences",
}


class _Echo:
    """A file-like object whose ``write`` hands the line back (for ``csv.writer``)."""

    def write(self, value: str) -> str:
        return value


def expand_columns(columns: list[str], reference: Reference | None) -> list[str]:
    """Expand profile columns per replicon/CDS; check every other column exists.

    :raises FilterError: unknown column, naming it.
    """
    replicons: list[str] = []
    cds_keys: list[str] = []
    if reference is not None:
        replicons = list(
            reference.replicons.order_by("position").values_list("accession", flat=True)
        )
        cds_keys = sorted(
            f"{r['acc']}: {r['protein_id'] or r['symbol']}"
            for r in Cds.objects.filter(replicon__reference=reference).values(
                "symbol", "protein_id", acc=F("replicon__accession")
            )
        )
    properties = set(Property.objects.values_list("name", flat=True))
    result: list[str] = []
    for column in (c.strip() for c in columns):
        if not column:
            continue
        if column == GENOMIC:
            result.extend(f"{GENOMIC}: {acc}" for acc in replicons)
        elif column == PROTEOMIC:
            result.extend(f"{PROTEOMIC}: {key}" for key in cds_keys)
        elif column.startswith((f"{GENOMIC}:", f"{PROTEOMIC}:")):
            result.append(column)
        elif column in _SAMPLE_COLUMNS or column in properties:
            result.append(column)
        else:
            raise FilterError(
                f"unknown CSV column '{column}'",
                hint="Use sample columns, property names, genomic_profiles, proteomic_profiles",
            )
    if not result:
        raise FilterError(
            "'columns' names no column", hint="E.g. columns=name,lineage,genomic_profiles"
        )
    return result


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return value


def _row(builder: ProfileBuilder, sample: Sample, columns: list[str]) -> list[object]:
    genomic = proteomic = None
    props = {p["name"]: p["value"] for p in builder.properties_of(sample)}
    row: list[object] = []
    for column in columns:
        if column.startswith(f"{GENOMIC}:"):
            genomic = genomic if genomic is not None else builder.genomic(sample)
            row.append(", ".join(genomic.get(column.split(": ", 1)[1].strip(), {})))
        elif column.startswith(f"{PROTEOMIC}:"):
            proteomic = proteomic if proteomic is not None else builder.proteomic(sample)
            row.append(", ".join(proteomic.get(column.split(": ", 1)[1].strip(), [])))
        elif column == "sequences":
            row.append(_cell(sorted(builder.sequences.get(sample.pk, []))))
        elif column in props:
            row.append(_cell(props[column]))
        else:
            row.append(_cell(getattr(sample, column, None)))
    return row


def csv_lines(
    qs: QuerySet[Sample], columns: list[str], show_nx: bool = False, batch_size: int = 1000
) -> Iterator[str]:
    """The CSV export as lines: header, then one line per sample, batch by batch."""
    writer = csv.writer(_Echo(), delimiter=";")
    yield writer.writerow(columns)
    for batch in iter_batches(qs, batch_size):
        builder = ProfileBuilder(batch, show_nx)
        for sample in batch:
            yield writer.writerow(_row(builder, sample, columns))
