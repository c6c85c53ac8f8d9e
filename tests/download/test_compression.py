"""detect_compression/open_text: real gz/xz/zip files from shared/data, zst made here."""

from __future__ import annotations

import gzip
import lzma
import zipfile
from pathlib import Path

import pytest
import zstandard

from analyses.calling.compression import (
    Compression,
    detect_compression,
    list_zip_members,
    open_member,
    open_text,
)
from emgsonar.errors import InputFormatError, NotFoundError


def headers(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(">")]


@pytest.fixture(scope="module")
def sc2_12_text(shared_data: Path) -> str:
    """Reference decompression by the standard library, to compare open_text with.

    This real file has Windows (CRLF) line ends; open_text reads with universal newlines, so
    consumers see ``\n`` only.
    """
    return lzma.decompress(
        (shared_data / "sars-cov-2" / "SARS-CoV-2_12.fasta.xz").read_bytes()
    ).decode()


@pytest.fixture
def zst_file(tmp_path: Path, sc2_12_text: str) -> Path:
    """The same 12 genomes as zstd in two frames (as ``zstd`` writes for concatenated input)."""
    data = sc2_12_text.encode()
    half = data.index(b">", len(data) // 2)
    compressor = zstandard.ZstdCompressor(level=3)
    path = tmp_path / "SARS-CoV-2_12.fasta.zst"
    path.write_bytes(compressor.compress(data[:half]) + compressor.compress(data[half:]))
    return path


def test_detect_compression_by_magic_bytes(
    shared_data: Path, zst_file: Path, tmp_path: Path
) -> None:
    sc2 = shared_data / "sars-cov-2"
    renamed = tmp_path / "misleading.fasta"  # names are not trusted
    renamed.write_bytes((sc2 / "SARS-CoV-2_6.fasta.gz").read_bytes())

    assert detect_compression(sc2 / "SARS-CoV-2_6.fasta.gz") is Compression.GZIP
    assert detect_compression(sc2 / "SARS-CoV-2_12.fasta.xz") is Compression.XZ
    assert detect_compression(sc2 / "180.sars-cov-2.zip") is Compression.ZIP
    assert detect_compression(zst_file) is Compression.ZSTD
    assert detect_compression(sc2 / "SARS-CoV-2_6.tsv") is Compression.NONE
    assert detect_compression(renamed) == "gzip"


def test_open_text_decompresses_each_format_alike(
    shared_data: Path, zst_file: Path, sc2_12_text: str, tmp_path: Path
) -> None:
    sc2 = shared_data / "sars-cov-2"
    plain = tmp_path / "plain.fasta"
    plain.write_bytes(sc2_12_text.encode())
    assert "\r\n" in sc2_12_text

    for path in (sc2 / "SARS-CoV-2_12.fasta.xz", zst_file, plain):
        with open_text(path) as handle:
            assert handle.read() == sc2_12_text.replace("\r\n", "\n"), path

    with open_text(sc2 / "SARS-CoV-2_6.fasta.gz") as handle:
        text = handle.read()
    assert text == gzip.decompress((sc2 / "SARS-CoV-2_6.fasta.gz").read_bytes()).decode()
    assert len(headers(text)) == 6


def test_zip_with_fasta_and_tsv(shared_data: Path) -> None:
    archive = shared_data / "sars-cov-2" / "180.sars-cov-2.zip"

    assert list_zip_members(archive) == ["covid19.180.fasta", "covid19.180.tsv"]
    with open_text(archive) as handle:  # picks the FASTA member
        fasta_headers = [line for line in handle if line.startswith(">")]
    assert len(fasta_headers) == 180
    with open_member(archive, "covid19.180.tsv") as handle:
        assert handle.readline().startswith("ID\tDATE_OF_SAMPLING\t")
        assert sum(1 for _ in handle) == 180

    with pytest.raises(NotFoundError) as info:
        with open_member(archive, "covid19.180.csv"):
            pass
    assert str(info.value) == (
        f"{archive}: zip archive has no member 'covid19.180.csv'. "
        "Members: covid19.180.fasta, covid19.180.tsv."
    )


def test_zip_single_member_and_ambiguous_zip(tmp_path: Path, sc2_12_text: str) -> None:
    single = tmp_path / "single.zip"
    with zipfile.ZipFile(single, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("sequences.txt", sc2_12_text)
    with open_text(single) as handle:
        assert handle.read() == sc2_12_text.replace("\r\n", "\n")

    ambiguous = tmp_path / "two.zip"
    with zipfile.ZipFile(ambiguous, "w") as archive:
        archive.writestr("a.tsv", "x\n")
        archive.writestr("b.txt", "y\n")
    with pytest.raises(InputFormatError) as info:
        with open_text(ambiguous):
            pass
    assert str(info.value) == (
        f"{ambiguous}: zip archive has no single member and no .fasta/.fa/.fna/.fas member "
        "(got ['a.tsv', 'b.txt']). Name the member to read with open_member."
    )


def truncate(source: Path, dest: Path, keep: float = 0.6) -> Path:
    data = source.read_bytes()
    dest.write_bytes(data[: int(len(data) * keep)])
    return dest


@pytest.mark.parametrize(
    ("fmt", "problem"),
    [
        (
            "gzip",
            "gzip archive is truncated or corrupt (Compressed file ended before the "
            "end-of-stream marker was reached)",
        ),
        (
            "xz",
            "xz archive is truncated or corrupt (Compressed file ended before the "
            "end-of-stream marker was reached)",
        ),
        ("zstd", "zstd archive is truncated or corrupt (input ends inside a zstd frame)"),
    ],
)
def test_truncated_archive_names_the_file(
    fmt: str, problem: str, shared_data: Path, zst_file: Path, tmp_path: Path
) -> None:
    sources = {
        "gzip": shared_data / "sars-cov-2" / "SARS-CoV-2_6.fasta.gz",
        "xz": shared_data / "sars-cov-2" / "SARS-CoV-2_12.fasta.xz",
        "zstd": zst_file,
    }
    cut = truncate(sources[fmt], tmp_path / f"cut.{fmt}")

    with pytest.raises(InputFormatError) as info:
        with open_text(cut) as handle:
            for _line in handle:  # the damage shows while reading, not at open
                pass
    assert str(info.value) == f"{cut}: {problem}. Download or copy the file again."


def test_truncated_zip_names_the_file(shared_data: Path, tmp_path: Path) -> None:
    cut = truncate(shared_data / "sars-cov-2" / "180.sars-cov-2.zip", tmp_path / "cut.zip")

    with pytest.raises(InputFormatError) as info:
        with open_text(cut):
            pass
    assert str(info.value) == (
        f"{cut}: zip archive is truncated or corrupt (File is not a zip file). "
        "Download or copy the file again."
    )


def test_corrupt_zip_member_names_the_file(shared_data: Path, tmp_path: Path) -> None:
    data = bytearray((shared_data / "sars-cov-2" / "180.sars-cov-2.zip").read_bytes())
    data[20_000:20_200] = bytes(200)  # zero a stretch inside the deflated FASTA
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(bytes(data))

    with pytest.raises(InputFormatError) as info:
        with open_text(corrupt) as handle:
            handle.read()
    message = str(info.value)
    assert message.startswith(f"{corrupt}: zip archive is truncated or corrupt (")
    assert message.endswith("). Download or copy the file again.")


def test_not_text_and_unsupported(tmp_path: Path) -> None:
    binary = tmp_path / "binary.fasta"
    binary.write_bytes(b">x\nAC\xff\xfeGT\n")
    with pytest.raises(InputFormatError) as info:
        with open_text(binary) as handle:
            handle.read()
    assert str(info.value) == (
        f"{binary}: not utf-8 text (invalid start byte). "
        "Sequence and metadata files must be plain text."
    )

    bz2 = tmp_path / "x.fasta.bz2"
    bz2.write_bytes(b"BZh91AY&SY")
    with pytest.raises(InputFormatError) as info:
        detect_compression(bz2)
    assert str(info.value) == (
        f"{bz2}: bzip2 compression is not supported. Recompress with gzip, xz or zstd."
    )

    with pytest.raises(NotFoundError):
        detect_compression(tmp_path / "absent.fasta")
