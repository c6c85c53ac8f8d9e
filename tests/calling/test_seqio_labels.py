"""FASTA reading (all compressions, harmonisation) and label round trips."""

from __future__ import annotations

import gzip
import lzma
import zipfile
from pathlib import Path

import pytest
import zstandard

from analyses.calling.labels import parse_label
from analyses.calling.seqio import read_fasta, seqhash
from emgsonar.errors import InputFormatError

TEXT = b">r1 [molecule=NC_1.1] x\nacgu-\nNRY\n>r2\nACGT\n"


@pytest.mark.parametrize("kind", ["plain", "gz", "xz", "zst", "zip"])
def test_read_fasta_all_compressions(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "f.data"  # the name says nothing: magic bytes decide
    if kind == "plain":
        path.write_bytes(TEXT)
    elif kind == "gz":
        path.write_bytes(gzip.compress(TEXT))
    elif kind == "xz":
        path.write_bytes(lzma.compress(TEXT))
    elif kind == "zst":
        path.write_bytes(zstandard.ZstdCompressor().compress(TEXT))
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("seqs.fasta", TEXT)
    r1, r2 = read_fasta(path)
    assert (r1.id, r1.sequence, r1.molecule) == ("r1", "ACGTNRY", "NC_1.1")
    assert r1.seqhash == seqhash("ACGTNRY")
    assert (r2.id, r2.sequence, r2.molecule) == ("r2", "ACGT", None)


def test_bad_record_policies(tmp_path: Path) -> None:
    path = tmp_path / "f.fa"
    path.write_text(">a\nAC!T\n>b\nACGT\n>c\nAJ\n")
    with pytest.raises(InputFormatError) as info:
        list(read_fasta(path))
    assert str(info.value) == (
        f"{path}: record 'a', position 3: character is not an IUPAC nucleotide code (got '!'). "
        "Use A, C, G, T/U, N or IUPAC ambiguity codes."
    )
    assert [r.id for r in read_fasta(path, bad_records="silent")] == ["b"]
    good = []
    with pytest.raises(InputFormatError, match="2 bad record"):
        for r in read_fasta(path, bad_records="error_all"):
            good.append(r.id)
    assert good == ["b"]


@pytest.mark.parametrize(
    "label",
    ["A23403G", "del:11288-11296", "del:28271", "T22204TGAGCCAGAA", ".0.ACG", "NC_1.1:G5A"],
)
def test_nt_labels(label: str) -> None:
    parsed = parse_label(label, genes={"S"})
    assert parsed.molecule == "nt"
    assert parsed.text == label


def test_parse_storage_coordinates() -> None:
    d = parse_label("S:del:69-70")
    assert (d.molecule, d.kind, d.start, d.end, d.ref, d.gene) == (
        "aa",
        "deletion",
        68,
        70,
        None,
        "S",
    )
    i = parse_label("S:R214REPE")
    assert (i.kind, i.start, i.end, i.ref, i.alt) == ("insertion", 213, 214, "R", "REPE")
    assert parse_label("A23403N").wildcard and not parse_label("A23403n").wildcard
    assert parse_label("NC_1.1:HA:D5G", genes={"HA"}).replicon == "NC_1.1"
    with pytest.raises(InputFormatError, match="not a mutation label"):
        parse_label("S:614")
