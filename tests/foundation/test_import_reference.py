"""``import_reference``: every bundled GenBank imports; re-import is a no-op; bad input fails."""

from __future__ import annotations

import lzma
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from analyses.models import Cds, CdsSegment, Gene, Reference, Replicon
from analyses.services.references import import_reference
from emgsonar.errors import ConflictError, InputFormatError, ReferenceDataError

pytestmark = pytest.mark.django_db

#: every GenBank under shared/data, grouped as one reference per import, with expected
#: (accession, replicons, CDS)
REFERENCE_SETS = {
    "sars-cov-2 nextclade": (["sars-cov-2/MN908947.nextclade.gb"], "MN908947.3", 1, 12),
    "sars-cov-2 ncbi": (["sars-cov-2/MN908947.3.ncbi.gb"], "MN908947.3", 1, 10),
    "mpox IIb": (["mpox/clade-IIb-NC_063383.1.gb"], "NC_063383.1", 1, None),
    "mpox I": (["mpox/clade_I-DQ011155.gb"], "DQ011155.1", 1, None),
    "H1N1": (["influenza/influenza-A/H1N1PDM_California/*.gb"], "NC_026438.1", 8, None),
    "H3N2": (["influenza/influenza-A/H3N2_NewYork/*.gb"], None, 8, None),
    "H5N1": (["influenza/influenza-A/H5N1_Guangdong/*.gb"], None, 8, None),
    "B Victoria": (["influenza/influenza-B/Victoria-Brisbane/*.gb"], None, 8, None),
    "H7N9 NA": (["influenza/H7N9/InfluA_H7N9_seg6.gb"], "NC_026429.1", 1, None),
    "RSV-B": (["rsv/RSV-B/OP975389.1.gb"], "OP975389.1", 1, None),
    "RSV-A": (["rsv/RSV-A/PP109421.gb"], None, 1, None),
    "RSV old": (["rsv/AF013254.gb"], None, 1, None),
    "HIV": (["hiv/NC_001802.1.gb"], "NC_001802.1", 1, None),
    "dengue 1": (["dengue/type_1/*.gb"], "NC_001477.1", 1, 1),
    "dengue 2": (["dengue/type_2/*.gb"], "NC_001474.2", 1, 1),
    "dengue 3": (["dengue/type_3/*.gb"], "NC_001475.2", 1, 1),
    "dengue 4": (["dengue/type_4/*.gb"], "NC_002640.1", 1, 1),
    "ebola": (["ebola/NC_002549.1.gb"], "NC_002549.1", 1, None),
    "measles": (["measles/NC_001498.gb"], None, 1, None),
    "hMPV": (["human-metapneumovirus/NC_039199.gb"], None, 1, None),
    "yellow fever": (["yellow-fever-virus/AY640589.1.gb"], "AY640589.1", 1, 1),
    "zika": (["zika/NC_035889.gb"], None, 1, None),
    "S. pyogenes": (["streptococcus-pyogenes/GCA_900475035.1.gb"], "LS483338.1", 1, None),
    "mpox peers copy": (["peers/mpox/NC_063383.1.sonar.gb"], "NC_063383.1", 1, None),
    "sars-cov-2 peers": (["peers/sars-cov-2/reference/MN908947.nextclade.gb"], None, 1, 12),
    "sars-cov-2 ncbi peers": (["peers/sars-cov-2/reference/MN908947.3.ncbi.gb"], None, 1, 10),
}


def _expand(shared_data: Path, patterns: list[str]) -> list[Path]:
    files: list[Path] = []
    for pattern in patterns:
        found = sorted(shared_data.glob(pattern))
        assert found, pattern
        files.extend(found)
    return files


def test_every_bundled_genbank_is_covered(shared_data: Path) -> None:
    """A new GenBank file in shared/data must be added to REFERENCE_SETS."""
    covered = {
        path for patterns, *_ in REFERENCE_SETS.values() for path in _expand(shared_data, patterns)
    }
    assert set(shared_data.rglob("*.gb")) == covered


@pytest.mark.parametrize("name", list(REFERENCE_SETS))
def test_import_every_reference(shared_data: Path, name: str) -> None:
    patterns, accession, n_replicons, n_cds = REFERENCE_SETS[name]
    files = _expand(shared_data, patterns)
    result = import_reference(files)
    assert result.created
    reference = Reference.objects.get(pk=result.reference_id)
    if accession:
        assert reference.accession == accession
    assert reference.replicons.count() == n_replicons == result.replicons
    cds = Cds.objects.filter(replicon__reference=reference)
    if n_cds is not None:
        assert cds.count() == n_cds
    assert cds.exists()
    # every CDS has ordered segments, and every CDS hangs off a gene
    assert not cds.filter(segments__isnull=True).exists()
    assert not cds.filter(gene__isnull=True).exists()
    # the same files again change nothing
    again = import_reference(files)
    assert not again.created and again.reference_id == result.reference_id
    assert Reference.objects.count() == 1


def test_h1n1_is_one_reference_with_eight_segments(shared_data: Path) -> None:
    files = _expand(shared_data, ["influenza/influenza-A/H1N1PDM_California/*.gb"])
    result = import_reference(files)
    replicons = list(Replicon.objects.filter(reference_id=result.reference_id))
    assert [r.accession for r in replicons] == [
        "NC_026438.1", "NC_026435.1", "NC_026437.1", "CY121680.1",
        "NC_026436.1", "NC_026434.1", "NC_026431.1", "NC_026432.1",
    ]  # fmt: skip
    symbols = set(
        Cds.objects.filter(replicon__reference_id=result.reference_id).values_list(
            "symbol", flat=True
        )
    )
    assert {"PB2", "PB1", "PA", "HA", "NP", "NA", "M1", "M2", "NS1", "NEP"} <= symbols
    # M2 and NEP are spliced: two segments each
    for spliced in ("M2", "NEP"):
        assert CdsSegment.objects.filter(cds__symbol=spliced).count() == 2


def test_ribosomal_slippage_and_minus_strand(shared_data: Path) -> None:
    import_reference([shared_data / "sars-cov-2/MN908947.3.ncbi.gb"])
    orf1ab = Cds.objects.get(symbol="orf1ab")
    segments = list(orf1ab.segments.values_list("start", "end", "strand"))
    # join(266..13468,13468..21555): base 13468 read twice
    assert segments == [(265, 13468, 1), (13467, 21555, 1)]
    assert orf1ab.translation.startswith(
        "MESLVPGFNEKTHVQLSLPVLQVRDVLVRGFGDSVEEVLSEARQHLKDGTCGLVEVEK"
    )
    import_reference([shared_data / "mpox/clade-IIb-NC_063383.1.gb"])
    minus = Cds.objects.filter(replicon__accession="NC_063383.1", strand=-1)
    assert minus.count() > 50
    assert not CdsSegment.objects.filter(cds__in=minus).exclude(strand=-1).exists()


def test_hiv_gag_pol_join(shared_data: Path) -> None:
    import_reference([shared_data / "hiv/NC_001802.1.gb"])
    gag_pol = Cds.objects.get(replicon__accession="NC_001802.1", symbol="gag-pol")
    first, second = gag_pol.segments.order_by("order")
    assert (first.start, first.end, second.start, second.end) == (335, 1637, 1636, 4642)
    assert first.end - 1 == second.start  # the slippage base is read twice


def test_cds_without_gene_feature_is_listed_as_gene(shared_data: Path) -> None:
    import_reference([shared_data / "yellow-fever-virus/AY640589.1.gb"])
    (cds,) = Cds.objects.filter(replicon__accession="AY640589.1")
    assert cds.gene is not None and cds.gene.symbol == cds.symbol
    assert Gene.objects.filter(replicon__accession="AY640589.1").count() == 1


def test_different_reference_under_same_accession_is_a_conflict(shared_data: Path) -> None:
    import_reference([shared_data / "sars-cov-2/MN908947.nextclade.gb"])
    with pytest.raises(ConflictError, match=r"reference MN908947\.3 already exists with different"):
        import_reference([shared_data / "sars-cov-2/MN908947.3.ncbi.gb"])
    assert Cds.objects.count() == 12


def test_not_genbank_truncated_and_mismatch_write_nothing(
    shared_data: Path, tmp_path: Path
) -> None:
    fasta = tmp_path / "not.gb"
    fasta.write_text(">seq1\nACGT\n")
    with pytest.raises(InputFormatError) as not_gb:
        import_reference([fasta])
    assert str(not_gb.value).startswith(f"{fasta}: not a GenBank file")

    text = (shared_data / "sars-cov-2/MN908947.nextclade.gb").read_text()
    truncated = tmp_path / "truncated.gb"
    truncated.write_text(text[: len(text) // 2])
    with pytest.raises(InputFormatError, match="truncated GenBank file"):
        import_reference([truncated])

    # change one codon of S (D614 = GAT at 23402..23404, 1-based) to make /translation disagree
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("ORIGIN"))
    sequence = "".join("".join(line.split()[1:]) for line in lines[start + 1 :] if line[:2] != "//")
    assert sequence[23401:23404].upper() == "GAT"
    mutated = sequence[:23401] + "cat" + sequence[23404:]
    origin = ["ORIGIN\n"]
    for offset in range(0, len(mutated), 60):
        chunk = mutated[offset : offset + 60]
        groups = " ".join(chunk[i : i + 10] for i in range(0, len(chunk), 10))
        origin.append(f"{offset + 1:>9} {groups}\n")
    mismatch = tmp_path / "mismatch.gb"
    mismatch.write_text("".join(lines[:start]) + "".join(origin) + "//\n")
    with pytest.raises(ReferenceDataError, match=r"CDS 'S'.*residue 614"):
        import_reference([mismatch])
    assert not Reference.objects.exists() and not Replicon.objects.exists()


def test_compressed_genbank(shared_data: Path, tmp_path: Path) -> None:
    packed = tmp_path / "MN908947.gb.xz"
    packed.write_bytes(
        lzma.compress((shared_data / "sars-cov-2/MN908947.nextclade.gb").read_bytes())
    )
    assert import_reference([packed]).cds == 12


def test_command_reports_and_fails_cleanly(
    shared_data: Path, tmp_path: Path, capsys, prefect_harness: None
) -> None:
    """The command runs the import_reference flow and reports like the service does."""
    call_command("import_reference", "--genbank", str(shared_data / "zika/NC_035889.gb"))
    assert capsys.readouterr().out.startswith("imported NC_035889.1: 1 replicon(s)")
    call_command("import_reference", "--genbank", str(shared_data / "zika/NC_035889.gb"))
    assert capsys.readouterr().out.startswith("already present, unchanged: NC_035889.1")
    empty = tmp_path / "empty.gb"
    empty.write_text("")
    with pytest.raises(CommandError, match="not a GenBank file") as failed:
        call_command("import_reference", "--genbank", str(empty))
    assert failed.value.returncode == 2
