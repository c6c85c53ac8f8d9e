"""Every GenBank file of the shared data imports; broken files fail with exact messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyses.calling.reference import read_genbank
from emgsonar.errors import InputFormatError, ReferenceDataError
from tests.calling.conftest import DATA, HIV, MPOX, SC2_NCBI, SC2_NEXTCLADE

SINGLE = [
    p
    for p in sorted(DATA.rglob("*.gb"))
    if "influenza-" not in str(p) and "streptococcus" not in str(p)
]
FLU_FOLDERS = sorted({p.parent for p in DATA.glob("influenza/influenza-*/*/*.gb")})


@pytest.mark.parametrize("path", SINGLE, ids=lambda p: str(p.relative_to(DATA)))
def test_single_file_references_import(path: Path) -> None:
    ref = read_genbank([path])
    assert len(ref.replicons) == 1
    replicon = ref.replicons[0]
    assert replicon.length == len(replicon.sequence) > 0
    assert replicon.cds
    symbols = [c.symbol for c in ref.all_cds]
    assert len(symbols) == len(set(symbols))
    for cds in replicon.cds:
        assert cds.translation
        assert cds.nt_length >= 3 * len(cds.translation)


@pytest.mark.parametrize("folder", FLU_FOLDERS, ids=lambda p: p.name)
def test_influenza_folder_is_one_eight_replicon_reference(folder: Path) -> None:
    files = sorted(folder.glob("*.gb"))
    ref = read_genbank(files)
    assert len(ref.replicons) == 8
    assert ref.accession == ref.replicons[0].accession
    assert len({c.symbol for c in ref.all_cds}) == len(ref.all_cds)


def test_sars_cov_2_ncbi_orf1ab_reads_base_13468_twice() -> None:
    ref = read_genbank([SC2_NCBI])
    orf1ab = next(c for c in ref.all_cds if c.symbol == "orf1ab")
    assert [(s.start, s.end, s.strand) for s in orf1ab.segments] == [
        (265, 13468, 1),
        (13467, 21555, 1),
    ]
    assert orf1ab.nt_length == 21291
    assert len(orf1ab.translation) == 7096
    nextclade = read_genbank([SC2_NEXTCLADE])
    assert sorted(c.symbol for c in nextclade.all_cds) == [
        "E", "M", "N", "ORF1a", "ORF1b", "ORF3a", "ORF6", "ORF7a", "ORF7b", "ORF8", "ORF9b", "S"
    ]  # fmt: skip


def test_hiv_gag_pol_join_and_transl_except() -> None:
    ref = read_genbank([HIV])
    gag_pol = next(c for c in ref.all_cds if len(c.segments) == 2 and c.segments[0].start == 335)
    assert [(s.start, s.end) for s in gag_pol.segments] == [(335, 1637), (1636, 4642)]


def test_mpox_minus_strand_cds_in_translation_order() -> None:
    ref = read_genbank([MPOX])
    minus = [c for c in ref.all_cds if c.strand == -1]
    assert len(minus) > 50
    assert all(s.strand == -1 for c in minus for s in c.segments)
    assert all(c.translation.startswith("M") for c in minus)


def test_yellow_fever_cds_without_gene_feature() -> None:
    ref = read_genbank([DATA / "yellow-fever-virus" / "AY640589.1.gb"])
    (cds,) = ref.all_cds
    assert cds.symbol == "polyprotein"
    assert cds.gene_symbol is None


def test_duplicate_symbols_get_suffixes() -> None:
    ref = read_genbank([DATA / "ebola" / "NC_002549.1.gb"])
    assert [c.symbol for c in ref.all_cds if c.gene_symbol == "GP"] == ["GP", "GP_2", "GP_3"]


def test_streptococcus_annotation_only_file() -> None:
    # no time limit here: speed belongs in bench/, not in unit tests
    ref = read_genbank([DATA / "streptococcus-pyogenes" / "GCA_900475035.1.gb"])
    (replicon,) = ref.replicons
    assert replicon.length == 1746380
    assert replicon.sequence == ""  # the file has no ORIGIN data
    assert len(replicon.cds) == 1630
    assert {c.transl_table for c in replicon.cds} == {11}
    assert all(c.translation.startswith("M") for c in replicon.cds if not c.partial_5)


def test_content_hash_is_stable_and_content_based(tmp_path: Path) -> None:
    a = read_genbank([SC2_NEXTCLADE])
    copy = tmp_path / "copy.gb"
    copy.write_bytes(SC2_NEXTCLADE.read_bytes())
    assert read_genbank([copy]).content_hash == a.content_hash
    assert read_genbank([SC2_NCBI]).content_hash != a.content_hash


def test_not_genbank(tmp_path: Path) -> None:
    path = tmp_path / "x.gb"
    path.write_text(">seq\nACGT\n")
    with pytest.raises(InputFormatError) as info:
        read_genbank([path])
    assert str(info.value) == (
        f"{path}: not a GenBank file: it does not start with a LOCUS line. Give a GenBank flat "
        "file (.gb/.gbk), e.g. from NCBI 'Send to > File > GenBank'."
    )


def test_truncated(tmp_path: Path) -> None:
    path = tmp_path / "t.gb"
    path.write_bytes(SC2_NEXTCLADE.read_bytes()[:30000])
    with pytest.raises(InputFormatError) as info:
        read_genbank([path])
    assert str(info.value) == (
        f"{path}: truncated GenBank file: a record does not end with '//'. "
        "Download or copy the file again."
    )


def test_translation_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "bad.gb"
    text = SC2_NEXTCLADE.read_text()
    assert text.count("MESLVPGFNEKTHVQLSLPVLQVRDVLVRG") == 1
    path.write_text(
        text.replace("MESLVPGFNEKTHVQLSLPVLQVRDVLVRG", "MESLVPGFNEKTHVQLSLPVLQVRDVLVRW")
    )
    with pytest.raises(ReferenceDataError) as info:
        read_genbank([path])
    assert str(info.value) == (
        f"{path}: record 'MN908947.3': CDS 'ORF1a': /translation has 'W' at residue 30 but the "
        "nucleotide sequence translates to 'G'. Fix the CDS location or /translation, or remove "
        "the CDS feature."
    )


def test_duplicate_accession() -> None:
    with pytest.raises(ReferenceDataError, match=r"record accession MN908947\.3 occurs twice"):
        read_genbank([SC2_NEXTCLADE, SC2_NCBI])
