"""Lineage import (sonar TSV, Pango alias key + notes) and sublineage lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyses.lineage_graph import descendants
from analyses.lineages import parse_lineage_tsv, parse_pango
from analyses.models import Lineage, LineageAlias
from analyses.services.lineages import import_lineages
from emgsonar.errors import EmgsonarError, NotFoundError

REF = "MN908947.3"


def _parents(reference_id: int, name: str) -> list[str]:
    lineage = Lineage.objects.get(reference_id=reference_id, name=name)
    return sorted(lineage.parents.values_list("name", flat=True))


def test_tsv_parser_both_layouts(shared_data: Path) -> None:
    test = parse_lineage_tsv(shared_data / "sars-cov-2/lineages/lineages_test.tsv")
    assert len(test.lineages) == 74
    assert test.lineages["B.1.617"].parents == ("BA.1",)  # the file's quirk, kept as is
    full = parse_lineage_tsv(shared_data / "sars-cov-2/lineages/lineages_full_2025_09.tsv.xz")
    assert len(full.lineages) == 5289
    assert full.lineages["BE.1"].parents == ("BA.5.3.1",)
    assert full.lineages["XA"].parents == ()  # 'XA none': a lineage without children
    assert "none" not in full.lineages


def test_pango_parser(shared_data: Path) -> None:
    pango = parse_pango(
        shared_data / "peers/pango/alias_key.json", shared_data / "peers/pango/lineage_notes.txt"
    )
    assert len(pango.lineages) == 6271
    ba5 = pango.lineages["BA.5"]
    assert (ba5.full_name, ba5.parents) == ("B.1.1.529.5", ("B.1.1.529",))
    assert pango.lineages["BQ.1"].parents == ("BE.1.1.1",)
    assert pango.lineages["XBB"].parents == ("BJ.1", "BM.1.1.1")
    assert pango.lineages["XD"].parents == ("B.1.617.2", "BA.1")  # '*' dropped
    assert pango.lineages["EG.5.1"].full_name == "XBB.1.9.2.5.1"
    assert pango.lineages["A.2.1"].withdrawn


@pytest.mark.django_db
def test_import_test_tree_and_sublineages(sars_cov_2_reference: int, shared_data: Path) -> None:
    path = shared_data / "sars-cov-2/lineages/lineages_test.tsv"
    summary = import_lineages(REF, lineages_tsv=path)
    assert {k: summary[k] for k in ("lineages", "lineages_created", "edges_added")} == {
        "lineages": 74,
        "lineages_created": 74,
        "edges_added": 73,
    }
    ba1 = descendants(sars_cov_2_reference, ["BA.1"])
    # lineages_test.tsv lists B.1.617 under BA.1, so BA.1's sublineages include Delta
    assert {"BA.1", "BA.1.1", "BA.1.17.2", "BC.1", "B.1.617", "B.1.617.2", "AY.4", "AY.4.17",
            "AY.98"} <= ba1  # fmt: skip
    assert "BA.5" not in ba1 and "BA.2" not in ba1
    assert descendants(sars_cov_2_reference, ["BA.5"]) == {
        "BA.5", "BA.5.2", "BA.5.2.1", "BA.5.2.6", "BF.2", "BA.5.3", "BA.5.3.1",
    }  # fmt: skip
    assert descendants(sars_cov_2_reference, ["BA.5.3"], include_self=False) == {"BA.5.3.1"}
    again = import_lineages(REF, lineages_tsv=path)
    assert (again["lineages_created"], again["edges_added"], again["edges_removed"]) == (0, 0, 0)
    assert Lineage.objects.filter(reference_id=sars_cov_2_reference).count() == 74


@pytest.mark.django_db
def test_full_tree_then_pango(sars_cov_2_reference: int, shared_data: Path) -> None:
    import_lineages(REF, lineages_tsv=shared_data / "sars-cov-2/lineages/lineages_test.tsv")
    full = import_lineages(
        REF, lineages_tsv=shared_data / "sars-cov-2/lineages/lineages_full_2025_09.tsv.xz"
    )
    # the test tree hangs B.1.617 under BA.1 and shortcuts aliased lineages (BC.1, BD.1, BF.2,
    # ...); the full tree's parents replace those 11 edges
    assert (full["lineages"], full["edges_removed"]) == (5289, 11)
    assert _parents(sars_cov_2_reference, "B.1.617") == ["B.1"]
    assert "AY.4" not in descendants(sars_cov_2_reference, ["BA.1"])
    ba5 = descendants(sars_cov_2_reference, ["BA.5"])
    assert {"BA.5.3.1", "BE.1", "BQ.1", "BQ.1.1"} <= ba5

    pango = import_lineages(
        REF,
        alias_key=shared_data / "peers/pango/alias_key.json",
        notes=shared_data / "peers/pango/lineage_notes.txt",
    )
    assert pango["withdrawn"] > 0 and pango["aliases_created"] == 605
    stored = Lineage.objects.get(reference_id=sars_cov_2_reference, name="BA.5")
    assert stored.full_name == "B.1.1.529.5" and stored.description
    assert _parents(sars_cov_2_reference, "XBB") == ["BJ.1", "BM.1.1.1"]
    alias = LineageAlias.objects.get(reference_id=sars_cov_2_reference, alias="XBB")
    assert alias.recombinant_parents == ["BJ.1", "BM.1.1.1"]
    ba2 = descendants(sars_cov_2_reference, ["BA.2"])
    assert {"XBB", "XBB.1.5", "EG.5.1", "JN.1"} <= ba2  # recombinant descendants included
    # unaliased names resolve to the designated one
    assert descendants(sars_cov_2_reference, ["B.1.1.529.5.3.1"], include_self=False) >= {"BE.1"}
    repeat = import_lineages(
        REF,
        alias_key=shared_data / "peers/pango/alias_key.json",
        notes=shared_data / "peers/pango/lineage_notes.txt",
    )
    keys = ("lineages_created", "lineages_updated", "edges_added", "edges_removed",
            "aliases_created", "aliases_updated")  # fmt: skip
    assert {k: repeat[k] for k in keys} == dict.fromkeys(keys, 0)


@pytest.mark.django_db
def test_unknown_names_and_bad_arguments(sars_cov_2_reference: int, shared_data: Path) -> None:
    import_lineages(REF, lineages_tsv=shared_data / "sars-cov-2/lineages/lineages_test.tsv")
    assert descendants(sars_cov_2_reference, ["ZZ.9"]) == {"ZZ.9"}
    with pytest.raises(NotFoundError, match=r"unknown lineage\(s\): ZZ.9"):
        descendants(sars_cov_2_reference, ["ZZ.9"], strict=True)
    with pytest.raises(EmgsonarError, match="either a lineage TSV or Pango"):
        import_lineages(REF)
    with pytest.raises(NotFoundError, match=r"unknown reference 'NOPE\.1'"):
        import_lineages("NOPE.1", lineages_tsv=shared_data / "sars-cov-2/lineages/x.tsv")
