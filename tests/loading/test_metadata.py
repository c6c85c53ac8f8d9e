"""Metadata parsing: mapping, typed values, every bad row listed (no database).

Values are parsed by :mod:`ena_like.fields`, the parser filters use too: the dates below mean
the same in a filter (checked here through the filter side's ``typed_value``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from emgsonar.errors import InputFormatError
from ena_like.fields import (
    SAMPLE_FIELDS,
    ValueType,
    check_value,
    parse_date,
    parse_value,
    property_spec,
)
from ena_like.filters.values import typed_value
from ena_like.metadata import MetadataError, read_header, read_metadata

SC2_12_COLUMNS = (
    "name sequencing_reason sample_type euro age comments sequencing_tech zip_code lab lineage "
    "collection_date"
).split()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-02-09", dt.date(2021, 2, 9)),
        ("2/9/2021", dt.date(2021, 2, 9)),  # US month/day, as sonar's meta_autolink.tsv
        ("3/21/2021", dt.date(2021, 3, 21)),
        ("2024-11-05T00:00:00", dt.date(2024, 11, 5)),
        ("2024-11-05 13:45", dt.date(2024, 11, 5)),
        ("9.2.2021", dt.date(2021, 2, 9)),
    ],
)
def test_dates(text: str, expected: dt.date, tmp_path: Path) -> None:
    assert parse_date(text) == expected
    # the same string in a metadata file and in a filter means the same day
    path = tmp_path / "meta.tsv"
    path.write_text(f"name\tcollection_date\ns1\t{text}\n")
    assert read_metadata(path, auto_link=True).rows[0].fixed == {"collection_date": expected}
    spec = SAMPLE_FIELDS["collection_date"]
    assert typed_value(spec, "gte", text) == ("gte", expected)
    moment = dt.datetime.combine(expected, dt.time(), tzinfo=dt.UTC)
    assert typed_value(SAMPLE_FIELDS["init_upload_date"], "gte", text)[1].date() == expected
    if len(text) <= 10:  # a date alone is its midnight, UTC
        assert typed_value(SAMPLE_FIELDS["init_upload_date"], "gte", text) == ("gte", moment)


def test_bad_values_say_why() -> None:
    with pytest.raises(ValueError, match=r"'2021-02-30' is not a valid date"):
        parse_date("2021-02-30")
    with pytest.raises(ValueError, match=r"'13/40/2021' is not a valid date"):
        parse_date("13/40/2021")
    assert parse_value(ValueType.INTEGER, "48") == 48
    assert parse_value(ValueType.INTEGER, "48.0") == 48
    assert parse_value(ValueType.FLOAT, "63.33") == 63.33
    assert parse_value(ValueType.BOOL, "no") is False
    zip_code = property_spec("plz", "zip")
    assert check_value(zip_code, parse_value(zip_code.type, "04779")) == "04779"  # leading 0
    with pytest.raises(ValueError, match="not an integer"):
        parse_value(ValueType.INTEGER, "4.5")
    with pytest.raises(ValueError, match="not a finite number"):
        parse_value(ValueType.FLOAT, "inf")


def test_sonar_12_typed(shared_data: Path) -> None:
    path = shared_data / "sars-cov-2/SARS-CoV-2_12.tsv.xz"
    assert read_header(path) == SC2_12_COLUMNS
    table = read_metadata(
        path, {c: c for c in SC2_12_COLUMNS}, properties={"age": "integer", "euro": "float"}
    )
    assert len(table.rows) == 12
    row = table.rows[0]
    assert row.name == "IMS-10338-CVDP-BAF51380-B921-4701-98ED-8DAACF2C7D11"
    assert row.fixed == {
        "sequencing_reason": "X",
        "sequencing_tech": "ILLUMINA",
        "zip_code": "60327",
        "lab": "DEMIS-SL-10338",
        "lineage": "AY.4",
        "collection_date": dt.date(2021, 12, 30),
    }
    assert row.properties["age"] == 48 and row.properties["euro"] == 63.33
    assert table.new_properties == ("sample_type", "comments")
    assert table.property_types == {
        "sample_type": "text",
        "euro": "float",
        "age": "integer",
        "comments": "text",
    }


def test_sonar_10_iso_datetimes(shared_data: Path) -> None:
    table = read_metadata(
        shared_data / "sars-cov-2/SARS-CoV-2_10.tsv.xz",
        {"name": "igs_id", "collection_date": "date_of_sampling", "lineage": "lineages"},
    )
    first = table.rows[0]
    assert first.name == "IGS-10285-CVDP-D2CF5004-DAC2-48D6-B6A4-7F76D5D3C8EA"
    assert first.fixed == {"collection_date": dt.date(2024, 11, 5), "lineage": "XEC"}


def test_auto_link_maps_columns_by_name(shared_data: Path) -> None:
    table = read_metadata(
        shared_data / "sars-cov-2/SARS-CoV-2_6.meta_autolink.tsv",
        {"name": "IMS_ID"},
        auto_link=True,
    )
    assert table.mapping == {
        "collection_date": "collection_date",
        "sequencing_tech": "sequencing_tech",
        "name": "IMS_ID",
    }
    assert [(r.name, r.fixed["collection_date"]) for r in table.rows][:2] == [
        ("IMS-10025-CVDP-00960", dt.date(2021, 2, 9)),
        ("IMS-10087-CVDP-D484F3AD-CD8F-473C-8A5E-DB5D6A710BE5", dt.date(2021, 3, 2)),
    ]
    # without auto-link only the mapped name is read
    path = shared_data / "sars-cov-2/SARS-CoV-2_6.meta_autolink.tsv"
    plain = read_metadata(path, {"name": "IMS_ID"})
    assert plain.rows[0].fixed == {}


def test_sequences_column_groups_records(shared_data: Path) -> None:
    table = read_metadata(
        shared_data / "influenza/influenza-A/H1N1PDM_California/H1N1PDM.sequences.tsv",
        {"name": "name", "sequences": "sequences"},
    )
    assert len(table.rows) == 18
    records = table.sample_of_records()
    assert len(records) == 67
    assert [r for r, s in records.items() if s == "EP2483428"] == [
        f"JB14729{i}.1" for i in range(1, 9)
    ]


BAD = (
    "name\tage\tcollection_date\tzip_code\n"
    "s1\t48\t2021-02-09\t04779\n"
    "s2\tforty\t2021-02-09\t12345\n"
    "\t3\t2/30/2021\t1\n"
    "s4\t5\t31.12.2021\t12 345\n"
    "s1\t6\t2021-01-01\t%%%\n"
)


def test_every_bad_row_listed_with_exact_message(tmp_path: Path) -> None:
    path = tmp_path / "meta.tsv"
    path.write_text(BAD)
    with pytest.raises(MetadataError) as caught:
        read_metadata(path, None, auto_link=True, properties={"age": "integer"})
    assert str(caught.value) == (
        f"{path}: 5 invalid values in metadata: "
        "line 3, column 'age': 'forty' is not an integer; "
        "line 4, column 'name': empty sample name; "
        "line 4, column 'collection_date': '2/30/2021' is not a valid date "
        "(day is out of range for month); "
        "line 6, column 'zip_code': '%%%' is not a postal code (letters, digits, spaces, '-'); "
        "line 6, column 'name': duplicate sample name 's1' (first on line 2). "
        "Fix these rows, or pass --skip-invalid-rows to import only the valid rows."
    )
    assert [(p.line, p.column, p.value) for p in caught.value.problems][:2] == [
        (3, "age", "forty"),
        (4, "name", ""),
    ]


def test_skip_invalid_rows_returns_reasons(tmp_path: Path) -> None:
    path = tmp_path / "meta.tsv"
    path.write_text(BAD)
    table = read_metadata(
        path, None, auto_link=True, properties={"age": "integer"}, skip_invalid_rows=True
    )
    assert [r.name for r in table.rows] == ["s1", "s4"]
    assert table.rows[1].fixed == {"collection_date": dt.date(2021, 12, 31), "zip_code": "12 345"}
    assert [(s.line, s.name, len(s.problems)) for s in table.skipped] == [
        (3, "s2", 1),
        (4, None, 2),
        (6, "s1", 2),
    ]


def test_file_level_errors(tmp_path: Path) -> None:
    path = tmp_path / "meta.tsv"
    path.write_text("id\tage\nx\t1\n")
    with pytest.raises(InputFormatError) as caught:
        read_metadata(path, None)
    assert str(caught.value) == (
        f"{path}: metadata has no sample name column. "
        "Map it with --cols name=COLUMN or add a column called 'name'."
    )
    with pytest.raises(InputFormatError, match=r"mapped column\(s\) not in the metadata header: X"):
        read_metadata(path, {"name": "id", "age": "X"})


def test_csv_and_compressed(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "meta.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write('name,lineage,comment\ns1,BA.1,"a, quoted, text"\n')
    table = read_metadata(path, {"name": "name", "lineage": "lineage", "comment": "comment"})
    assert table.rows[0].fixed == {"lineage": "BA.1"}
    assert table.rows[0].properties == {"comment": "a, quoted, text"}


def test_integer_out_of_the_columns_range_is_a_row_problem(tmp_path: Path) -> None:
    """Custom integers are stored as ``bigint``: 2**63 is refused with its line and column
    while reading, not by ``COPY`` later; 2**63 - 1 still fits."""
    path = tmp_path / "meta.tsv"
    path.write_text(f"name\tage\ns1\t{2**63 - 1}\ns2\t{2**63}\ns3\t{-(2**63)}\n")
    with pytest.raises(MetadataError) as caught:
        read_metadata(path, {"age": "age"}, properties={"age": "integer"})
    assert str(caught.value) == (
        f"{path}: 1 invalid value in metadata: line 3, column 'age': '9223372036854775808' is "
        "out of range (-9223372036854775808 to 9223372036854775807). "
        "Fix these rows, or pass --skip-invalid-rows to import only the valid rows."
    )
