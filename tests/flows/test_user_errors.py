"""Every bad input a user can give ends the command with one clear message and no traceback.

The commands run as on the command line (``ManagementUtility``, so Django prints the
``CommandError`` line and exits 2), in this process, against the session's Prefect test server:
what the test reads on stderr is what a user reads, Prefect's run logs included. A user's mistake
ends its task run and flow run as ``Failed`` with the message (the flow run's and the
ImportRun's); only a real bug gets a traceback (last test).
"""

from __future__ import annotations

import lzma
from pathlib import Path

import pytest
from django.core.management import ManagementUtility
from prefect.client.orchestration import get_client

from emgsonar.errors import InputFormatError
from emgsonar.models import ImportRun
from ena_like.models import Sample, SampleProperty
from ena_like.services.properties import add_property
from workflows.prefect_utils.tasks import django_flow, django_task

pytestmark = [pytest.mark.prefect, pytest.mark.django_db(transaction=True)]


def run_command(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, *argv: str
) -> tuple[int, str]:
    """``manage.py *argv`` in this process: (exit status, what it wrote to stderr).

    ``run_from_argv`` is what ``manage.py`` runs after ``django.setup()`` (which must not run
    again here: it would bind the log handlers to this test's captured stderr). Prefect's run
    logs are read from ``caplog``, formatted with any traceback they carry: the console
    handler Prefect set up at the start of the session writes to that session's stderr.
    """
    capfd.readouterr()
    caplog.clear()
    command = ManagementUtility(["manage.py", *argv]).fetch_command(argv[0])
    with pytest.raises(SystemExit) as exited:
        command.run_from_argv(["manage.py", *argv])
    return exited.value.code, caplog.text + capfd.readouterr().err


def assert_one_clear_error(status: int, stderr: str, message: str) -> None:
    """Exit status 2, the message as the command's last word, no traceback anywhere."""
    assert "Traceback" not in stderr, stderr
    assert "NoneType: None" not in stderr, stderr
    assert status == 2, stderr
    command_lines = [line for line in stderr.splitlines() if line.startswith("CommandError")]
    assert command_lines == [f"CommandError: {message}"], stderr


def failed_flow_run_message() -> str:
    """The state message of the newest flow run (what the dashboard shows)."""
    with get_client(sync_client=True) as client:
        (run,) = client.read_flow_runs(limit=1, sort="EXPECTED_START_TIME_DESC")
    assert run.state is not None and run.state.is_failed()
    return run.state.message or ""


@pytest.fixture
def sample_files(tmp_path: Path, shared_data: Path) -> dict[str, Path]:
    """Small bad inputs, made here."""
    files: dict[str, Path] = {}
    files["empty"] = tmp_path / "empty.fasta"
    files["empty"].write_bytes(b"")
    files["binary"] = tmp_path / "binary.fasta"
    files["binary"].write_bytes(bytes(range(256)) * 8)
    real_xz = (shared_data / "sars-cov-2" / "SARS-CoV-2_12.fasta.xz").read_bytes()
    files["truncated"] = tmp_path / "cut.fasta.xz"
    files["truncated"].write_bytes(real_xz[: len(real_xz) // 2])
    files["bad_chars"] = tmp_path / "bad_chars.fasta"
    files["bad_chars"].write_text(">s1\nACGTNNACGT\n>s2\nACGT$%ACGT\n")
    files["good"] = tmp_path / "good.fasta"
    with lzma.open(shared_data / "sars-cov-2" / "SARS-CoV-2_12.fasta.xz", "rt") as handle:
        files["good"].write_text(handle.read())
    files["bad_date"] = tmp_path / "bad_date.tsv"
    files["bad_date"].write_text("name\tdate\ns1\t2024-02-28\ns2\t2024-02-30\n")
    files["bad_tsv"] = tmp_path / "bad.tsv"
    files["bad_tsv"].write_text("sample\tdate\ns1\t2024-02-01\n")
    files["tsv"] = shared_data / "sars-cov-2" / "SARS-CoV-2_6.tsv"
    files["lineages"] = shared_data / "sars-cov-2" / "lineages" / "lineages_test.tsv"
    files["tmp"] = tmp_path
    return files


SAMPLES = ["import_samples", "--reference", "MN908947.3"]
NOT_GENBANK = (
    "not a GenBank file: it does not start with a LOCUS line. Give a GenBank flat file "
    "(.gb/.gbk), e.g. from NCBI 'Send to > File > GenBank'."
)
NOT_TEXT = "not utf-8 text (invalid start byte). Sequence and metadata files must be plain text."

#: case → (argv with {file} placeholders, expected message with the same placeholders)
CASES = {
    "samples: missing file": (
        [*SAMPLES, "--fasta", "{tmp}/missing.fasta"],
        "{tmp}/missing.fasta: no such file. Check the path of the source.",
    ),
    "samples: empty file": (
        [*SAMPLES, "--fasta", "{empty}"],
        "{empty}: the file is empty (no FASTA record). Give a FASTA file (records starting "
        "with '>').",
    ),
    "samples: binary file": ([*SAMPLES, "--fasta", "{binary}"], "{binary}: " + NOT_TEXT),
    "samples: a TSV given as FASTA": (
        [*SAMPLES, "--fasta", "{tsv}"],
        "{tsv}: position 1: not a FASTA file: text before the first '>' header. Give a FASTA "
        "file (records starting with '>').",
    ),
    "samples: truncated xz": (
        [*SAMPLES, "--fasta", "{truncated}"],
        "{truncated}: xz archive is truncated or corrupt (Compressed file ended before the "
        "end-of-stream marker was reached). Download or copy the file again.",
    ),
    "samples: bad characters": (
        [*SAMPLES, "--fasta", "{bad_chars}"],
        "{bad_chars}: 1 bad record(s): record 's2', position 5: character is not an IUPAC "
        "nucleotide code (got '$'). Fix the records, or import with a policy that skips bad "
        "records.",
    ),
    "samples: unknown reference": (
        ["import_samples", "--reference", "NOPE.1", "--fasta", "{good}"],
        "unknown reference 'NOPE.1'. Import it first: manage.py import_reference.",
    ),
    "samples: bad date in metadata": (
        [*SAMPLES, "--metadata", "{bad_date}", "--cols", "name=name", "collection_date=date"],
        "{bad_date}: 1 invalid value in metadata: line 3, column 'date': '2024-02-30' is not a "
        "valid date (day is out of range for month). Fix these rows, or pass "
        "--skip-invalid-rows to import only the valid rows.",
    ),
    "samples: bad TSV": (
        [*SAMPLES, "--metadata", "{bad_tsv}", "--cols", "name=name"],
        "{bad_tsv}: mapped column(s) not in the metadata header: name. Columns in the file: "
        "sample, date.",
    ),
    "samples: binary metadata": (
        [*SAMPLES, "--metadata", "{binary}", "--cols", "name=name"],
        "{binary}: " + NOT_TEXT,
    ),
    "reference: missing file": (
        ["import_reference", "--genbank", "{tmp}/missing.gb"],
        "{tmp}/missing.gb: no such file. Check the path of the source.",
    ),
    "reference: a FASTA given as GenBank": (
        ["import_reference", "--genbank", "{good}"],
        "{good}: " + NOT_GENBANK,
    ),
    "reference: empty file": (
        ["import_reference", "--genbank", "{empty}"],
        "{empty}: " + NOT_GENBANK,
    ),
    "reference: binary file": (
        ["import_reference", "--genbank", "{binary}"],
        "{binary}: " + NOT_TEXT,
    ),
    "lineage: missing file": (
        ["import_lineage", "--reference", "MN908947.3", "--lineages", "{tmp}/missing.tsv"],
        "{tmp}/missing.tsv: no such file. Check the path of the source.",
    ),
    "lineage: bad TSV": (
        ["import_lineage", "--reference", "MN908947.3", "--lineages", "{bad_tsv}"],
        "{bad_tsv}: lineage file must have the columns 'lineage' and 'sublineage' (got "
        "['sample', 'date']). Give sonar's lineage TSV, or Pango's alias_key.json and "
        "lineage_notes.txt.",
    ),
    "lineage: binary file": (
        ["import_lineage", "--reference", "MN908947.3", "--lineages", "{binary}"],
        "{binary}: " + NOT_TEXT,
    ),
    "lineage: unknown reference": (
        ["import_lineage", "--reference", "NOPE.1", "--lineages", "{lineages}"],
        "unknown reference 'NOPE.1'. Import the reference first.",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_ends_the_command_with_one_clear_message(
    case: str,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    sars_cov_2_reference: str,
    import_dirs: Path,
    sample_files: dict[str, Path],
) -> None:
    argv, message = CASES[case]
    names = {name: str(path) for name, path in sample_files.items()}
    status, err = run_command(capfd, caplog, *(arg.format(**names) for arg in argv))
    expected = message.format(**names)
    assert_one_clear_error(status, err, expected)
    assert failed_flow_run_message() == expected
    run = ImportRun.objects.order_by("-pk").first()
    assert run is not None and (run.state, run.error) == ("failed", expected)


def test_an_integer_out_of_its_columns_range_stops_the_import_before_loading(
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    sars_cov_2_reference: str,
    import_dirs: Path,
    sample_files: dict[str, Path],
    tmp_path: Path,
) -> None:
    """Custom integers are ``bigint``: 2**63 is named with its line and column while the file
    is checked, before any sample is written (it used to fail inside ``COPY``, unlocated)."""
    add_property("age", "integer")
    path = tmp_path / "age.tsv"
    path.write_text(f"name\tage\ns1\t12\ns2\t{2**63}\n")
    status, err = run_command(
        capfd, caplog, *SAMPLES, "--fasta", str(sample_files["good"]),
        "--metadata", str(path), "--cols", "name=name", "age=age",
    )  # fmt: skip
    assert_one_clear_error(
        status,
        err,
        f"{path}: 1 invalid value in metadata: line 3, column 'age': '9223372036854775808' is "
        "out of range (-9223372036854775808 to 9223372036854775807). Fix these rows, or pass "
        "--skip-invalid-rows to import only the valid rows.",
    )
    assert not Sample.objects.exists() and not SampleProperty.objects.exists()


@django_task(name="user-error-task")
def _task_with_user_error(path: str) -> None:
    raise InputFormatError("not a FASTA file", path=path)


@django_task(name="buggy-task")
def _buggy_task() -> None:
    raise RuntimeError("a bug")


@django_flow(name="user-error-flow")
def _flow(bug: bool) -> None:
    _buggy_task() if bug else _task_with_user_error("x.fasta")


def test_a_user_error_fails_the_runs_without_traceback_and_a_bug_keeps_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(InputFormatError) as raised:
        _flow(bug=False)
    assert str(raised.value) == "x.fasta: not a FASTA file."
    err = caplog.text
    assert "Traceback" not in err and "NoneType: None" not in err, err
    assert "Finished in state Failed('x.fasta: not a FASTA file.')" in err
    assert failed_flow_run_message() == "x.fasta: not a FASTA file."

    caplog.clear()
    with pytest.raises(RuntimeError, match=r"^a bug$"):
        _flow(bug=True)
    err = caplog.text
    assert "Traceback (most recent call last)" in err and "RuntimeError: a bug" in err

    # called as a plain function (unit tests use .fn), a task still raises
    with pytest.raises(InputFormatError):
        _task_with_user_error.fn("x.fasta")
