"""The CLI end to end: columns, golden rows, exit status 2 and exact stderr on broken input."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest

from analyses.calling.__main__ import COLUMNS, main
from tests.calling.conftest import DATA, SC2_NEXTCLADE


def _fasta(tmp_path: Path, sc2_seq: str) -> Path:
    seq = sc2_seq[:21764] + sc2_seq[21770:23402] + "G" + sc2_seq[23403:29800]
    path = tmp_path / "in.fasta.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(f">alpha some description\n{seq}\n>bad\nACGTXACGT\n>junk\n{'ACGT' * 40}\n")
    return path


def test_cli_golden_rows(tmp_path: Path, capsys, sc2_ref) -> None:
    fasta = _fasta(tmp_path, sc2_ref.replicons[0].sequence)
    out = tmp_path / "out.tsv"
    assert main(["--genbank", str(SC2_NEXTCLADE), "--fasta", str(fasta), "--out", str(out)]) == 0
    lines = [line.split("\t") for line in out.read_text().splitlines()]
    assert tuple(lines[0]) == COLUMNS
    assert lines[1] == [
        "alpha", "MN908947.3", "1-29800", "A23403G", "", "", "del:21765-21770", "", "",
        "S:D614G", "S:del:69-70", "", "", "0.9966", "0.00", "good", "", "",
    ]  # fmt: skip
    assert 29800 / 29903 == pytest.approx(0.9966, abs=5e-5)  # covered share, deletion included
    assert lines[2][:2] == ["junk", ""] and lines[2][-1] == "does not align to MN908947.3"
    assert lines[3][0] == "bad"
    assert lines[3][-1] == (
        f"{fasta}: record 'bad', position 5: character is not an IUPAC nucleotide code (got 'X'). "
        "Use A, C, G, T/U, N or IUPAC ambiguity codes."
    )
    assert capsys.readouterr().err == ""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "analyses.calling", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_not_genbank(tmp_path: Path) -> None:
    bad = tmp_path / "ref.gb"
    bad.write_text(">x\nACGT\n")
    proc = _run("--genbank", str(bad), "--fasta", str(bad))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (
        f"ERROR: {bad}: not a GenBank file: it does not start with a LOCUS line. Give a GenBank "
        "flat file (.gb/.gbk), e.g. from NCBI 'Send to > File > GenBank'.\n"
    )


def test_cli_broken_fasta(tmp_path: Path) -> None:
    broken = tmp_path / "in.fasta.gz"
    source = (DATA / "sars-cov-2" / "SARS-CoV-2_6.fasta.gz").read_bytes()
    broken.write_bytes(source[: len(source) // 2])
    proc = _run("--genbank", str(SC2_NEXTCLADE), "--fasta", str(broken))
    assert proc.returncode == 2
    # output is streamed: rows before the damage are written, then the run stops
    assert proc.stdout.startswith("name\treplicon\t")
    assert proc.stderr == (
        f"ERROR: {broken}: gzip archive is truncated or corrupt (Compressed file ended before "
        "the end-of-stream marker was reached). Download or copy the file again.\n"
    )
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    proc = _run("--genbank", str(SC2_NEXTCLADE), "--fasta", str(text))
    assert proc.returncode == 2
    assert proc.stderr == (
        f"ERROR: {text}: position 1: not a FASTA file: text before the first '>' header. "
        "Give a FASTA file (records starting with '>').\n"
    )
