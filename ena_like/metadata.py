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

Values: an empty cell means "no value": it never overwrites a stored value. Dates are read as
ISO ``YYYY-MM-DD``, ISO date-times ``YYYY-MM-DDTHH:MM:SS`` (as in ``SARS-CoV-2_10``; the time
part is dropped), US ``M/D/YYYY`` (sonar's ``meta_autolink.tsv``: ``2/9/2021`` is 9 February,
confirmed by the ``2021-02-09`` of the same sample in ``SARS-CoV-2_6.tsv``) and German
``D.M.YYYY``.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import re
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

#: property data types (the values of ``Property.DataType``)
DATATYPES = ("integer", "float", "date", "text", "varchar", "zip", "bool")

#: sonar's fixed sample columns with their type and maximum length (``None``: no limit)
FIXED_COLUMNS: dict[str, tuple[str, int | None]] = {
    "lineage": ("varchar", 100),
    "collection_date": ("date", None),
    "country": ("varchar", 100),
    "host": ("varchar", 100),
    "zip_code": ("zip", 20),
    "lab": ("varchar", 255),
    "sequencing_tech": ("varchar", 100),
    "sequencing_reason": ("varchar", 100),
    "genome_completeness": ("varchar", 16),
    "data_set": ("varchar", 100),
}
#: property names with a special meaning in a metadata file
NAME = "name"
SEQUENCES = "sequences"
#: names no custom property may take: fixed columns, special columns and derived fields
RESERVED_NAMES = frozenset(
    {*FIXED_COLUMNS, NAME, SEQUENCES, "length", "id", "reference", "study", "init_upload_date",
     "last_update_date", "genomic_profiles", "proteomic_profiles", "nt_mutation_ids",
     "aa_mutation_ids", "qc_status", "qc_score", "coverage", "missing_data", "qc"}
)  # fmt: skip
_COMPLETENESS = ("complete", "partial")
_MAX_NAME = 255
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
DATE_FORMATS = "YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS, M/D/YYYY or D.M.YYYY"


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
    with _open_table(path) as handle:
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
    with _open_table(Path(path)) as handle:
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
        if prop in (NAME, SEQUENCES) or prop in FIXED_COLUMNS:
            continue
        if prop in declared:
            property_types[prop] = declared[prop]
        else:
            property_types[prop] = "text"
            new_properties.append(prop)

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
        row, row_problems = _parse_row(cells, line, header, index, mapping, property_types)
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


def parse_value(datatype: str, text: str) -> object:
    """Parse one non-empty cell as ``datatype``.

    >>> parse_value("date", "2/9/2021"), parse_value("date", "2024-11-05T00:00:00")
    (datetime.date(2021, 2, 9), datetime.date(2024, 11, 5))
    >>> parse_value("bool", "Yes"), parse_value("integer", "48"), parse_value("zip", "04779")
    (True, 48, '04779')

    :raises ValueError: with a reason fit for a :class:`RowProblem`.
    """
    if datatype == "integer":
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                number = None
            if number is not None and number.is_integer():
                return int(number)
            raise ValueError(f"{text!r} is not an integer") from None
    if datatype == "float":
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"{text!r} is not a finite number")
        return number
    if datatype == "date":
        return parse_date(text)
    if datatype == "bool":
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"{text!r} is not a boolean (use true/false, yes/no or 1/0)")
    if datatype == "zip":
        if not _ZIP.match(text):
            raise ValueError(f"{text!r} is not a postal code (letters, digits, spaces, '-')")
        return text
    if datatype in ("text", "varchar"):
        return text
    raise ValueError(f"unknown data type {datatype!r}")


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


def _parse_row(
    cells: list[str],
    line: int,
    header: list[str],
    index: dict[str, int],
    mapping: dict[str, str],
    property_types: dict[str, str],
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
        if prop in FIXED_COLUMNS:
            datatype, max_length = FIXED_COLUMNS[prop]
            try:
                value = parse_value(datatype, text)
                if max_length is not None and len(str(value)) > max_length:
                    raise ValueError(f"{text!r} is longer than {max_length} characters")
                if prop == "genome_completeness" and str(value).lower() not in _COMPLETENESS:
                    raise ValueError(f"{text!r} is not one of: complete, partial")
            except ValueError as exc:
                problems.append(RowProblem(line, column, text, str(exc)))
                continue
            fixed[prop] = value.lower() if prop == "genome_completeness" else value  # type: ignore[union-attr]
        else:
            try:
                values[prop] = parse_value(property_types[prop], text)
            except ValueError as exc:
                problems.append(RowProblem(line, column, text, str(exc)))
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
        known = {n.lower(): n for n in (*FIXED_COLUMNS, NAME, SEQUENCES, *declared)}
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
def _open_table(path: Path) -> Iterator[TextIO]:
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
