"""Streamed exports of ``samples/genomes/``: CSV (constant memory, any number of rows).

Samples come from a server-side cursor over plain values (no model instances) in batches;
each batch is written out before the next one is read, so memory does not grow with the
result. Custom properties and ``sequences`` are columns of that one query (correlated lookups
on the ``(sample, property)``/``sample`` indexes). Profile cells are built from the samples'
own mutation arrays through a :class:`_Labels` cache (mutation id → column, sort key, label),
filled once per export and per mutation with one query per batch for ids not seen yet — not
per-batch profile objects. With ``showNX=true`` (per-base ``N``/per-residue ``X`` labels from
unknown ranges) batches go through :class:`ena_like.queries.profiles.ProfileBuilder` instead.

Columns (``columns=a,b,…``): a sample column (``name``, ``lineage``, ``collection_date`` …), a
custom property, ``length``, the QC columns (``qc_status``, ``qc_score``, ``coverage``,
``missing_data``), ``sequences``, or a profile column. ``genomic_profiles`` expands
to one column per replicon of the reference (header ``genomic_profiles: <replicon>``) and
``proteomic_profiles`` to one per CDS (``proteomic_profiles: <replicon>: <CDS>``); a column
named like an expanded header selects that one. Cells of profile columns join labels with
``", "``. The delimiter is ``;`` as in sonar, the first row is the header.
"""

import csv
import io
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import groupby

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import F, OuterRef, QuerySet

from analyses.models import AminoAcidMutation, Cds, MutationCount, NucleotideMutation, Reference
from ena_like.filters import FilterError
from ena_like.models import Property, Sample, SampleSequence
from ena_like.queries.profiles import (
    ProfileBuilder,
    cds_key,
    frameshift_exists,
    iter_batches,
    nt_label,
)
from ena_like.queries.values import custom_value, plain_value

GENOMIC, PROTEOMIC = "genomic_profiles", "proteomic_profiles"
_SAMPLE_COLUMNS = {
    "id",
    "name",
    *Sample.FIXED_FIELDS,
    "length",
    *Sample.QC_FIELDS,
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
            cds_key(r["acc"], r["symbol"])
            for r in Cds.objects.filter(replicon__reference=reference).values(
                "symbol", acc=F("replicon__accession")
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
            row.append(", ".join(proteomic.get(column.split(": ", 1)[1].strip(), {})))
        elif column == "sequences":
            row.append(_cell(sorted(builder.sequences.get(sample.pk, []))))
        elif column in props:
            row.append(_cell(props[column]))
        else:
            row.append(_cell(getattr(sample, column, None)))
    return row


def csv_lines(
    qs: QuerySet[Sample],
    columns: list[str],
    show_nx: bool = False,
    batch_size: int = 2000,
    reference: Reference | None = None,
) -> Iterator[str]:
    """The CSV export: the header line, then one chunk of lines per batch of samples.

    :param reference: the samples' reference (lets profile labels be loaded in one go).
    """
    if show_nx:
        writer = csv.writer(_Echo(), delimiter=";")
        yield writer.writerow(columns)
        for batch in iter_batches(qs, batch_size):
            builder = ProfileBuilder(batch, show_nx)
            for sample in batch:
                yield writer.writerow(_row(builder, sample, columns))
        return
    yield from _fast_lines(qs, columns, batch_size, reference)


#: fixed columns that ``ProfileBuilder.properties_of`` reports (empty → the raw, blank cell)
_PLAIN_COLUMNS = {*Sample.FIXED_FIELDS, "length"}


class _Labels:
    """Mutation id → (column index, sort key, label) of one level, loaded once per export.

    Column: the index of the profile column the mutation's replicon (NT) or CDS (AA) fills,
    ``-1`` when not exported or hidden (``N``/``X`` calls with ``showNX=false``). Sort keys
    reproduce ``ProfileBuilder``: NT by (start, end) then id, AA by (CDS symbol, start, end,
    label). The keys are ranked once (re-ranked only when new ids arrive), so a sample's cells
    are one sort of small integers and C-level joins.

    Loading: the first batch asks for its own ids; when a second batch follows and the
    reference has at most :data:`FULL_LOAD_LIMIT` mutations of the level in use
    (``MutationCount`` rows), all of them are loaded at once — memory bounded by the
    reference's mutation dictionary, never by the number of rows exported.
    """

    FULL_LOAD_LIMIT = 300_000

    def __init__(self, level: str, column_of: dict[str, int], reference: Reference | None):
        self.level = level
        self.column_of = column_of
        self.reference = reference
        self.keys: dict[int, tuple] = {}
        self.batches = 0
        self.complete = False
        self.rank: dict[int, int] = {}
        self.rank_of = self.rank.__getitem__
        self.labels: list[str] = []
        self.columns: list[int] = []

    def load(self, rows: list[tuple], index: int) -> None:
        """Make sure every id of ``row[index]`` (an id array) has a key and a rank."""
        self.batches += 1
        if self.batches == 2 and not self.complete and self.reference is not None:
            used = MutationCount.objects.filter(reference=self.reference, level=self.level)
            if used.count() <= self.FULL_LOAD_LIMIT:
                self._fetch(used.values("mutation_id"))
                self.complete = True
        seen: set[int] = set()
        for row in rows:
            seen.update(row[index])
        missing = seen.difference(self.keys)
        if missing:
            self._fetch(missing)
            for mid in missing.difference(self.keys):  # ids without a row: never shown
                self.keys[mid] = (-1, mid)
        if len(self.rank) != len(self.keys):
            order = sorted(self.keys, key=self.keys.__getitem__)
            self.rank = {mid: r for r, mid in enumerate(order)}
            self.labels = [self.keys[mid][-1] for mid in order]
            self.columns = [self.keys[mid][0] for mid in order]
            self.rank_of = self.rank.__getitem__
            top = max(order, default=0)
            if top < 4 * len(order) + 4096:
                # ids are dense: a list indexed by id looks ranks up ~30 % faster than the
                # dict (every id of the batch has a rank, so the zero filler is never read)
                by_id = [0] * (top + 1)
                for mid, r in self.rank.items():
                    by_id[mid] = r
                self.rank_of = by_id.__getitem__

    def _fetch(self, ids) -> None:
        if self.level == "nt":
            rows = (
                NucleotideMutation.objects.filter(id__in=ids)
                .annotate(frameshift=frameshift_exists())
                .values_list(
                    "id", "start", "end", "alt", "label", "replicon__accession", "frameshift"
                )
            )
            for mid, start, end, alt, label, accession, frameshift in rows:
                col = -1 if "N" in alt else self.column_of.get(accession, -1)
                self.keys[mid] = (col, start, end, mid, nt_label(label, frameshift))
        else:
            rows = AminoAcidMutation.objects.filter(id__in=ids).values_list(
                "id",
                "start",
                "end",
                "alt",
                "label",
                "cds__symbol",
                "cds__replicon__accession",
            )
            for mid, start, end, alt, label, symbol, accession in rows:
                key = cds_key(accession, symbol)
                col = -1 if "X" in alt else self.column_of.get(key, -1)
                self.keys[mid] = (col, symbol, start, end, label)

    def fill(self, cells: list, ids: list[int]) -> None:
        """Write the joined labels of ``ids`` into their columns of ``cells``."""
        for col, group in groupby(sorted(map(self.rank_of, ids)), self.columns.__getitem__):
            if col >= 0:
                cells[col] = ", ".join(map(self.labels.__getitem__, group))


def _fast_lines(
    qs: QuerySet[Sample], columns: list[str], batch_size: int, reference: Reference | None
) -> Iterator[str]:
    """Metadata from one values cursor; profile cells from the cached labels."""
    props = {p.name: p for p in Property.objects.filter(name__in=columns)}
    values: list[str] = []  # query columns
    annotations: dict[str, object] = {}
    plan: list[tuple[int, str]] = []  # (query column index, conversion) per CSV column
    genomic: dict[str, int] = {}
    proteomic: dict[str, int] = {}

    def column_index(name: str) -> int:
        if name not in values:
            values.append(name)
        return values.index(name)

    copies: list[tuple[int, int]] = []  # a profile column asked for twice: (first, again)
    for i, column in enumerate(columns):
        if column.startswith((f"{GENOMIC}:", f"{PROTEOMIC}:")):
            target = genomic if column.startswith(GENOMIC) else proteomic
            key = column.split(": ", 1)[1].strip()
            if key in target:
                copies.append((target[key], i))
            else:
                target[key] = i
            plan.append((-1, "profile"))
        elif column == "sequences":
            annotations["_sequences"] = ArraySubquery(
                SampleSequence.objects.filter(sample=OuterRef("pk"))
                .order_by("sequence_id")
                .values("sequence_id")
            )
            plan.append((column_index("_sequences"), "list"))
        elif column in props:
            alias = f"_p{len(annotations)}"
            annotations[alias] = custom_value(props[column])
            plan.append((column_index(alias), "plain"))
        elif column in _PLAIN_COLUMNS:
            plan.append((column_index(column), "plain"))
        else:
            plan.append((column_index(column), "raw"))
    nt_col = column_index("nt_mutation_ids") if genomic else -1
    aa_col = column_index("aa_mutation_ids") if proteomic else -1
    nt_labels = _Labels("nt", genomic, reference)
    aa_labels = _Labels("aa", proteomic, reference)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(columns)
    yield _take(buffer)
    # plain rows straight from a server-side cursor: Django's per-row converters cost more
    # than the query here, and psycopg already returns the Python types the cells need
    sql, params = qs.annotate(**annotations).values_list(*values).query.sql_with_params()
    with _whole_result_plans(), connection.chunked_cursor() as cursor:
        _execute_binary(cursor, sql, params)
        yield from _write_batches(
            cursor, batch_size, plan, len(columns), nt_col, aa_col, nt_labels, aa_labels, copies
        )


def _execute_binary(cursor, sql: str, params) -> None:
    """Run the export query on Django's server-side ``cursor`` with binary results.

    Parsing the text form of the mutation-id arrays cost ~0.2 s per 50k rows; psycopg's binary
    loaders give the same Python values (lists of int, str, date, Decimal …) faster. Django's
    cursor wrapper cannot ask for binary results, so the psycopg cursor is called directly,
    inside Django's error translation and recorded in ``connection.queries`` as usual.
    """
    start = time.monotonic()
    try:
        with connection.wrap_database_errors:
            cursor.cursor.execute(sql, params, binary=True)
    finally:
        if connection.queries_logged:
            connection.queries_log.append(
                {
                    "sql": connection.ops.last_executed_query(cursor.cursor, sql, params),
                    "time": f"{time.monotonic() - start:.3f}",
                }
            )


@contextmanager
def _whole_result_plans() -> Iterator[None]:
    """Plan the export's cursor for reading every row (``cursor_tuple_fraction = 1``).

    Postgres plans a declared cursor for its first 10 % by default, which with the page-order
    index ``sample_ref_date_desc`` means walking a million index entries in order and filtering
    (1.8 s at 1M for a 5 % mutation) instead of a bitmap scan and a sort of the matches (0.3 s).
    A session setting (the server-side cursor is declared ``WITH HOLD`` outside a transaction),
    reset when the export ends or is abandoned.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET cursor_tuple_fraction = 1.0")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET cursor_tuple_fraction")


def _write_batches(
    cursor,
    batch_size: int,
    plan: list[tuple[int, str]],
    width: int,
    nt_col: int,
    aa_col: int,
    nt_labels: _Labels,
    aa_labels: _Labels,
    copies: list[tuple[int, int]],
) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    separators = width - 1
    while batch := cursor.fetchmany(batch_size):
        if nt_col >= 0:
            nt_labels.load(batch, nt_col)
        if aa_col >= 0:
            aa_labels.load(batch, aa_col)
        lines = []
        for row in batch:
            cells: list[object] = [""] * width
            for i, (index, how) in enumerate(plan):
                if index < 0:
                    continue
                value = row[index]
                if value is None:
                    continue
                if how == "plain":
                    cells[i] = plain_value(value) if value != "" else ""
                elif how == "list":
                    cells[i] = ", ".join(str(v) for v in value)
                else:
                    cells[i] = value
            if nt_col >= 0:
                nt_labels.fill(cells, row[nt_col])
            if aa_col >= 0:
                aa_labels.fill(cells, row[aa_col])
            for first, again in copies:
                cells[again] = cells[first]
            # the csv module scans every character of the (large) profile cells; a line needs
            # none of its quoting unless a cell holds ';', '"' or a line break (or the line is
            # one empty cell), so join directly and let the writer handle only those lines
            line = ";".join(map(str, cells))
            if (
                line.count(";") != separators
                or '"' in line
                or "\n" in line
                or "\r" in line
                or not line
            ):
                writer.writerow(cells)
                lines.append(_take(buffer))
            else:
                lines.append(line + "\r\n")
        yield "".join(lines)


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
