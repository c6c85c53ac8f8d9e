"""The chunk/result file contract: exact round trips, atomic deterministic output, CLI errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from analyses.calling.engine import call_records
from analyses.calling.reference import read_genbank
from analyses.calling.seqio import read_fasta
from analyses.results_io import (
    read_reference_spec,
    read_results,
    write_reference_spec,
    write_results,
)
from emgsonar.errors import InputFormatError

REPO = Path(__file__).resolve().parents[2]
FLU = "influenza/influenza-A/H1N1PDM_California"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workflows.steps.align_chunk", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def test_reference_and_results_round_trip(shared_data: Path, tmp_path: Path) -> None:
    paths = sorted((shared_data / FLU).glob("segment_*.gb"))
    spec = read_genbank(paths)
    write_reference_spec(spec, tmp_path / "ref.json")
    assert read_reference_spec(tmp_path / "ref.json") == spec
    records = list(read_fasta(shared_data / FLU / "H1N1.sequences.fasta.xz"))[:12]
    results = list(call_records(records, spec))
    write_results(tmp_path / "r.jsonl", spec, results)
    header, back = read_results(tmp_path / "r.jsonl", expect_content_hash=spec.content_hash)
    assert back == results and header["records"] == 12
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
    with pytest.raises(InputFormatError, match="another version of the reference"):
        read_results(tmp_path / "r.jsonl", expect_content_hash="0" * 64)
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    (tmp_path / "cut.jsonl").write_text("\n".join(lines[:-2]) + "\n")
    with pytest.raises(InputFormatError, match="Align the chunk again"):
        read_results(tmp_path / "cut.jsonl")


def test_cli_is_deterministic_and_framework_free(shared_data: Path, tmp_path: Path) -> None:
    spec = read_genbank([shared_data / "sars-cov-2/MN908947.nextclade.gb"])
    write_reference_spec(spec, tmp_path / "ref.json")
    chunk = tmp_path / "chunk.fasta"
    records = list(read_fasta(shared_data / "sars-cov-2/SARS-CoV-2_12.fasta.xz"))[:4]
    chunk.write_text("".join(f">{r.id}\n{r.sequence}\n" for r in records) + ">bad\nACGTJ\n")
    args = ("--reference", str(tmp_path / "ref.json"), "--fasta", str(chunk))
    first = _run(*args, "--out", str(tmp_path / "a.jsonl"), "--jobs", "2")
    second = _run(*args, "--out", str(tmp_path / "b.jsonl"))
    assert (first.returncode, second.returncode) == (0, 0), first.stderr
    assert first.stderr.endswith(f"5 record(s), 4 called, 1 failed -> {tmp_path}/a.jsonl\n")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    _, results = read_results(tmp_path / "a.jsonl")
    assert results[-1].errors == (
        f"{chunk}: record 'bad', position 5: character is not an IUPAC nucleotide code "
        "(got 'J'). Use A, C, G, T/U, N or IUPAC ambiguity codes.",
    )
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, workflows.steps.align_chunk; "
            "print(sorted({'django', 'prefect'} & set(sys.modules)))",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert check.stdout == "[]\n"


def test_cli_file_errors_exit_2(tmp_path: Path) -> None:
    (tmp_path / "ref.json").write_text("{}")
    missing = _run("--reference", str(tmp_path / "ref.json"), "--fasta", "nope.fa", "--out", "x")
    assert (missing.returncode, missing.stderr) == (2, "ERROR: nope.fa: no such FASTA file.\n")
    (tmp_path / "c.fasta").write_text(">a\nACGT\n")
    broken = _run(
        "--reference", str(tmp_path / "ref.json"), "--fasta", str(tmp_path / "c.fasta"),
        "--out", str(tmp_path / "r.jsonl"),
    )  # fmt: skip
    assert broken.returncode == 2
    assert broken.stderr == f"ERROR: {tmp_path}/ref.json: not an emgsonar reference JSON file.\n"
    assert not (tmp_path / "r.jsonl").exists()
