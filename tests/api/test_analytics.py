"""``/api/analytics/`` on real data: the 1000 German SARS-CoV-2 genomes of 2024 (SARS-CoV-2_1000)
imported through the pipeline steps, with the Pango alias table and lineage notes.

Expected values are derived without the database: counts, covered spans, N runs and unknown
residues from the calls TSV of ``python -m analyses.calling`` (the calling core alone, run as a
subprocess on the input FASTA; its labels parsed here by regular expressions), dates and
lineages from the metadata TSV (``csv``), lineage groups by unaliasing names with
``alias_key.json`` (``json``), and the bases at an amplicon dropout from the FASTA itself through
``tests.helpers.oracle`` (Biopython's aligner, not minimap2).
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import lzma
import re
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from Bio import SeqIO
from django.db import transaction
from django.test import Client

from analyses.services.lineages import import_lineages
from analyses.services.references import import_reference
from tests.conftest import REPO_ROOT, SHARED_DATA
from tests.helpers import oracle
from tests.helpers.load import load_dataset

SC2 = "MN908947.3"
GENBANK = SHARED_DATA / "sars-cov-2/MN908947.nextclade.gb"
FASTA = SHARED_DATA / "sars-cov-2/SARS-CoV-2_1000.fasta.xz"
METADATA = SHARED_DATA / "sars-cov-2/SARS-CoV-2_1000.tsv.xz"
ALIAS_KEY = SHARED_DATA / "peers/pango/alias_key.json"
NOTES = SHARED_DATA / "peers/pango/lineage_notes.txt"
COLS = {
    "name": "igs_id",
    "collection_date": "date_of_sampling",
    "sequencing_tech": "sequencing_platform",
    "lineage": "lineages",
    "data_set": "data_set",
}
BASE = "/api/analytics/"


# --- the independent side: calls TSV, metadata TSV, alias table ------------------------------
Span = tuple[int, int]  # 0-based half-open


@dataclass
class Called:
    """One genome as the calling core's TSV describes it."""

    aligned: bool
    replicon: str = ""
    covered: Span = (0, 0)
    missing: list[Span] = field(default_factory=list)
    nt: dict[str, tuple[str, Span]] = field(default_factory=dict)  # label → (kind, span)
    aa: dict[str, tuple[str, str, Span]] = field(default_factory=dict)  # label → (kind, cds, span)
    unknown_aa: dict[str, list[Span]] = field(default_factory=dict)

    def nt_data(self, span: Span) -> bool:
        """Data over the whole span: inside the covered range, no missing range overlapping."""
        lo, hi = span
        return (
            self.aligned
            and self.covered[0] <= lo
            and hi <= self.covered[1]
            and not any(a < hi and lo < b for a, b in self.missing)
        )

    def aa_data(self, cds: str, span: Span) -> bool:
        lo, hi = span
        return self.aligned and not any(a < hi and lo < b for a, b in self.unknown_aa.get(cds, []))


def _ranges(text: str) -> list[Span]:
    """``1-54,21981-21989`` (1-based inclusive) → 0-based half-open spans."""
    spans = []
    for item in filter(None, text.split(",")):
        a, _, b = item.partition("-")
        spans.append((int(a) - 1, int(b or a)))
    return spans


def _nt(label: str) -> tuple[str, Span]:
    if m := re.fullmatch(r"del:(\d+)(?:-(\d+))?", label):
        return "del", (int(m[1]) - 1, int(m[2] or m[1]))
    if label.startswith(".0."):  # inserted before base 1: judged at base 1
        return "ins", (0, 1)
    if m := re.fullmatch(r"([A-Z])(\d+)([A-Z]{2,})", label):
        return "ins", (int(m[2]) - 1, int(m[2]))
    m = re.fullmatch(r"([A-Z])(\d+)([A-Z])", label)
    assert m, label
    return "sub", (int(m[2]) - 1, int(m[2]))


def _aa(label: str) -> tuple[str, str, Span]:
    cds, _, rest = label.partition(":")
    if m := re.fullmatch(r"del:(\d+)(?:-(\d+))?", rest):
        return "del", cds, (int(m[1]) - 1, int(m[2] or m[1]))
    m = re.fullmatch(r"([A-Z*])(\d+)([A-Z*]+)", rest)
    assert m, label
    return ("ins" if len(m[3]) > 1 else "sub"), cds, (int(m[2]) - 1, int(m[2]))


def read_calls(tsv: Path) -> dict[str, Called]:
    result = {}
    with tsv.open() as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            covered = _ranges(row["covered"])
            called = Called(
                aligned=bool(row["replicon"]) and bool(covered), replicon=row["replicon"]
            )
            if called.aligned:
                called.covered = (covered[0][0], covered[-1][1])
                called.missing = _ranges(row["missing"])
            for column in ("substitutions", "ambiguous", "deletions", "insertions"):
                for label in filter(None, row[column].split(",")):
                    # a multi-replicon reference prefixes the replicon; the API names it apart
                    label = label.removeprefix(f"{row['replicon']}:")
                    called.nt[label] = _nt(label)
            for column in ("aa_substitutions", "aa_deletions", "aa_insertions"):
                for label in filter(None, row[column].split(",")):
                    called.aa[label] = _aa(label)
            for item in filter(None, row["unknown_aa"].split(",")):
                cds, _, span = item.partition(":")
                called.unknown_aa.setdefault(cds, []).extend(_ranges(span))
            result[row["name"]] = called
    return result


def read_metadata() -> dict[str, dict[str, str]]:
    with lzma.open(METADATA, "rt") as handle:
        return {row["igs_id"]: row for row in csv.DictReader(handle, delimiter="\t")}


def _date(row: dict[str, str]) -> dt.date | None:
    text = row["date_of_sampling"][:10]
    return dt.date.fromisoformat(text) if text else None


@dataclass(frozen=True)
class Truth:
    calls: dict[str, Called]
    metadata: dict[str, dict[str, str]]


# --- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def truth(tmp_path_factory) -> Truth:
    out = tmp_path_factory.mktemp("calls") / "calls.tsv"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "analyses.calling",
            "--genbank",
            str(GENBANK),
            "--fasta",
            str(FASTA),
            "--jobs",
            "1",
            "--out",
            str(out),
        ],
        check=True,
        cwd=REPO_ROOT,
        capture_output=True,
    )
    return Truth(read_calls(out), read_metadata())


@pytest.fixture(scope="module")
def sc2_1000(django_db_setup, django_db_blocker) -> Iterator[None]:
    """SARS-CoV-2_1000 with its metadata and the Pango lineages, in one transaction rolled back
    after the module (each test's own transaction is a savepoint inside it)."""
    with django_db_blocker.unblock(), transaction.atomic():
        import_reference([GENBANK])
        import_lineages(SC2, alias_key=ALIAS_KEY, notes=NOTES)
        load_dataset(SC2, FASTA, METADATA, COLS, chunk_size=250)
        yield
        transaction.set_rollback(True)


@pytest.fixture
def api(sc2_1000, db, client: Client) -> Client:
    return client


def get(client: Client, path: str, **params) -> dict:
    if isinstance(params.get("filters"), dict):
        params["filters"] = json.dumps(params["filters"])
    response = client.get(BASE + path, {"reference": SC2, **params})
    assert response.status_code == 200, response.json()
    return response.json()


LINEAGE_XEC = {"andFilter": [{"label": "Lineages", "lineageList": ["XEC"]}]}


def _selected(truth: Truth, names: set[str] | None) -> dict[str, Called]:
    return {n: c for n, c in truth.calls.items() if names is None or n in names}


def expected_nt(truth: Truth, names: set[str] | None, kinds: set[str], min_p: float) -> dict:
    chosen = _selected(truth, names)
    carriers: Counter[str] = Counter()
    spans = {}
    for called in chosen.values():
        for label, (kind, span) in called.nt.items():
            if kind in kinds:
                carriers[label] += 1
                spans[label] = span
    result = {}
    for label, n in carriers.items():
        coverage = sum(c.nt_data(spans[label]) for c in chosen.values())
        if n >= min_p * coverage:
            result[label] = (n, coverage)
    return result


def expected_aa(truth: Truth, names: set[str] | None, kinds: set[str], min_p: float) -> dict:
    chosen = _selected(truth, names)
    carriers: Counter[str] = Counter()
    where = {}
    for called in chosen.values():
        for label, (kind, cds, span) in called.aa.items():
            if kind in kinds:
                carriers[label] += 1
                where[label] = (cds, span)
    result = {}
    for label, n in carriers.items():
        coverage = sum(c.aa_data(*where[label]) for c in chosen.values())
        if n >= min_p * coverage:
            result[label] = (n, coverage)
    return result


def answered(rows: list[dict]) -> dict:
    for row in rows:
        assert row["proportion"] == pytest.approx(row["count"] / row["coverage"], abs=1e-6)
    return {row["mutation"]: (row["count"], row["coverage"]) for row in rows}


def xec_names(truth: Truth) -> set[str]:
    """Samples whose lineage is XEC or descends from it (XEC.1, …), by name."""
    return {n for n, row in truth.metadata.items() if re.fullmatch(r"XEC(\.\d+)*", row["lineages"])}


# --- frequencies -----------------------------------------------------------------------------
def test_nucleotide_frequencies_match_the_calls_tsv(api, truth):
    """Every substitution and deletion with count, coverage and proportion, for all samples at
    the default 5 % and for XEC at 0 (every mutation)."""
    body = get(api, "nucleotide_mutations/")
    assert body["filtered_samples"] == len(truth.calls) == 1000
    assert body["min_proportion"] == 0.05
    expected = expected_nt(truth, None, {"sub", "del"}, 0.05)
    assert len(expected) > 100
    assert answered(body["mutations"]) == expected
    counts = [row["count"] for row in body["mutations"]]
    assert counts == sorted(counts, reverse=True)

    body = get(api, "nucleotide_mutations/", filters=LINEAGE_XEC, min_proportion=0)
    names = xec_names(truth)
    assert body["filtered_samples"] == len(names) >= 300
    assert answered(body["mutations"]) == expected_nt(truth, names, {"sub", "del"}, 0)


def test_amino_acid_frequencies_match_the_calls_tsv(api, truth):
    body = get(api, "amino_acid_mutations/", min_proportion=0.01)
    expected = expected_aa(truth, None, {"sub", "del"}, 0.01)
    assert len(expected) > 100
    assert answered(body["mutations"]) == expected
    spike = get(api, "amino_acid_mutations/", gene="S", min_proportion=0.01, ordering="position")
    assert answered(spike["mutations"]) == {k: v for k, v in expected.items() if k.startswith("S:")}
    positions = [row["position"] for row in spike["mutations"]]
    assert positions == sorted(positions) and {r["cds"] for r in spike["mutations"]} == {"S"}


def test_insertions_match_the_calls_tsv(api, truth):
    nt = get(api, "insertions/", min_proportion=0)
    assert answered(nt["insertions"]) == expected_nt(truth, None, {"ins"}, 0)
    assert nt["insertions"] and {r["kind"] for r in nt["insertions"]} == {"ins"}
    aa = get(api, "insertions/", level="aa", min_proportion=0)
    assert answered(aa["insertions"]) == expected_aa(truth, None, {"ins"}, 0)


def _dropout(calls: dict[str, Called]) -> tuple[str, Span, int]:
    """A common substitution whose position lies in an N run of some genomes (an amplicon that
    dropped out): label, span and the number of genomes without data there."""
    carriers = Counter(
        label for c in calls.values() for label, (k, _) in c.nt.items() if k == "sub"
    )
    best = None
    for label, _n in carriers.most_common(200):
        span = next(c.nt[label][1] for c in calls.values() if label in c.nt)
        in_n_run = sum(
            c.aligned and any(a <= span[0] < b for a, b in c.missing) for c in calls.values()
        )
        if in_n_run and (best is None or in_n_run > best[2]):
            best = (label, span, in_n_run)
    assert best is not None
    return best


#: genomes of the amplicon-dropout test (the first of the FASTA; Biopython aligns each)
DROPOUT_GENOMES = 300


def test_an_amplicon_dropout_lowers_coverage_not_the_proportion(api, truth):
    """Genomes with N over a site are left out of its denominator: the proportion is among
    genomes with data there. Which genomes have data is recounted from the FASTA text (the base
    each genome has there, by Biopython's aligner), on the first 300 genomes (a Sample filter)."""
    with lzma.open(FASTA, "rt") as handle:
        records = list(itertools.islice(SeqIO.parse(handle, "fasta"), DROPOUT_GENOMES))
    names = [r.id for r in records]
    label, (start, _), in_n_run = _dropout({n: truth.calls[n] for n in names})
    only = {"andFilter": [{"label": "Sample", "value": names}]}
    body = get(api, "nucleotide_mutations/", filters=only)
    assert body["filtered_samples"] == DROPOUT_GENOMES
    row = next(r for r in body["mutations"] if r["mutation"] == label)
    assert in_n_run >= 3
    assert row["coverage"] <= DROPOUT_GENOMES - in_n_run
    assert row["proportion"] > row["count"] / DROPOUT_GENOMES

    ref = oracle.read_reference(GENBANK)
    bases = [oracle.base_at(ref, str(r.seq), start + 1) for r in records]
    assert row["coverage"] == sum(b is not None and b not in "N-" for b in bases)
    assert row["count"] == sum(b == label[-1] for b in bases)


def test_replicon_restriction_ordering_and_limit(api, truth):
    expected = expected_nt(truth, None, {"sub", "del"}, 0.05)
    body = get(api, "nucleotide_mutations/", replicon=SC2, ordering="-proportion", limit=5)
    rows = body["mutations"]
    assert len(rows) == 5 and {r["replicon"] for r in rows} == {SC2}
    top = sorted(expected.values(), key=lambda v: -v[0] / v[1])[:5]
    assert [r["count"] / r["coverage"] for r in rows] == pytest.approx([n / c for n, c in top])


def test_a_filter_matching_nothing_answers_empty_lists(api):
    body = get(
        api,
        "nucleotide_mutations/",
        filters={"andFilter": [{"label": "SNP Nt", "value": "A1C"}]},
    )
    assert body["filtered_samples"] == 0 and body["mutations"] == []


# --- over time -------------------------------------------------------------------------------
def _bins_of(truth: Truth, names: set[str] | None, key) -> dict[object, set[str]]:
    bins: dict[object, set[str]] = defaultdict(set)
    for name, row in truth.metadata.items():
        day = _date(row)
        if day is not None and (names is None or name in names):
            bins[key(day)].add(name)
    return bins


def test_mutations_over_time_per_week(api, truth):
    labels = ["S:F456L", "S:L455S", "A23403G", "S:T572I"]
    body = get(api, "mutations_over_time/", mutations=",".join(labels), bin="week")
    bins = _bins_of(truth, None, lambda d: "{}-W{:02}".format(*d.isocalendar()[:2]))
    names = [b["name"] for b in body["bins"]]
    assert set(bins) <= set(names) and names[0] == min(bins) and names[-1] == max(bins)
    for b in body["bins"]:
        start = dt.date.fromisoformat(b["start"])
        assert start.weekday() == 0 and b["end"] == (start + dt.timedelta(days=6)).isoformat()
    for series in body["mutations"]:
        label = series["mutation"]
        assert series["mutation"] in labels
        for i, week in enumerate(names):
            chosen = [truth.calls[n] for n in bins.get(week, ())]
            if ":" in label:
                _kind, cds, span = _aa(label)
                n = sum(label in c.aa for c in chosen)
                cov = sum(c.aa_data(cds, span) for c in chosen)
            else:
                n = sum(label in c.nt for c in chosen)
                cov = sum(c.nt_data(_nt(label)[1]) for c in chosen)
            assert (series["count"][i], series["coverage"][i]) == (n, cov), (label, week)
    assert sum(get_series(body, "S:F456L")["count"]) > 100


def get_series(body: dict, label: str) -> dict:
    return next(s for s in body["mutations"] if s["mutation"] == label)


def test_mutations_over_time_per_month_and_overlapping_ranges(api, truth):
    names = xec_names(truth)
    body = get(api, "mutations_over_time/", mutations="S:F456L", bin="month", filters=LINEAGE_XEC)
    months = _bins_of(truth, names, lambda d: f"{d.year}-{d.month:02}")
    series = get_series(body, "S:F456L")
    for i, b in enumerate(body["bins"]):
        chosen = [truth.calls[n] for n in months.get(b["name"], ())]
        assert series["count"][i] == sum("S:F456L" in c.aa for c in chosen)
        assert series["coverage"][i] == sum(c.aa_data("S", (455, 456)) for c in chosen)

    ranges = "2024-06-01/2024-09-30,2024-09-01/2024-12-31"
    body = get(api, "mutations_over_time/", mutations="del:11288-11296", date_ranges=ranges)
    assert [b["name"] for b in body["bins"]] == ranges.split(",")
    series = get_series(body, "del:11288-11296")
    for i, (lo, hi) in enumerate([("2024-06-01", "2024-09-30"), ("2024-09-01", "2024-12-31")]):
        chosen = [
            truth.calls[n]
            for n, row in truth.metadata.items()
            if _date(row) and lo <= _date(row).isoformat() <= hi
        ]
        assert series["count"][i] == sum("del:11288-11296" in c.nt for c in chosen)
        assert series["coverage"][i] == sum(c.nt_data((11287, 11296)) for c in chosen)


# --- aggregated and lineages -----------------------------------------------------------------
def _unalias(name: str, aliases: dict) -> str:
    head, _, rest = name.partition(".")
    expansion = aliases.get(head)
    if isinstance(expansion, str) and expansion:
        return f"{expansion}.{rest}" if rest else expansion
    return name


def _under(lineage: str, group: str, aliases: dict) -> bool:
    """Whether ``lineage`` is ``group`` or descends from it, recombinant parents included."""
    full, root = _unalias(lineage, aliases), _unalias(group, aliases)
    if full == root or full.startswith(root + "."):
        return True
    parents = aliases.get(full.split(".")[0])
    return isinstance(parents, list) and any(_under(p.rstrip("*"), group, aliases) for p in parents)


def test_aggregated_by_week_and_lineage(api, truth):
    body = get(api, "aggregated/", fields="collection_week,lineage", limit=10)
    expected = Counter(
        (
            "{}-W{:02}".format(*_date(r).isocalendar()[:2]) if _date(r) else None,
            r["lineages"] or None,
        )
        for r in truth.metadata.values()
    )
    assert body["fields"] == ["collection_week", "lineage"]
    assert body["filtered_samples"] == 1000

    def key(item):  # count descending, then the fields ascending, nulls last
        (week, lineage), n = item
        return (-n, week is None, week or "", lineage is None, lineage or "")

    top = sorted(expected.items(), key=key)[:10]
    assert [(r["collection_week"], r["lineage"], r["count"]) for r in body["rows"]] == [
        (w, lin, n) for (w, lin), n in top
    ]


def test_lineage_groups_follow_aliases_and_recombinants(api, truth):
    """``JN.1`` includes XEC (a recombinant of KS.1.1 and KP.3.3, both JN.1 descendants) and
    ``MC.*`` (KP.3.1.1 descendants); the most specific group wins."""
    aliases = json.loads(ALIAS_KEY.read_text())
    groups = ["JN.1", "KP.3", "XEC"]
    body = get(api, "aggregated/", fields="lineage_group", lineage_groups=",".join(groups))

    def group_of(lineage: str) -> str | None:
        if not lineage:
            return None
        for g in ("XEC", "KP.3", "JN.1"):  # the most specific first
            if _under(lineage, g, aliases):
                return g
        return "Other"

    expected = Counter(group_of(r["lineages"]) for r in truth.metadata.values())
    assert {r["lineage_group"]: r["count"] for r in body["rows"]} == dict(expected)
    assert expected["XEC"] >= 300 and expected["KP.3"] >= 400

    # the filter: JN.1 with sublineages counts XEC and KP.3 descendants too
    jn1 = {
        "andFilter": [{"label": "Lineages", "lineageList": ["JN.1*"], "includeSublineages": False}]
    }
    body = get(api, "aggregated/", fields="lineage", filters=jn1)
    assert body["filtered_samples"] == sum(
        _under(r["lineages"], "JN.1", aliases) for r in truth.metadata.values() if r["lineages"]
    )


def test_lineage_group_at_any_depth(api, truth):
    body = get(
        api, "aggregated/", fields="lineage_group", lineage_depth=3, ordering="lineage_group"
    )
    expected = Counter(
        ".".join(r["lineages"].split(".")[:3]) if r["lineages"] else None
        for r in truth.metadata.values()
    )
    assert {r["lineage_group"]: r["count"] for r in body["rows"]} == dict(expected)
    keys = [r["lineage_group"] for r in body["rows"] if r["lineage_group"] is not None]
    assert keys == sorted(keys)


# --- bad parameters --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "params", "status", "code", "words"),
    [
        ("nucleotide_mutations/", {"reference": ""}, 400, "invalid_filter", "need a reference"),
        ("nucleotide_mutations/", {"reference": "XX1"}, 404, "not_found", "XX1"),
        ("nucleotide_mutations/", {"replicon": "NC_1"}, 400, "invalid_filter", "MN908947.3"),
        ("nucleotide_mutations/", {"ordering": "size"}, 422, "validation_error", "ordering"),
        ("nucleotide_mutations/", {"min_proportion": "2"}, 422, "validation_error", "min_prop"),
        ("amino_acid_mutations/", {"gene": "Spike"}, 400, "bad_mutation", "ORF1a"),
        ("insertions/", {"level": "aa", "replicon": SC2}, 400, "invalid_filter", "gene, not"),
        ("mutations_over_time/", {"mutations": "Spike:F456L"}, 400, "bad_mutation", "Spike"),
        ("mutations_over_time/", {"mutations": "S:F456x"}, 400, "bad_mutation", "no call"),
        (
            "mutations_over_time/",
            {"mutations": "S:F456L", "bin": "ranges"},
            400,
            "invalid_filter",
            "date_ranges",
        ),
        (
            "mutations_over_time/",
            {"mutations": "S:F456L", "date_ranges": "2024-05-01"},
            400,
            "invalid_filter",
            "start/end",
        ),
        (
            "mutations_over_time/",
            {"mutations": "S:F456L", "date_ranges": "2024-05-01/2024-04-01"},
            400,
            "invalid_filter",
            "ends before",
        ),
        (
            "mutations_over_time/",
            {"mutations": "S:F456L", "date_ranges": "1/5/2024/2024-06-01"},
            400,
            "invalid_filter",
            "YYYY-MM-DD",
        ),
        ("mutations_over_time/", {"mutations": " , "}, 400, "invalid_filter", "no mutation"),
        (
            "mutations_over_time/",
            {"mutations": "del:1-2000000"},
            400,
            "invalid_filter",
            "more than 1000000",
        ),
        (
            "mutations_over_time/",
            {"mutations": "S:F456L", "bin": "month", "date_ranges": "2024-05-01/2024-06-01"},
            400,
            "invalid_filter",
            "exclude each other",
        ),
        (
            "aggregated/",
            {"fields": "lineage", "lineage_groups": "JN.1"},
            400,
            "invalid_filter",
            "needs the field lineage_group",
        ),
        ("aggregated/", {"fields": "country,nonsense"}, 400, "invalid_filter", "nonsense"),
        ("aggregated/", {"fields": "country,country"}, 400, "invalid_filter", "twice"),
        (
            "aggregated/",
            {"fields": "country", "ordering": "lab"},
            400,
            "invalid_filter",
            "order by",
        ),
        (
            "aggregated/",
            {"fields": "lineage_group", "lineage_groups": "QQ.9"},
            400,
            "unknown_lineage",
            "QQ.9",
        ),
        ("aggregated/", {"fields": "lineage", "filters": "{"}, 400, "invalid_filter", "JSON"),
    ],
)
def test_bad_parameters_are_named(api, path, params, status, code, words):
    response = api.get(BASE + path, {"reference": SC2, **params})
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code and words in body["detail"], body


# --- a segmented reference -------------------------------------------------------------------
FLU = "NC_026438.1"
FLU_DIR = SHARED_DATA / "influenza/influenza-A/H1N1PDM_California"
FLU_TSV = FLU_DIR / "H1N1PDM.sequences.tsv"
FLU_FASTA = FLU_DIR / "H1N1.sequences.fasta.xz"


@pytest.fixture(scope="module")
def flu_calls(tmp_path_factory) -> dict[str, Called]:
    out = tmp_path_factory.mktemp("flu") / "calls.tsv"
    segments = sorted(FLU_DIR.glob("segment_*.gb"), key=lambda p: int(p.name.split("_")[1]))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "analyses.calling",
            "--genbank",
            *map(str, segments),
            "--fasta",
            str(FLU_FASTA),
            "--out",
            str(out),
        ],
        check=True,
        cwd=REPO_ROOT,
        capture_output=True,
    )
    return read_calls(out)


@pytest.fixture
def flu(influenza_h1n1_reference, db) -> dict[str, list[str]]:
    """The 18 H1N1 samples (one to eight segment records each): sample → record names."""
    cols = {"name": "name", "sequences": "sequences", "collection_date": "date"}
    load_dataset(FLU, FLU_FASTA, FLU_TSV, cols)
    with FLU_TSV.open() as handle:
        return {r["name"]: r["sequences"].split() for r in csv.DictReader(handle, delimiter="\t")}


def test_a_segmented_reference_counts_coverage_per_segment(client, flu, flu_calls):
    """Coverage per segment: a sample without a record of that segment has no data there (most
    samples here are one HA record); ``replicon=`` restricts to one segment."""
    expected: dict[tuple[str, str], tuple[int, int]] = {}
    for replicon in {c.replicon for c in flu_calls.values() if c.replicon}:
        per_sample = {
            name: [flu_calls[r] for r in records if flu_calls[r].replicon == replicon]
            for name, records in flu.items()
        }
        labels = {
            (label, span)
            for calls in per_sample.values()
            for c in calls
            for label, (kind, span) in c.nt.items()
            if kind in ("sub", "del")
        }
        for label, span in labels:
            n = sum(any(label in c.nt for c in calls) for calls in per_sample.values())
            cov = sum(any(c.nt_data(span) for c in calls) for calls in per_sample.values())
            expected[(replicon, label)] = (n, cov)
    response = client.get(BASE + "nucleotide_mutations/", {"reference": FLU, "min_proportion": 0})
    body = response.json()
    assert body["filtered_samples"] == len(flu) == 18
    got = {(r["replicon"], r["mutation"]): (r["count"], r["coverage"]) for r in body["mutations"]}
    assert got == expected
    ha = "CY121680.1"
    assert max(cov for (rep, _), (_, cov) in expected.items() if rep != ha) < 10
    only = client.get(
        BASE + "nucleotide_mutations/", {"reference": FLU, "min_proportion": 0, "replicon": ha}
    ).json()["mutations"]
    assert {(r["replicon"], r["mutation"]) for r in only} == {k for k in expected if k[0] == ha}
