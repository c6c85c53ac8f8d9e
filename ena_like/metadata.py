"""Sample metadata files: read, map columns to properties, parse typed values, validate.

Pure (no database): the caller passes the declared property types, so the same function serves
the import flow, the tests and a dry run. The whole file is checked before anything is written
(house rule 6): every bad value of every row is collected into one :class:`MetadataError`, unless
``skip_invalid_rows`` is set, in which case the bad rows come back in
:attr:`MetadataTable.skipped` with their reasons and the rest is imported.

Column mapping (sonar's ``--cols PROP=COLUMN`` and ``--auto-link``):

- ``cols`` maps a property name to a column of the file. ``name`` (the sample name) is required;
  when not mapped, a column called ``name`` is used.
- ``auto_link`` additionally maps every column whose header equals (case-insensitively) a
  fixed sample column, a declared property, or ``name``/``sequences``. This is sonar's meaning
  ("link TSV columns with database fields based on identical names"): it links *columns*, never
  rows by fuzzy sample names. Rows are matched to FASTA records by exact name only, because
  ``SARS-CoV-2_6`` holds both ``IMS-10025-CVDP-00960`` and ``IMS-10025-CVDP-00960-1`` as
  distinct samples, so a prefix rule would attach one sample's metadata to the other.
- ``sequences`` (space-separated record ids) groups several FASTA records into one sample
  (influenza segments); without it, a record's id is its sample's name.
- A mapped property that is neither fixed nor declared becomes a ``text`` property; it is listed
  in :attr:`MetadataTable.new_properties` so the import summary can say so.

Values: an empty cell means "no value": it never overwrites a stored value. Cells are parsed
by :func:`ena_like.fields.parse_value`, the parser filters use too, and checked against the
column (:func:`ena_like.fields.check_value`): integers within the column's range, dates in one
of :data:`ena_like.fields.DATE_FORMATS` (an ISO date-time as in ``SARS-CoV-2_10`` loses its time;
``2/9/2021`` in sonar's ``meta_autolink.tsv`` is 9 February, confirmed by the ``2021-02-09`` of
the same sample in ``SARS-CoV-2_6.tsv``), text within the column's length.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, TextIO

from analyses.calling.compression import (
    Compression,
    detect_compression,
    list_zip_members,
    open_member,
    open_text,
)
from emgsonar.errors import EmgsonarError, InputFormatError
from ena_like.fields import (
    METADATA_FIELDS,
    NAME,
    SAMPLE_FIELDS,
    SEQUENCES,
    FieldSpec,
    check_value,
    parse_value,
    property_spec,
)

_MAX_NAME = SAMPLE_FIELDS[NAME].max_length


@dataclass(frozen=True)
class RowProblem:
    """One bad value: where it is (1-based line of the file) and why it is bad."""

    line: int
    column: str | None
    value: str | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}"
        if self.column is not None:
            where += f", column '{self.column}'"
        return f"{where}: {self.reason}"


@dataclass(eq=False)
class MetadataError(EmgsonarError):
    """A metadata file with invalid rows; lists every bad value of every row.

    Rendered as ``"<file>: N invalid value(s) in metadata: line 3, column 'age': 'x' is not an
    integer; ... . <hint>."``.
    """

    problems: tuple[RowProblem, ...] = ()
    code: ClassVar[str] = "invalid_metadata"

    @classmethod
    def from_problems(
        cls, path: Path | str | None, problems: Iterable[RowProblem]
    ) -> MetadataError:
        problems = tuple(problems)
        plural = "value" if len(problems) == 1 else "values"
        return cls(
            f"{len(problems)} invalid {plural} in metadata: " + "; ".join(str(p) for p in problems),
            path=path,
            hint="Fix these rows, or pass --skip-invalid-rows to import only the valid rows",
            problems=problems,
        )


@dataclass(frozen=True)
class MetadataRow:
    """One valid row: the sample name, typed fixed columns and typed custom properties.

    Only non-empty cells are present in ``fixed``/``properties``; ``sequences`` is ``None``
    when the file has no ``sequences`` column or the cell is empty.
    """

    line: int
    name: str
    fixed: dict[str, object] = field(default_factory=dict)
    properties: dict[str, object] = field(default_factory=dict)
    sequences: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SkippedRow:
    """A row left out under ``skip_invalid_rows``, with every reason."""

    line: int
    name: str | None
    problems: tuple[RowProblem, ...]


@dataclass(frozen=True)
class MetadataTable:
    """A parsed metadata file.

    :param mapping: property name → column, as applied.
    :param property_types: data type of every mapped custom property.
    :param new_properties: mapped custom properties that were not declared (imported as text).
    """

    path: str
    mapping: dict[str, str]
    rows: tuple[MetadataRow, ...]
    property_types: dict[str, str]
    new_properties: tuple[str, ...] = ()
    skipped: tuple[SkippedRow, ...] = ()

    def sample_of_records(self) -> dict[str, str]:
        """Record id → sample name, for the rows that group records (``sequences`` column)."""
        return {rec: row.name for row in self.rows if row.sequences for rec in row.sequences}


def validate_mapping(cols: Mapping[str, str] | None) -> dict[str, str]:
    """Check a ``PROP=COLUMN`` mapping before any file is opened (house rule 6).

    :raises EmgsonarError: an empty property or column name.
    """
    mapping = dict(cols or {})
    for prop, column in mapping.items():
        if not prop or not str(prop).strip():
            raise EmgsonarError("empty property name in column mapping", value=f"{prop}={column}")
        if not column or not str(column).strip():
            raise EmgsonarError(
                f"property '{prop}' is mapped to an empty column name",
                hint="Write the mapping as PROP=COLUMN",
            )
    return mapping


def parse_cols(items: Iterable[str]) -> dict[str, str]:
    """Parse command-line ``PROP=COLUMN`` items into a mapping.

    >>> parse_cols(["name=IMS_ID", "collection_date=DATE_DRAW"])
    {'name': 'IMS_ID', 'collection_date': 'DATE_DRAW'}

    :raises EmgsonarError: an item without ``=``.
    """
    mapping: dict[str, str] = {}
    for item in items:
        prop, sep, column = item.partition("=")
        if not sep:
            raise EmgsonarError(
                "column mapping must be PROP=COLUMN", value=item, hint="E.g. --cols name=IMS_ID"
            )
        mapping[prop.strip()] = column.strip()
    return validate_mapping(mapping)


def read_metadata(
    path: Path,
    cols: Mapping[str, str] | None = None,
    *,
    auto_link: bool = False,
    properties: Mapping[str, str] | None = None,
    skip_invalid_rows: bool = False,
) -> MetadataTable:
    """Read and validate a metadata file (TSV or CSV; plain, gz, xz, zst or zip).

    :param path: the file; a zip archive's ``.tsv``/``.csv`` member is read.
    :param cols: property name → column name.
    :param auto_link: also map columns named like a fixed column or declared property.
    :param properties: declared custom properties, name → data type (``Property.DataType``).
    :param skip_invalid_rows: return bad rows in ``skipped`` instead of raising.
    :raises MetadataError: bad values (listing all of them), unless ``skip_invalid_rows``.
    :raises InputFormatError: unreadable file, no header, mapped column missing, no ``name``.
    """
    path = Path(path)
    with open_table(path) as handle:
        return parse_metadata(
            handle,
            cols,
            path=path,
            auto_link=auto_link,
            properties=properties,
            skip_invalid_rows=skip_invalid_rows,
        )


def read_header(path: Path) -> list[str]:
    """The column names of a metadata file (e.g. to map every column to itself)."""
    with open_table(Path(path)) as handle:
        lines = iter(handle)
        _, first = _first_nonblank(lines)
    if first is None:
        return []
    delimiter = "\t" if "\t" in first else ("," if "," in first else "\t")
    return [h.strip().lstrip("\ufeff") for h in next(csv.reader([first], delimiter=delimiter))]


def parse_metadata(
    handle: TextIO | Iterable[str],
    cols: Mapping[str, str] | None = None,
    *,
    path: Path | str | None = None,
    auto_link: bool = False,
    properties: Mapping[str, str] | None = None,
    skip_invalid_rows: bool = False,
) -> MetadataTable:
    """Parse metadata text already opened (see :func:`read_metadata` for the parameters)."""
    lines = iter(handle)
    header_lineno, header_line = _first_nonblank(lines)
    if header_line is None:
        raise InputFormatError("metadata file is empty", path=path, hint="Give a TSV/CSV file")
    delimiter = "\t" if "\t" in header_line else ("," if "," in header_line else "\t")
    header = next(csv.reader([header_line], delimiter=delimiter))
    header = [h.strip().lstrip("\ufeff") for h in header]
    declared = dict(properties or {})
    mapping = _resolve_mapping(header, validate_mapping(cols), auto_link, declared, path)
    index = {column: position for position, column in enumerate(header)}
    property_types: dict[str, str] = {}
    new_properties: list[str] = []
    for prop in mapping:
        if prop in (NAME, SEQUENCES) or prop in METADATA_FIELDS:
            continue
        if prop in declared:
            property_types[prop] = declared[prop]
        else:
            property_types[prop] = "text"
            new_properties.append(prop)

    specs = {prop: property_spec(prop, datatype) for prop, datatype in property_types.items()}
    rows: list[MetadataRow] = []
    skipped: list[SkippedRow] = []
    problems: list[RowProblem] = []
    first_line_of: dict[str, int] = {}
    record_owner: dict[str, tuple[str, int]] = {}
    reader = csv.reader(lines, delimiter=delimiter)
    for cells in reader:
        line = header_lineno + reader.line_num  # the header was consumed before the reader
        if not any(cell.strip() for cell in cells):
            continue
        row, row_problems = _parse_row(cells, line, header, index, mapping, specs)
        if row is not None:
            previous = first_line_of.get(row.name)
            if previous is not None:
                row_problems.append(
                    RowProblem(line, mapping[NAME], row.name,
                               f"duplicate sample name {row.name!r} (first on line {previous})")
                )  # fmt: skip
            for record in row.sequences or ():
                owner = record_owner.get(record)
                if owner is not None and owner[0] != row.name:
                    row_problems.append(
                        RowProblem(line, mapping[SEQUENCES], record,
                                   f"record {record!r} is already listed for sample "
                                   f"{owner[0]!r} on line {owner[1]}")
                    )  # fmt: skip
        if row_problems:
            problems.extend(row_problems)
            skipped.append(SkippedRow(line, row.name if row else None, tuple(row_problems)))
            continue
        assert row is not None
        first_line_of[row.name] = line
        for record in row.sequences or ():
            record_owner[record] = (row.name, line)
        rows.append(row)
    if problems and not skip_invalid_rows:
        raise MetadataError.from_problems(path, problems)
    return MetadataTable(
        path=str(path) if path is not None else "",
        mapping=mapping,
        rows=tuple(rows),
        property_types=property_types,
        new_properties=tuple(new_properties),
        skipped=tuple(skipped),
    )


def _parse_row(
    cells: list[str],
    line: int,
    header: list[str],
    index: dict[str, int],
    mapping: dict[str, str],
    specs: Mapping[str, FieldSpec],
) -> tuple[MetadataRow | None, list[RowProblem]]:
    problems: list[RowProblem] = []
    if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
        problems.append(
            RowProblem(line, None, None,
                       f"{len(cells)} fields but the header has {len(header)} columns")
        )  # fmt: skip

    def cell(prop: str) -> str:
        position = index[mapping[prop]]
        return cells[position].strip() if position < len(cells) else ""

    name = cell(NAME)
    if not name:
        problems.append(RowProblem(line, mapping[NAME], "", "empty sample name"))
    elif len(name) > _MAX_NAME:
        problems.append(
            RowProblem(line, mapping[NAME], name, f"sample name longer than {_MAX_NAME} characters")
        )
    fixed: dict[str, object] = {}
    values: dict[str, object] = {}
    sequences: tuple[str, ...] | None = None
    for prop, column in mapping.items():
        if prop == NAME:
            continue
        text = cell(prop)
        if not text:
            continue
        if prop == SEQUENCES:
            sequences = tuple(dict.fromkeys(text.split()))
            continue
        spec = METADATA_FIELDS.get(prop) or specs[prop]
        try:
            value = check_value(spec, parse_value(spec.type, text, int_range=spec.int_range))
        except ValueError as exc:
            problems.append(RowProblem(line, column, text, str(exc)))
            continue
        (fixed if prop in METADATA_FIELDS else values)[prop] = value
    row = MetadataRow(line, name, fixed, values, sequences) if name else None
    return row, problems


def _resolve_mapping(
    header: list[str],
    cols: dict[str, str],
    auto_link: bool,
    declared: Mapping[str, str],
    path: Path | str | None,
) -> dict[str, str]:
    duplicates = sorted({h for h in header if header.count(h) > 1 and h})
    if duplicates:
        raise InputFormatError(
            "metadata header names a column twice",
            path=path,
            value=duplicates,
            hint="Give each column a distinct name",
        )
    mapping: dict[str, str] = {}
    if auto_link:
        known = {n.lower(): n for n in (*METADATA_FIELDS, NAME, SEQUENCES, *declared)}
        for column in header:
            prop = known.get(column.lower())
            if prop is not None:
                mapping[prop] = column
    mapping.update(cols)
    if NAME not in mapping and NAME in header:
        mapping[NAME] = NAME
    if NAME not in mapping:
        raise InputFormatError(
            "metadata has no sample name column",
            path=path,
            hint="Map it with --cols name=COLUMN or add a column called 'name'",
        )
    missing = sorted(column for column in mapping.values() if column not in header)
    if missing:
        raise InputFormatError(
            "mapped column(s) not in the metadata header: " + ", ".join(missing),
            path=path,
            hint="Columns in the file: " + ", ".join(header),
        )
    return mapping


def _first_nonblank(lines: Iterator[str]) -> tuple[int, str | None]:
    """The first non-blank line and its 1-based number."""
    for number, line in enumerate(lines, start=1):
        if line.strip():
            return number, line.rstrip("\r\n")
    return 0, None


@contextlib.contextmanager
def open_table(path: Path) -> Iterator[TextIO]:
    """Open a metadata file as text through the download layer (compression from magic bytes).

    A zip archive (sonar's ``180.sars-cov-2.zip`` holds FASTA and TSV) is read from its single
    ``.tsv``/``.csv`` member.
    """
    if detect_compression(path) is Compression.ZIP:
        members = [m for m in list_zip_members(path) if m.lower().endswith((".tsv", ".csv"))]
        if len(members) != 1:
            raise InputFormatError(
                "zip archive must hold exactly one .tsv/.csv metadata member",
                path=path,
                value=members,
            )
        with open_member(path, members[0]) as handle:
            yield handle
    else:
        with open_text(path) as handle:
            yield handle
