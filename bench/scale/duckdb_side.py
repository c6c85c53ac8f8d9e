"""The query suite side by side with DuckDB holding the same samples, timed in one run.

Usage::

    python bench/scale/duckdb_side.py [--database-url postgresql://...] [--repeat 7]

The peer is what a user can do without emgsonar: dump the sample table of the bench database
(id, name, date, lineage, country, the other fixed columns, the NT/AA mutation id arrays and the
custom properties as columns) into an in-process DuckDB (2 threads, the machine's cores) and ask
the same questions in SQL. Each question runs through our API (Django's test ``Client``, as in
``queries.py``, same cases and parameters) and in DuckDB alternately, case by case, so a load
change on this shared machine hits both; the report is our p50 ÷ DuckDB's p50 per case. Before
timing, both answers are compared (counts, weekly series, groups, values) and a case whose
answers differ is reported as such, not timed.

What DuckDB is not asked: ``database_info`` (reference, lineage and mutation dictionaries, not a
question about samples). Genomes pages: DuckDB returns the page's rows with their id arrays,
not rendered profiles. The CSV with profiles: DuckDB renders each cell from the id arrays and a
label table (what a notebook would do), sorted as ours are for NT; AA cells are per CDS in ours
and one list in DuckDB's, so the row count and rate are compared, not the bytes.

DuckDB is a bench-only dependency (``bench/requirements.txt``; ``./taskw bench-duckdb``
installs it). Results: the section ``## Side by side with DuckDB`` of ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import queries
from common import DEFAULT_DATABASE_URL, OUT_DIR, libpq_conninfo, setup_django

logger = logging.getLogger("bench.duckdb")

SECTION = "## Side by side with DuckDB"


#: DuckDB types of the sample columns that are not text (the CSV is read as text)
CASTS = {"id": "BIGINT", "collection_date": "DATE", "length": "INTEGER"}


def sample_columns() -> tuple[str, ...]:
    """The sample columns copied to DuckDB (what a user would dump): id, name, sonar's fixed
    columns and length, from the model."""
    from ena_like.models import Sample

    return ("id", "name", *Sample.FIXED_FIELDS, "length")


COLUMNS = (
    "id",
    "name",
    "collection_date",
    "lineage",
    "country",
    "host",
    "zip_code",
    "lab",
    "sequencing_tech",
    "sequencing_reason",
    "genome_completeness",
    "data_set",
    "length",
)
#: the cases of queries.py that have no DuckDB counterpart, and why
NOT_ASKED = {"database_info": "reference/lineage/mutation dictionaries, not a sample question"}


@dataclass
class Side:
    """The DuckDB half of one case: SQL (with parameters) and how to read its answer."""

    #: one statement, or several whose results ``answer`` gets as a list
    sql: str | tuple[str, ...]
    params: list[Any] = field(default_factory=list)
    #: turns DuckDB's rows into the value compared with ours
    answer: Callable[[list[tuple]], Any] = lambda rows: rows
    #: turns our JSON payload (or CSV body) into the same kind of value
    ours: Callable[[Any], Any] = lambda payload: payload
    timings_ms: list[float] = field(default_factory=list)


def export(conninfo: str, reference_id: int, work: Path) -> tuple[Path, Path, list[str]]:
    """The sample table and the property values as CSV files (``COPY``), and property names."""
    samples, props = work / "samples.csv", work / "properties.csv"
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        cols = ", ".join(sample_columns())
        with (
            samples.open("wb") as out,
            cur.copy(
                f"COPY (SELECT {cols}, nt_mutation_ids, aa_mutation_ids FROM ena_like_sample "
                f"WHERE reference_id = {int(reference_id)}) TO STDOUT WITH (FORMAT csv, HEADER)"
            ) as copy,
        ):
            for block in copy:
                out.write(block)
        with (
            props.open("wb") as out,
            cur.copy(
                "COPY (SELECT sp.sample_id, p.name, p.datatype, sp.value_text, sp.value_integer, "
                "sp.value_float, sp.value_date, sp.value_bool FROM ena_like_sampleproperty sp "
                "JOIN ena_like_property p ON p.id = sp.property_id) "
                "TO STDOUT WITH (FORMAT csv, HEADER)"
            ) as copy,
        ):
            for block in copy:
                out.write(block)
        cur.execute("SELECT name, datatype FROM ena_like_property ORDER BY name")
        names = [row[0] for row in cur.fetchall()]
    return samples, props, names


def load_duckdb(samples: Path, props: Path, names: list[str], conninfo: str) -> Any:
    """An in-memory DuckDB with table ``s`` (one row per sample, properties as columns) and the
    lookup tables the questions need (``lineage_names``, ``nt_labels``)."""
    import duckdb

    db = duckdb.connect(config={"threads": os.cpu_count() or 2})
    db.execute(
        f"""
        CREATE TABLE raw AS SELECT * FROM read_csv('{samples}', header = true, all_varchar = true);
        CREATE TABLE p AS SELECT * FROM read_csv('{props}', header = true, all_varchar = true);
        """
    )
    ids = (
        "CASE WHEN {c} = '{{}}' THEN []::INTEGER[] "
        "ELSE string_split(trim({c}, '{{}}'), ',')::INTEGER[] END"
    )
    db.execute(
        f"""
        CREATE TABLE s AS SELECT
            {", ".join(f"{c}::{CASTS.get(c, 'VARCHAR')} AS {c}" for c in sample_columns())},
            {ids.format(c="nt_mutation_ids")} AS nt, {ids.format(c="aa_mutation_ids")} AS aa
            {"".join(f", props.{json.dumps(n)}" for n in names)}
        FROM raw LEFT JOIN (
            PIVOT (SELECT sample_id, name,
                          coalesce(value_text, value_integer, value_float, value_date, value_bool)
                          AS v FROM p)
            ON name IN ({", ".join(repr(n) for n in names)}) USING first(v) GROUP BY sample_id
        ) AS props ON props.sample_id = raw.id;
        DROP TABLE raw; DROP TABLE p;
        """
    )
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        cur.execute("SELECT DISTINCT name FROM analyses_lineage")
        lineage_names = [r[0] for r in cur.fetchall()]
        cur.execute('SELECT id, label FROM analyses_nucleotidemutation ORDER BY start, "end", id')
        nt_labels = cur.fetchall()
    db.execute("CREATE TABLE lineage_names(name VARCHAR)")
    db.executemany("INSERT INTO lineage_names VALUES (?)", [(n,) for n in lineage_names])
    db.execute("CREATE TABLE nt_labels(id INTEGER, rank INTEGER, label VARCHAR)")
    db.executemany(
        "INSERT INTO nt_labels VALUES (?, ?, ?)",
        [(mid, rank, label) for rank, (mid, label) in enumerate(nt_labels, start=1)],
    )
    return db


def mutation_id(conninfo: str, label: str) -> tuple[str, int]:
    """``("aa"|"nt", id)`` of a stored mutation label (``S:Q493E``, ``C3961T``)."""
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        for level, table in (
            ("aa", "analyses_aminoacidmutation"),
            ("nt", "analyses_nucleotidemutation"),
        ):
            cur.execute(f"SELECT id FROM {table} WHERE label = %s", [label])
            row = cur.fetchone()
            if row:
                return level, row[0]
    raise SystemExit(f"mutation {label} is not in the bench database")


def lineage_set(lineage: str) -> list[str]:
    """The names a ``Lineages`` filter with sublineages means, from our own compiler: both sides
    must ask for the same set."""
    from analyses.models import Reference
    from ena_like.filters import FilterCompiler

    return sorted(FilterCompiler(Reference.objects.get()).lineage_set([lineage], True))


def _count(rows: list[tuple]) -> int:
    return int(rows[0][0])


def _weeks(payload: Any) -> dict[str, int]:
    return {week: n for week, n in payload if n}


def build_sides(db: Any, data: dict[str, Any], conninfo: str) -> dict[str, Side]:
    """The DuckDB question of each case key of ``queries.build_cases``."""
    level = {}
    ids = {}
    for key in ("aa_common", "aa_medium", "aa_rare", "nt_medium", "aa_second"):
        level[key], ids[key] = mutation_id(conninfo, data[key][0])
    col = {k: level[k] for k in level}  # "aa"/"nt" are the DuckDB column names too
    # the lineage set as a table, as a notebook would hold it (a hash semi-join)
    db.execute("CREATE OR REPLACE TABLE combined_lineages(name VARCHAR)")
    db.executemany(
        "INSERT INTO combined_lineages VALUES (?)", [(n,) for n in lineage_set(data["lineage"])]
    )

    def has(key: str) -> str:
        return f"list_contains({col[key]}, {ids[key]})"

    combined = (
        f"list_contains(aa, {ids['aa_common']}) AND list_contains(aa, {ids['aa_second']}) "
        "AND country = ? "
        "AND lineage IN (SELECT name FROM combined_lineages)"
    )
    combined_params = [data["country"]]
    # a page is two questions, as ours: how many, then the first ten by date
    page = (
        "SELECT count(*) FROM s WHERE {where}",
        "SELECT id, name, collection_date, lineage, country, nt, aa FROM s WHERE {where} "
        "ORDER BY collection_date DESC NULLS LAST, id DESC LIMIT 10",
    )
    week = "datediff('day', DATE '0001-01-01', collection_date) // 7"
    weeks_sql = (
        f"SELECT strftime(DATE '0001-01-01' + INTERVAL (wk * 7) DAY, '%G-W%V'), n FROM "
        f"(SELECT {week} AS wk, count(*) AS n FROM s WHERE collection_date IS NOT NULL "
        "AND {where} GROUP BY 1) ORDER BY 1"
    )
    lineages_sql = (
        "SELECT wk, coalesce(k.name, 'Unknown') AS grp, sum(n) FROM ("
        f"SELECT {week} AS wk, regexp_extract(lineage, '^[^.]*(\\.[^.]*)?') AS prefix, "
        "count(*) AS n FROM s WHERE collection_date IS NOT NULL AND {where} GROUP BY 1, 2"
        ") w LEFT JOIN lineage_names k ON k.name = w.prefix GROUP BY 1, 2"
    )
    fixed = [c for c in sample_columns() if c != "id"]
    coverage_sql = (
        "SELECT "
        + ", ".join(
            f"count(*) FILTER (WHERE {c} IS NOT NULL AND {c}::VARCHAR <> '') AS {c}" for c in fixed
        )
        + ", count(*) FILTER (WHERE len(nt) > 0) AS genomic_profiles"
        + ", count(*) FILTER (WHERE len(aa) > 0) AS proteomic_profiles"
        + ', count("sex") AS sex, count("age") AS age, count("date_of_receipt") AS date_of_receipt'
        + " FROM s WHERE {where}"
    )
    csv_cols = "name, lineage, collection_date, country, lab, sequencing_tech, age"

    def coverage_ours(payload: dict) -> dict[str, int]:
        wanted = [*fixed, "genomic_profiles", "proteomic_profiles", "sex", "age", "date_of_receipt"]
        return {k: payload["metadata_coverage"].get(k, 0) for k in wanted}

    def coverage_duck(rows: list[tuple]) -> dict[str, int]:
        names = [*fixed, "genomic_profiles", "proteomic_profiles", "sex", "age", "date_of_receipt"]
        return dict(zip(names, map(int, rows[0]), strict=True))

    def page_duck(results: list[list[tuple]]) -> tuple[int, list[str]]:
        return int(results[0][0][0]), [r[1] for r in results[1]]

    def page_ours(payload: dict) -> tuple[int, list[str]]:
        return payload["count"], [r["name"] for r in payload["results"]]

    def lineages_duck(rows: list[tuple]) -> int:
        return len(rows)

    def lineages_ours(payload: dict) -> int:
        return len(payload["grouped_lineages_per_week"])

    csv_out = Path(tempfile.gettempdir()) / f"duckdb-side-{os.getpid()}.csv"
    count_ours = lambda payload: payload["filtered_total_count"]  # noqa: E731
    sides = {
        k: Side(f"SELECT count(*) FROM s WHERE {has(src)}", answer=_count, ours=count_ours)
        for k, src in (
            ("fs_common", "aa_common"),
            ("fs_common_top", "aa_common"),
            ("fs_medium", "aa_medium"),
            ("fs_rare", "aa_rare"),
            ("fs_nt", "nt_medium"),
        )
    }
    sides["fs_combined"] = Side(
        f"SELECT count(*) FROM s WHERE {combined}", combined_params, _count, count_ours
    )
    for key, where, params in (
        ("genomes_page", "true", []),
        ("genomes_page_mut", has("aa_medium"), []),
        ("genomes_page_combined", combined, combined_params),
    ):
        sql = tuple(q.format(where=where) for q in page)
        sides[key] = Side(sql, params, page_duck, page_ours)
    for key, src in (("per_week", "aa_medium"), ("per_week_common", "aa_common")):
        sides[key] = Side(
            weeks_sql.format(where=has(src)),
            answer=lambda rows: {w: int(n) for w, n in rows},
            ours=_weeks,
        )
    for key, src in (("lineages_week", "aa_medium"), ("lineages_week_common", "aa_common")):
        sides[key] = Side(
            lineages_sql.format(where=has(src)), answer=lineages_duck, ours=lineages_ours
        )
    sides["coverage_common"] = Side(
        coverage_sql.format(where=has("aa_common")), answer=coverage_duck, ours=coverage_ours
    )
    sides["custom_common"] = Side(
        f'SELECT "sex", count(*) FROM s WHERE "sex" IS NOT NULL AND {has("aa_common")} '
        "GROUP BY 1 ORDER BY 1",
        answer=lambda rows: {str(v): int(n) for v, n in rows},
        ours=lambda payload: payload["sex"],
    )
    sides["statistics"] = Side(
        "SELECT count(*) FROM s",
        answer=_count,
        ours=lambda payload: payload.get("samples_total") or payload["detail"]["samples_total"],
    )
    sides["csv_meta"] = Side(
        f"COPY (SELECT {csv_cols} FROM s WHERE {has('aa_medium')}) TO '{csv_out}' "
        "(HEADER, DELIMITER ';')",
        answer=lambda rows: int(rows[0][0]),
        ours=lambda body: body.count(b"\n") - 1,
    )
    sides["csv_profiles"] = Side(
        f"""COPY (
            WITH f AS (SELECT * FROM s WHERE {has("aa_medium")}),
            cells AS (
                SELECT u.id, string_agg(l.label, ', ' ORDER BY l.rank) AS genomic_profiles
                FROM (SELECT id, unnest(nt) AS mid FROM f) AS u
                JOIN nt_labels AS l ON l.id = u.mid GROUP BY u.id
            )
            SELECT {csv_cols}, cells.genomic_profiles,
                   array_to_string(f.aa::VARCHAR[], ', ') AS proteomic_profiles
            FROM f LEFT JOIN cells USING (id)
        ) TO '{csv_out}' (HEADER, DELIMITER ';')""",
        answer=lambda rows: int(rows[0][0]),
        ours=lambda body: body.count(b"\n") - 1,
    )
    return sides


def run_duck(db: Any, side: Side) -> Any:
    if isinstance(side.sql, tuple):
        return [db.execute(q, side.params).fetchall() for q in side.sql]
    return db.execute(side.sql, side.params).fetchall()


def our_payload(client: Any, case: Any) -> Any:
    response = client.get(case.url)
    body = (
        b"".join(response.streaming_content)
        if getattr(response, "streaming", False)
        else response.content
    )
    return body if case.params.get("csv_stream") else json.loads(body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--only", help="comma-separated case keys")
    parser.add_argument("--no-results", action="store_true", help="do not touch RESULTS.md")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    setup_django(args.database_url)
    from django.test import Client
    from django.test.utils import setup_test_environment

    from analyses.models import Reference

    setup_test_environment()
    client = Client()
    conninfo = libpq_conninfo(args.database_url)
    data = queries.pick_data()
    cases = [c for c in queries.build_cases(data) if c.key not in NOT_ASKED]
    if args.only:
        cases = [c for c in cases if c.key in set(args.only.split(","))]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=args.out_dir) as tmp:
        samples, props, names = export(conninfo, Reference.objects.get().pk, Path(tmp))
        exported = time.perf_counter() - started
        db = load_duckdb(samples, props, names, conninfo)
    loaded = time.perf_counter() - started - exported
    logger.info("exported in %.1f s, loaded into DuckDB in %.1f s", exported, loaded)
    sides = build_sides(db, data, conninfo)
    rows = []
    for case in cases:
        side = sides[case.key]
        ours, theirs = side.ours(our_payload(client, case)), side.answer(run_duck(db, side))
        if ours != theirs:
            logger.warning("%s: answers differ: ours %r, DuckDB %r", case.key, ours, theirs)
            rows.append((case, side, ours, theirs, False))
            continue
        for _ in range(case.repeat or args.repeat):
            t0 = time.perf_counter()
            our_payload(client, case)
            case.timings_ms.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            run_duck(db, side)
            side.timings_ms.append((time.perf_counter() - t0) * 1000)
        rows.append((case, side, ours, theirs, True))
        ratio = statistics.median(case.timings_ms) / statistics.median(side.timings_ms)
        logger.info(
            "%-22s ours %8.1f ms  DuckDB %8.1f ms  ratio %6.2f",
            case.key,
            statistics.median(case.timings_ms),
            statistics.median(side.timings_ms),
            ratio,
        )
    for side in sides.values():  # the CSV cases' output file
        if isinstance(side.sql, str) and side.sql.startswith("COPY"):
            Path(side.sql.rsplit(" TO '", 1)[1].split("'", 1)[0]).unlink(missing_ok=True)
    text = report(rows, data, exported, loaded, args.repeat)
    out = args.out_dir / f"duckdb-{data['n']}.md"
    out.write_text(text)
    logger.info("wrote %s", out)
    if not args.no_results and not args.only:
        queries.write_section(text, section=SECTION)
    return 0


def report(rows: list, data: dict, exported: float, loaded: float, repeat: int) -> str:
    import duckdb

    info = queries.machine()
    load = os.getloadavg()
    lines = [
        SECTION,
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {data['n']:,} samples "
        f"of the bench database; DuckDB {duckdb.__version__} in process, "
        f"{os.cpu_count()} threads; {info.get('postgres', '')} ({info.get('postgres_settings')}); "
        f"machine `{info.get('uname')}`. Load average at the end "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}. Export (COPY) {exported:.0f} s, "
        f"DuckDB load {loaded:.0f} s. p50 of {repeat} alternating runs (CSV: 3); the answers "
        "were compared first (`bench/scale/duckdb_side.py`).",
        "",
        "| case | answer | ours p50 ms | DuckDB p50 ms | ours ÷ DuckDB | goal ≤ 2x |",
        "|---|---|---:|---:|---:|---|",
    ]
    for case, side, ours, theirs, same in rows:
        if not same:
            lines.append(
                f"| {case.title} | differ: ours {str(ours)[:60]}, DuckDB {str(theirs)[:60]} "
                "| | | | not timed |"
            )
            continue
        a, b = statistics.median(case.timings_ms), statistics.median(side.timings_ms)
        verdict = "ok" if a / b <= 2 else "MISS"
        lines.append(
            f"| {case.title} | {str(ours)[:40]} | {a:.1f} | {b:.1f} | {a / b:.2f} | {verdict} |"
        )
    for key, why in NOT_ASKED.items():
        lines.append(f"| {key} | not asked: {why} | | | | |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    sys.exit(main())
