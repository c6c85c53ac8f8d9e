# ruff: noqa: E501 (tables of queries and their filter JSON, one case a line)
"""The query language (ena_like/filters/query_language.py): the parser alone, then on real data.

Parser tests check the filter JSON a query becomes (precedence, parentheses, negation pushed
down, comparisons, lineages with ``*``, N-of, MAYBE, insertion patterns) and that every syntax
error names the column of the offending character and draws a caret under it.

Real-data tests load SARS-CoV-2_12 through the pipeline steps and check, for each query, that
the samples ``query=`` answers equal those of a hand-written sonar filter JSON *and* a set
computed here from the input FASTA (``tests.helpers.oracle``: Biopython alignments, not the
calling engine) and metadata TSV (read with csv). MAYBE is checked against the genomes' N runs
and unsequenced ends, found in the FASTA.
"""

import csv
import json
import lzma
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from Bio import SeqIO
from Bio.Seq import Seq
from django.test import Client

from analyses.services.lineages import import_lineages
from ena_like.filters.query_language import QuerySyntaxError, parse_query, query_to_filters
from ena_like.services.properties import add_property
from tests.conftest import SHARED_DATA
from tests.helpers import oracle
from tests.helpers.load import load_dataset

SC2 = "MN908947.3"
LINEAGE_TREE = SHARED_DATA / "sars-cov-2/lineages/lineages_test.tsv"


def mutation(value: str, **extra) -> dict:
    return {"label": "DNA/AA Profile", "value": value, **extra}


def prop(name: str, filter_type: str, value: str, **extra) -> dict:
    return {
        "label": "Property",
        "property_name": name,
        "filter_type": filter_type,
        "value": value,
        **extra,
    }


# --- the parser --------------------------------------------------------------------------------
def test_the_issues_query_becomes_the_filter_json():
    text = "S:N501Y & (S:E484K | !lineage=BA.2*) & country=Germany & collection_date>=2024-06-01"
    assert query_to_filters(text) == {
        "andFilter": [
            mutation("S:N501Y"),
            {
                "orFilter": [
                    mutation("S:E484K"),
                    {
                        "label": "Lineages",
                        "lineageList": ["BA.2"],
                        "includeSublineages": True,
                        "exclude": True,
                    },
                ]
            },
            prop("country", "exact", "Germany"),
            prop("collection_date", "gte", "2024-06-01"),
        ]
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # & binds tighter than |, ! tighter than &
        ("A1G | C2T & G3A", {"orFilter": [mutation("A1G"), {"andFilter": [mutation("C2T"), mutation("G3A")]}]}),
        ("A1G & C2T | G3A", {"orFilter": [{"andFilter": [mutation("A1G"), mutation("C2T")]}, mutation("G3A")]}),
        ("!A1G & C2T", {"andFilter": [mutation("A1G", exclude=True), mutation("C2T")]}),
        ("(A1G | C2T) & G3A", {"andFilter": [{"orFilter": [mutation("A1G"), mutation("C2T")]}, mutation("G3A")]}),
        ("A1G | C2T | G3A", {"orFilter": [mutation("A1G"), mutation("C2T"), mutation("G3A")]}),
        ("((A1G))", mutation("A1G")),
        # negation of a group: De Morgan, down to the conditions; double negation cancels
        ("!(A1G | C2T)", {"andFilter": [mutation("A1G", exclude=True), mutation("C2T", exclude=True)]}),
        ("!(A1G & !C2T)", {"orFilter": [mutation("A1G", exclude=True), mutation("C2T")]}),
        ("!!A1G", mutation("A1G")),
        ("!(A1G & (C2T | G3A))", {"orFilter": [mutation("A1G", exclude=True), {"andFilter": [mutation("C2T", exclude=True), mutation("G3A", exclude=True)]}]}),
        # mutation kinds as the JSON takes them, whitespace anywhere
        ("  del:21765-21770&S:del:69-70  ", {"andFilter": [mutation("del:21765-21770"), mutation("S:del:69-70")]}),
        ("T22204TGAGCCAGAA", mutation("T22204TGAGCCAGAA")),
        ("ORF1a:del:3675-3677", mutation("ORF1a:del:3675-3677")),
        ("NC_026433.1:HA:K145N", mutation("NC_026433.1:HA:K145N")),
        ("del:28271*fs", mutation("del:28271*fs")),
        # comparisons: dates, numbers, text, quoted text, regex, !=
        ("collection_date<2022-01-01", prop("collection_date", "lt", "2022-01-01")),
        ("collection_date <= 2022-01-01", prop("collection_date", "lte", "2022-01-01")),
        ("age>80", prop("age", "gt", "80")),
        ("length>=29000", prop("length", "gte", "29000")),
        ("qc_score>0.5", prop("qc_score", "gt", "0.5")),
        ('country="United Kingdom"', prop("country", "exact", "United Kingdom")),
        ("lab='DEMIS SL'", prop("lab", "exact", "DEMIS SL")),
        ("lab~^DEMIS-SL-1015", prop("lab", "regex", "^DEMIS-SL-1015")),
        ("country!=Germany", prop("country", "exact", "Germany", exclude=True)),
        ("!country!=Germany", prop("country", "exact", "Germany")),
        # lineages: exact, or with sublineages
        ("lineage=BA.2", {"label": "Lineages", "lineageList": ["BA.2"], "includeSublineages": False}),
        ("lineage=BA.2*", {"label": "Lineages", "lineageList": ["BA.2"], "includeSublineages": True}),
        ("lineage=BA.2.*", {"label": "Lineages", "lineageList": ["BA.2"], "includeSublineages": True}),
        ("lineage!=XBB*", {"label": "Lineages", "lineageList": ["XBB"], "includeSublineages": True, "exclude": True}),
        # N-of: at least or exactly, of any expressions; negated as a whole
        ("[2-of: S:F456L, S:L455S, S:Q493E]", {"label": "N-of", "n": 2, "exactly": False, "items": [mutation("S:F456L"), mutation("S:L455S"), mutation("S:Q493E")]}),
        ("[exactly-1-of: A1G, C2T & G3A]", {"label": "N-of", "n": 1, "exactly": True, "items": [mutation("A1G"), {"andFilter": [mutation("C2T"), mutation("G3A")]}]}),
        ("[EXACTLY-0-OF: A1G]", {"label": "N-of", "n": 0, "exactly": True, "items": [mutation("A1G")]}),
        ("![1-of: A1G, C2T]", {"label": "N-of", "n": 1, "exactly": False, "items": [mutation("A1G"), mutation("C2T")], "exclude": True}),
        ("[1-of: [1-of: A1G], lineage=BA.1]", {"label": "N-of", "n": 1, "exactly": False, "items": [{"label": "N-of", "n": 1, "exactly": False, "items": [mutation("A1G")]}, {"label": "Lineages", "lineageList": ["BA.1"], "includeSublineages": False}]}),
        # MAYBE and insertion patterns
        ("MAYBE(S:F456L)", {"label": "Maybe", "value": "S:F456L"}),
        ("maybe ( C241T ) & !MAYBE(del:21765-21770)", {"andFilter": [{"label": "Maybe", "value": "C241T"}, {"label": "Maybe", "value": "del:21765-21770", "exclude": True}]}),
        ("ins_22204:?GAG?", {"label": "Insertion pattern", "value": "ins_22204:?GAG?"}),
        ("ins_S:214:EPE | !ins_22204:gagccagaa", {"orFilter": [{"label": "Insertion pattern", "value": "ins_S:214:EPE"}, {"label": "Insertion pattern", "value": "ins_22204:gagccagaa", "exclude": True}]}),
        ("", {}),
        ("   ", {}),
    ],
)  # fmt: skip
def test_queries_become_filter_json(text, expected):
    assert query_to_filters(text) == expected
    # and the JSON is what the filter engine reads (every label and key taken)
    parse_query(text)


def error_of(text: str) -> QuerySyntaxError:
    with pytest.raises(QuerySyntaxError) as caught:
        query_to_filters(text)
    return caught.value


#: (query, the text the error must point at — its last occurrence —, words of the message)
BAD = [
    ("S:N501Y & )", ")", "unexpected ')'"),
    ("S:N501Y & (C241T", None, "ends early"),  # points after the end
    ("S:N501Y &", None, "ends early"),
    ("S:N501Y C241T", "C241T", "unexpected 'C241T'"),
    ("S:N501Y # C241T", "#", "unexpected character '#'"),
    ("(S:N501Y))", ")", "unexpected ')'"),
    ("[S:N501Y]", "S:N501Y", "2-of:"),
    ("[2-of S:N501Y]", "2-of", "2-of:"),
    ("[2-of: S:N501Y C241T]", "C241T", "unexpected 'C241T'"),
    ("MAYBE(S:N501Y & C241T)", "&", "unexpected '&'"),
    ("MAYBE(ins_22204:GAG)", "ins_", "insertion pattern"),
    ("S:N501Y & S:N501", "S:N501", "'S:N501' is no mutation"),
    ("A23403G & Germany", "Germany", "'Germany' is no mutation"),
    ("country=Germany & ins_22204-GAG", "ins_", "bad insertion pattern"),
    ("ins_22204:GAG!", "!", "unexpected '!'"),
    ("collection_date>=2024-13-01", "2024-13-01", "not a valid date"),
    ("A1G & collection_date>=yesterday", "yesterday", "not a date"),
    ("length>long", "long", "integer"),
    ("S:N501Y=1", "S:N501Y", "no field name"),
    ("lineage>=BA.2", ">=", "lineage compares with = or !="),
    ("lineage=*", "*", "bad lineage"),
    ("lab~(", "(", "unexpected '('"),
    ("lab~'['", "'['", "invalid regular expression"),
    ("country = 'Ger", "'", "unexpected character"),
    ("country==Germany", "=Germany", "unexpected '='"),
]


@pytest.mark.parametrize(("text", "at", "words"), BAD, ids=[b[0] for b in BAD])
def test_errors_point_at_the_character(text, at, words):
    error = error_of(text)
    column = (text.rindex(at) if at is not None else len(text.rstrip())) + 1
    assert error.column == column, str(error)
    detail = str(error)
    head, line, caret = detail.split("\n")
    assert head.startswith(f"query, column {column}: "), detail
    assert words in head, detail
    assert line == "  " + text
    assert caret == "  " + " " * (column - 1) + "^"
    assert error.code == "invalid_query"
    assert error.hint


def test_errors_in_a_multi_line_query_name_the_line():
    error = error_of("S:N501Y &\n  (C241T |\n   lineage=BA.2* ))")
    head, line, caret = str(error).split("\n")
    assert head.startswith("query, line 3, column 19: unexpected ')'")
    assert line == "     lineage=BA.2* ))"
    assert caret == "  " + " " * 18 + "^"


# --- through the API, on a small dataset -------------------------------------------------------
URL = "/api/samples/filtered_statistics/"


@pytest.mark.django_db
def test_query_errors_are_400_with_code_column_and_caret(client, synthetic):
    response = client.get(URL, {"reference": SC2, "query": "S:N501Y & (C241T | )"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_query"
    assert body["detail"] == (
        "query, column 20: unexpected ')'; expected '!' or '(' or 'MAYBE(' or '[' or a "
        "mutation, field or value. A query is e.g. S:N501Y & (S:E484K | !lineage=BA.2*) & "
        "country=Germany; see docs/api.md, Query language.\n"
        "  S:N501Y & (C241T | )\n"
        "                     ^"
    )
    # names the database knows are checked by the filter engine, with its codes and messages,
    # prefixed with the column of the name
    for query, at, code, words in [
        ("A23403G | Spike:L452R", "Spike", "bad_mutation", "'Spike:L452R': unknown gene 'Spike'"),
        ("C241T & lineage=QQ.1*", "QQ.1", "unknown_lineage", "unknown lineage 'QQ.1'"),
        ("C241T & (colour=red)", "colour", "unknown_property", "unknown property 'colour'"),
        ("ins_Q:5:A", "ins_Q", "bad_mutation", "'ins_Q:5:A': 'Q' is no replicon nor gene"),
        ("MAYBE(T22204TGAG)", "T22204", "bad_mutation", "MAYBE takes a substitution"),
    ]:
        response = client.get(URL, {"reference": SC2, "query": query})
        assert (response.status_code, response.json()["code"]) == (400, code), query
        detail = response.json()["detail"]
        assert detail.startswith(f"query, column {query.index(at) + 1}: {words}"), detail
    response = client.get(URL, {"reference": SC2, "query": "C241T &\n lineage=QQ.1"})
    assert response.json()["detail"].startswith("query, line 2, column 10: unknown lineage 'QQ.1'")


@pytest.mark.django_db
def test_filters_and_query_together_is_a_400_naming_both(client, synthetic):
    filters = json.dumps({"andFilter": [mutation("A23403G")]})
    for url in (
        URL,
        "/api/samples/genomes/",
        "/api/samples/plot_samples_per_week/",
        "/api/sample_genomes/match/",
        "/api/analytics/nucleotide_mutations/",
    ):
        response = client.get(url, {"reference": SC2, "filters": filters, "query": "A23403G"})
        assert response.status_code == 400, url
        assert response.json()["detail"].startswith("both 'filters' and 'query' given"), url
    # an empty one is no filter at all
    response = client.get(URL, {"reference": SC2, "filters": "", "query": "A23403G"})
    assert response.json() == {"filtered_total_count": 3}
    response = client.get(URL, {"reference": SC2, "filters": filters, "query": " "})
    assert response.json() == {"filtered_total_count": 3}
    # a query needs a reference, as filters do
    response = client.get(URL, {"query": "A23403G"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("'query' needs a reference")


def body(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def names(client: Client, **params) -> set[str]:
    response = client.get("/api/samples/genomes/", {"reference": SC2, "limit": 1000, **params})
    assert response.status_code == 200, response.json()
    return {r["name"] for r in response.json()["results"]}


@pytest.mark.django_db
def test_every_endpoint_taking_filters_takes_query(client, synthetic):
    """The same answer for the query and its JSON on each endpoint that takes filters (the
    synthetic table: A23403G in S1, S2, S5; country DE in S1, S2, S6)."""
    text = "A23403G & country=DE"
    filters = json.dumps({"andFilter": [mutation("A23403G"), prop("country", "exact", "DE")]})
    for url, extra in [
        ("/api/samples/genomes/", {}),
        ("/api/samples/genomes/", {"csv_stream": "true", "columns": "name,country"}),
        ("/api/samples/filtered_statistics/", {}),
        ("/api/statistics/filtered_statistics/", {}),
        ("/api/samples/plot_metadata_coverage/", {}),
        ("/api/samples/plot_samples_per_week/", {}),
        ("/api/samples/plot_grouped_lineages_per_week/", {}),
        ("/api/samples/plot_custom/", {"property": "country"}),
        ("/api/samples/plot_custom_xy/", {"x_property": "country", "y_property": "lineage"}),
        ("/api/sample_genomes/match/", {}),
        ("/api/sample_genomes/match/", {"profile_filters": "A23403G"}),
        # the analytics read the same parameters (FilterParams hands the query on as filters)
        ("/api/analytics/nucleotide_mutations/", {"min_proportion": "0"}),
        ("/api/analytics/amino_acid_mutations/", {"min_proportion": "0"}),
        ("/api/analytics/insertions/", {}),
        ("/api/analytics/mutations_over_time/", {"mutations": "A23403G,C241T", "bin": "week"}),
        ("/api/analytics/aggregated/", {"fields": "country,lineage"}),
    ]:
        by_query = client.get(url, {"reference": SC2, "query": text, **extra})
        by_json = client.get(url, {"reference": SC2, "filters": filters, **extra})
        assert by_query.status_code == by_json.status_code == 200, (url, by_query.content)
        assert body(by_query) == body(by_json), url
    assert names(client, query=text) == {"S1", "S2"}
    # match ANDs its profile and parameter filters with the query
    response = client.get(
        "/api/sample_genomes/match/",
        {"reference": SC2, "query": "country=DE", "profile_filters": "C241T"},
    )
    assert {r["name"] for r in response.json()["results"]} == {"S1"}


@pytest.mark.django_db
def test_n_of_maybe_and_patterns_on_the_synthetic_table(client, synthetic):
    """Answers read off the table of tests/api/synthetic.py."""
    cases = {
        "[2-of: A23403G, C241T, del:21765-21770]": {"S1", "S5"},
        "[3-of: A23403G, C241T, del:21765-21770]": {"S1"},
        "[exactly-1-of: A23403G, C241T, del:21765-21770]": {"S2", "S4"},
        "[exactly-0-of: A23403G, C241T, del:21765-21770]": {"S3", "S6"},
        "[0-of: A23403G, C241T]": {"S1", "S2", "S3", "S4", "S5", "S6"},
        "[4-of: A23403G, C241T, del:21765-21770]": set(),
        "![2-of: A23403G, C241T, del:21765-21770]": {"S2", "S3", "S4", "S6"},
        "[2-of: A23403G, country=DE, C241T]": {"S1", "S2", "S5"},
        "[exactly-2-of: A23403G, country=DE, C241T]": {"S2", "S5"},
        # N at 10147-10149 in S6 (the only unknown range of the table)
        "MAYBE(G10147T)": {"S6"},
        "MAYBE(C241T)": {"S1", "S4", "S5"},
        "ins_22204:?GAG?": {"S2"},
        "ins_22204:GAGCCAGAA": {"S2"},
        "ins_22204:GAG": set(),
        "ins_22204:?": {"S2"},
        "ins_S:214:EPE": {"S2"},
        "ins_S:214:?P?": {"S2"},
        "!ins_22204:?GAG?": {"S1", "S3", "S4", "S5", "S6"},
    }
    for text, expected in cases.items():
        assert names(client, query=text) == expected, text


# --- real data: query = filter JSON = what the input says --------------------------------------
Genome = str
Row = dict[str, str]
#: whether a sample qualifies, judged from its genome (oracle) and metadata row (csv)
Carrier = Callable[[oracle.Reference, Genome, Row], bool]


@pytest.fixture
def sc2_12(sars_cov_2_reference, shared_data: Path) -> None:
    add_property("age", "integer")
    add_property("euro", "float")
    fasta = shared_data / "sars-cov-2/SARS-CoV-2_12.fasta.xz"
    load_dataset(SC2, fasta, shared_data / "sars-cov-2/SARS-CoV-2_12.tsv.xz")
    import_lineages(SC2, lineages_tsv=LINEAGE_TREE)


@pytest.fixture(scope="module")
def inputs(shared_data: Path) -> dict[str, tuple[oracle.Reference, Genome, Row]]:
    """Each sample of SARS-CoV-2_12 by name: (reference, genome, metadata row), read with
    Biopython and csv, not with our readers."""
    ref = oracle.read_reference(shared_data / "sars-cov-2/MN908947.nextclade.gb")
    with lzma.open(shared_data / "sars-cov-2/SARS-CoV-2_12.fasta.xz", "rt") as handle:
        genomes = {record.id: str(record.seq) for record in SeqIO.parse(handle, "fasta")}
    with lzma.open(shared_data / "sars-cov-2/SARS-CoV-2_12.tsv.xz", "rt") as handle:
        rows = {row["name"]: row for row in csv.DictReader(handle, delimiter="\t")}
    assert len(genomes) == len(rows) == 12
    return {name: (ref, genomes[name], rows[name]) for name in rows}


def descendants(roots: list[str]) -> set[str]:
    return oracle.tree_descendants(LINEAGE_TREE, roots)


def aa(gene: str, codon: int, alt: str) -> Carrier:
    return lambda ref, genome, row: oracle.residue(ref, genome, gene, codon) == alt


def nt(position: int, alt: str) -> Carrier:
    return lambda ref, genome, row: oracle.base_at(ref, genome, position) == alt


def deletion(first: int, last: int) -> Carrier:
    return lambda ref, genome, row: oracle.has_deletion(ref, genome, first, last)


def inserted_after(ref: oracle.Reference, genome: str, after: int) -> str:
    """The bases the genome has between reference positions ``after`` and ``after + 1``
    (1-based; '' for none), confirmed by the oracle's placement-independent test."""
    lo, hi = after - oracle.INDEL_FLANK + 1, after + oracle.INDEL_FLANK
    seg = oracle.genome_bases(ref, genome, lo, hi)
    extra = len(seg or "") - (hi - lo + 1)
    if seg is None or extra <= 0:
        return ""
    bases = seg[oracle.INDEL_FLANK : oracle.INDEL_FLANK + extra]
    return bases if oracle.has_insertion(ref, genome, after, bases) else ""


def lineage_in(names: set[str]) -> Carrier:
    return lambda ref, genome, row: row["lineage"] in names


def number(column: str, test: Callable[[float], bool]) -> Carrier:
    return lambda ref, genome, row: bool(row[column]) and test(float(row[column]))


def text(column: str, test: Callable[[str], bool]) -> Carrier:
    return lambda ref, genome, row: test(row[column])


def all_of(*carriers: Carrier) -> Carrier:
    return lambda *sample: all(c(*sample) for c in carriers)


def any_of(*carriers: Carrier) -> Carrier:
    return lambda *sample: any(c(*sample) for c in carriers)


def not_(carrier: Carrier) -> Carrier:
    return lambda *sample: not carrier(*sample)


def at_least(n: int, *carriers: Carrier, exactly: bool = False) -> Carrier:
    def check(*sample) -> bool:
        hits = sum(c(*sample) for c in carriers)
        return hits == n if exactly else hits >= n

    return check


def lineages(names: list[str], sub: bool = True, **extra) -> dict:
    return {"label": "Lineages", "lineageList": names, "includeSublineages": sub, **extra}


L452R, N501Y, E484A, S477N = (
    aa("S", 452, "R"),
    aa("S", 501, "Y"),
    aa("S", 484, "A"),
    aa("S", 477, "N"),
)
DEL_69_70 = deletion(21765, 21770)
BA2 = lineage_in(descendants(["BA.2"]))
BA1 = lineage_in(descendants(["BA.1"]))

#: (query, the same filter as sonar JSON, who qualifies according to the input)
EQUIVALENT: list[tuple[str, dict, Carrier]] = [
    (  # the issue's query, in the fields of this data set
        "S:N501Y & (S:E484A | !lineage=BA.2*) & sequencing_reason=N & collection_date>=2022-01-01",
        {
            "andFilter": [
                {"label": "SNP AA", "value": "S:N501Y"},
                {"orFilter": [mutation("S:E484A"), lineages(["BA.2"], exclude=True)]},
                prop("sequencing_reason", "exact", "N"),
                prop("collection_date", "gte", "2022-01-01"),
            ]
        },
        all_of(
            N501Y,
            any_of(E484A, not_(BA2)),
            text("sequencing_reason", lambda v: v == "N"),
            text("collection_date", lambda v: v >= "2022-01-01"),
        ),
    ),
    (
        "S:L452R | S:N501Y & lineage=BA.1*",
        {"orFilter": [mutation("S:L452R"), {"andFilter": [mutation("S:N501Y"), lineages(["BA.1"])]}]},
        any_of(L452R, all_of(N501Y, BA1)),
    ),
    (
        "(S:L452R | S:N501Y) & !lineage=BA.1",
        {"andFilter": [{"orFilter": [mutation("S:L452R"), mutation("S:N501Y")]}, lineages(["BA.1"], False, exclude=True)]},
        all_of(any_of(L452R, N501Y), not_(lineage_in({"BA.1"}))),
    ),
    (
        "!(S:N501Y | del:21765-21770)",
        {"andFilter": [mutation("S:N501Y", exclude=True), mutation("del:21765-21770", exclude=True)]},
        not_(any_of(N501Y, DEL_69_70)),
    ),
    (
        "!(S:N501Y & !S:del:69-70) & age>=50",
        {"andFilter": [{"orFilter": [mutation("S:N501Y", exclude=True), {"label": "Del AA", "value": "S:del:69-70"}]}, prop("age", "gte", 50)]},
        all_of(not_(all_of(N501Y, not_(DEL_69_70))), number("age", lambda v: v >= 50)),
    ),
    (  # at least 2 of 3: in sonar's JSON, the OR of the pairs
        "[2-of: S:L452R, S:N501Y, S:S477N]",
        {"orFilter": [{"andFilter": [mutation(a), mutation(b)]} for a, b in (("S:L452R", "S:N501Y"), ("S:L452R", "S:S477N"), ("S:N501Y", "S:S477N"))]},
        at_least(2, L452R, N501Y, S477N),
    ),
    (
        "[exactly-1-of: S:L452R, S:N501Y, del:21765-21770]",
        {"orFilter": [
            {"andFilter": [mutation("S:L452R"), mutation("S:N501Y", exclude=True), mutation("del:21765-21770", exclude=True)]},
            {"andFilter": [mutation("S:L452R", exclude=True), mutation("S:N501Y"), mutation("del:21765-21770", exclude=True)]},
            {"andFilter": [mutation("S:L452R", exclude=True), mutation("S:N501Y", exclude=True), mutation("del:21765-21770")]},
        ]},
        at_least(1, L452R, N501Y, DEL_69_70, exactly=True),
    ),
    (
        "[2-of: S:N501Y, lineage=BA.2*, euro<40] & !C241T",
        {"andFilter": [
            {"orFilter": [
                {"andFilter": [mutation("S:N501Y"), lineages(["BA.2"])]},
                {"andFilter": [mutation("S:N501Y"), prop("euro", "lt", 40)]},
                {"andFilter": [lineages(["BA.2"]), prop("euro", "lt", 40)]},
            ]},
            mutation("C241T", exclude=True),
        ]},
        all_of(at_least(2, N501Y, BA2, number("euro", lambda v: v < 40)), not_(nt(241, "T"))),
    ),
    (
        "zip_code='92637' | lab~'^DEMIS-SL-100' | collection_date<2022-01-01",
        {"orFilter": [prop("zip_code", "exact", "92637"), prop("lab", "regex", "^DEMIS-SL-100"), prop("collection_date", "lt", "2022-01-01")]},
        any_of(
            text("zip_code", lambda v: v == "92637"),
            text("lab", lambda v: re.match("^DEMIS-SL-100", v) is not None),
            text("collection_date", lambda v: v < "2022-01-01"),
        ),
    ),
    (
        "lab!=DEMIS-SL-10150 & euro>20 & euro<=70",
        {"andFilter": [prop("lab", "exact", "DEMIS-SL-10150", exclude=True), prop("euro", "gt", 20), prop("euro", "lte", 70)]},
        all_of(
            text("lab", lambda v: v != "DEMIS-SL-10150"),
            number("euro", lambda v: 20 < v <= 70),
        ),
    ),
    (  # insertion patterns against the exact insertion label and the inserted bases
        "ins_22204:GAGCCAGAA",
        {"label": "Ins Nt", "value": "T22204TGAGCCAGAA"},
        lambda ref, genome, row: inserted_after(ref, genome, 22204) == "GAGCCAGAA",
    ),
    (
        "ins_22204:?CCA? & !lineage=BA.1",
        {"andFilter": [{"label": "Ins Nt", "value": "T22204TGAGCCAGAA"}, lineages(["BA.1"], False, exclude=True)]},
        all_of(
            lambda ref, genome, row: "CCA" in inserted_after(ref, genome, 22204),
            not_(lineage_in({"BA.1"})),
        ),
    ),
    (
        "ins_S:214:EP? | ins_22204:?TTT?",
        {"label": "Ins AA", "value": "S:R214REPE"},
        lambda ref, genome, row: (
            str(Seq(inserted_after(ref, genome, 22204)).translate()).startswith("EP")
            or "TTT" in inserted_after(ref, genome, 22204)
        ),
    ),
]  # fmt: skip


def sample_names(client: Client, **params) -> set[str]:
    response = client.get("/api/samples/genomes/", {"reference": SC2, "limit": 100, **params})
    assert response.status_code == 200, response.json()
    return {r["name"] for r in response.json()["results"]}


@pytest.mark.django_db
def test_queries_answer_as_their_json_and_the_input(client, sc2_12, inputs):
    """Each query: the samples equal those of the sonar JSON and those the input says; the
    queries separate the samples (none answers nobody or everybody alone)."""
    answers = []
    for query, filters, carrier in EQUIVALENT:
        expected = {name for name, sample in inputs.items() if carrier(*sample)}
        by_query = sample_names(client, query=query)
        assert by_query == sample_names(client, filters=json.dumps(filters)), query
        assert by_query == expected, query
        answers.append(len(by_query))
    assert all(0 < n < 12 for n in answers[:10]), answers
    assert len(set(answers)) >= 5, answers


def nt_unknown(position: int) -> Carrier:
    """No base read at the position: not aligned (outside the sequenced part) or N there."""

    def check(ref: oracle.Reference, genome: str, row: Row) -> bool:
        bases = oracle.genome_bases(ref, genome, position, position)
        return bases is None or "N" in bases

    return check


def codon_unknown(gene: str, codon: int) -> Carrier:
    """No residue read: a codon base not aligned, or not one of A, C, G, T."""

    def check(ref: oracle.Reference, genome: str, row: Row) -> bool:
        first = ref.cds_start[gene] + (codon - 1) * 3 + 1
        bases = oracle.genome_bases(ref, genome, first, first + 2)
        return bases is None or bool(set(bases) - set("ACGT"))

    return check


def n_run_site(genome: str, ref: oracle.Reference, after: int = 0, min_length: int = 100) -> int:
    """A reference position (1-based) in the middle of the genome's first N run of at least
    ``min_length`` bases after genome index ``after``, placed by finding the 40 bases before the
    run in the reference."""
    runs = re.finditer("N+", genome.upper())
    run = next(m for m in runs if len(m.group()) >= min_length and m.start() >= after)
    before = genome.upper()[run.start() - 40 : run.start()]
    at = ref.sequence.find(before)
    assert at >= 0 and ref.sequence.find(before, at + 1) < 0, "flank not unique"
    return at + 40 + len(run.group()) // 2 + 1


@pytest.mark.django_db
def test_maybe_is_the_carriers_and_the_samples_without_data_there(client, sc2_12, inputs):
    """MAYBE(m): carriers of m, and the samples with no read there (N runs, unsequenced ends),
    found in the FASTA; each query also equals its spelled-out form in the query language."""
    ref = next(iter(inputs.values()))[0]
    # sites in N runs of two genomes (one in S), found in the FASTA itself
    in_s = n_run_site(inputs["IMS-10116-CVDP-77AB96B7-B9FB-46D6-B844-F9356151F2CA"][1], ref, 20000)
    in_orf1a = n_run_site(inputs["IMS-10150-CVDP-E3D797D9-FF1A-4BE8-AE50-13E30B77E18A"][1], ref)
    assert 21563 <= in_s <= 25384 and 266 <= in_orf1a <= 13483
    s_codon = (in_s - 1 - ref.cds_start["S"]) // 3 + 1
    orf1a_codon = (in_orf1a - 1 - ref.cds_start["ORF1a"]) // 3 + 1

    def ref_residue(gene: str, codon: int) -> str:
        first = ref.cds_start[gene] + (codon - 1) * 3
        return str(Seq(ref.sequence[first : first + 3]).translate())

    def other(base: str) -> str:
        return "T" if base != "T" else "C"

    cases: list[tuple[str, Carrier]] = [
        ("C241T", any_of(nt(241, "T"), nt_unknown(241))),  # IMS-10259's N run, 5' ends
        ("T10A", any_of(nt(10, "A"), nt_unknown(10))),  # before most genomes begin
        ("A29850G", any_of(nt(29850, "G"), nt_unknown(29850))),  # after most end
        ("C27600T", any_of(nt(27600, "T"), nt_unknown(27600))),
        (
            f"{ref.sequence[in_s - 1]}{in_s}{other(ref.sequence[in_s - 1])}",
            any_of(nt(in_s, other(ref.sequence[in_s - 1])), nt_unknown(in_s)),
        ),
        ("S:N501Y", any_of(N501Y, codon_unknown("S", 501))),
        ("S:F456L", any_of(aa("S", 456, "L"), codon_unknown("S", 456))),
        (
            f"S:{ref_residue('S', s_codon)}{s_codon}W",
            any_of(aa("S", s_codon, "W"), codon_unknown("S", s_codon)),
        ),
        (
            f"ORF1a:{ref_residue('ORF1a', orf1a_codon)}{orf1a_codon}W",
            any_of(aa("ORF1a", orf1a_codon, "W"), codon_unknown("ORF1a", orf1a_codon)),
        ),
        ("del:21765-21770", any_of(DEL_69_70, *(nt_unknown(p) for p in range(21765, 21771)))),
    ]
    without_data = 0
    for label, carrier in cases:
        expected = {name for name, sample in inputs.items() if carrier(*sample)}
        assert sample_names(client, query=f"MAYBE({label})") == expected, label
        assert sample_names(client, filters=json.dumps({"label": "Maybe", "value": label})) == (
            expected
        )
        carriers = sample_names(client, query=label)
        assert carriers <= expected, label
        without_data += len(expected - carriers)
        # negated: the samples with data there that do not carry it
        assert sample_names(client, query=f"!MAYBE({label})") == set(inputs) - expected, label
    # the N runs the sites were taken from answer: their genomes are in, without carrying
    s_label = cases[7][0]
    assert "IMS-10116-CVDP-77AB96B7-B9FB-46D6-B844-F9356151F2CA" in sample_names(
        client, query=f"MAYBE({s_label}) & !{s_label}"
    )
    assert without_data >= 15, without_data
