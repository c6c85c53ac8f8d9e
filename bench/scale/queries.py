"""Query suite of the scale benchmark, run through the real HTTP endpoints of the API.

Usage::

    python bench/scale/queries.py [--database-url postgresql://...] [--repeat 9]

Every case is a GET through Django's test ``Client`` (in process: URL routing, Ninja parameter
parsing, the filter engine, serialisation, all of it) against the bench database that
``load.py`` filled. Each case runs once to warm the caches, then ``--repeat`` times; p50 and
p95 are over those runs. The mutations, lineage and property values in the filters are picked
from the loaded data (a common, a medium and a rare mutation by ``MutationCount``), so the suite
works at any N.

Results: a table (with machine, Postgres version and date) replaces the section
``## Query API at scale`` of ``bench/RESULTS.md``; the raw numbers, the SQL each endpoint ran and
``EXPLAIN (ANALYZE, BUFFERS)`` of the slowest statement per case go to ``bench/out/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from common import DEFAULT_DATABASE_URL, OUT_DIR, RESULTS_MD, setup_django

logger = logging.getLogger("bench.queries")

SECTION = "## Query API at scale"
#: settings of ``--tuned`` (per database, so nothing else on the server changes)
TUNED = {"jit": "off", "work_mem": "64MB"}
REFERENCE = "MN908947.3"


@dataclass
class Case:
    """One benchmarked request."""

    key: str
    title: str
    path: str
    params: dict[str, Any]
    target_ms: float | None = None
    #: CSV cases: rows/s target instead of a latency target
    target_rows_per_s: float | None = None
    repeat: int | None = None
    timings_ms: list[float] = field(default_factory=list)
    rows: int | None = None
    answer: str = ""
    sql: list[tuple[float, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"/api/{self.path}?{urlencode(self.params)}"

    def p(self, q: float) -> float:
        """Percentile ``q`` (0 to 100) of the timings, nearest rank."""
        ordered = sorted(self.timings_ms)
        index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
        return ordered[index]

    @property
    def verdict(self) -> str:
        if self.target_rows_per_s is not None and self.rows:
            rate = self.rows / (statistics.median(self.timings_ms) / 1000)
            return "ok" if rate >= self.target_rows_per_s else "MISS"
        if self.target_ms is None:
            return ""
        return "ok" if self.p(50) <= self.target_ms else "MISS"


def f_profile(*labels: str) -> dict[str, Any]:
    return {"label": "DNA/AA Profile", "value": " ".join(labels)}


def f_property(name: str, value: Any, filter_type: str = "exact") -> dict[str, Any]:
    return {"label": "Property", "property_name": name, "filter_type": filter_type, "value": value}


def f_lineage(*names: str) -> dict[str, Any]:
    return {"label": "Lineages", "lineageList": list(names), "includeSublineages": True}


def filters(*items: dict[str, Any]) -> str:
    return json.dumps({"andFilter": list(items)})


def pick_data() -> dict[str, Any]:
    """Mutations, lineage and values to query, chosen from the loaded data."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM ena_like_sample")
        n = cur.fetchone()[0]

        def aa_near(fraction: float) -> tuple[str, int]:
            cur.execute(
                """
                SELECT m.label, c.samples FROM analyses_mutationcount c
                JOIN analyses_aminoacidmutation m ON m.id = c.mutation_id
                WHERE c.level = 'aa' AND m.kind = 'sub'
                ORDER BY abs(c.samples - %s), m.label LIMIT 1
                """,
                (fraction * n,),
            )
            return cur.fetchone()

        def nt_near(fraction: float) -> tuple[str, int]:
            cur.execute(
                """
                SELECT m.label, c.samples FROM analyses_mutationcount c
                JOIN analyses_nucleotidemutation m ON m.id = c.mutation_id
                WHERE c.level = 'nt' AND m.kind = 'sub'
                ORDER BY abs(c.samples - %s), m.label LIMIT 1
                """,
                (fraction * n,),
            )
            return cur.fetchone()

        # a lineage with a large subtree that is well represented
        cur.execute(
            """
            SELECT l.name FROM analyses_lineage l
            WHERE l.name IN ('B.1.1.529', 'BA.2', 'BA.5', 'XBB', 'B.1.617.2', 'B.1.1')
            ORDER BY array_position(
                ARRAY['B.1.1.529', 'BA.2', 'BA.5', 'XBB', 'B.1.617.2', 'B.1.1'], l.name::text)
            LIMIT 1
            """
        )
        lineage = cur.fetchone()[0]
        cur.execute("SELECT country FROM ena_like_sample GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
        country = cur.fetchone()[0]
        return {
            "n": n,
            "aa_common": aa_near(0.6),
            "aa_medium": aa_near(0.05),
            "aa_rare": aa_near(0.0005),
            "nt_medium": nt_near(0.05),
            "aa_second": aa_near(0.3),
            "lineage": lineage,
            "country": country,
        }


def build_cases(data: dict[str, Any]) -> list[Case]:
    """The suite; targets from the query API issue (item 7)."""
    ref = {"reference": REFERENCE}
    common, medium, rare = data["aa_common"][0], data["aa_medium"][0], data["aa_rare"][0]
    second = data["aa_second"][0]
    combined = filters(
        f_profile(common, second),
        f_property("country", data["country"]),
        f_lineage(data["lineage"]),
    )
    csv_columns = "name,lineage,collection_date,country,lab,sequencing_tech,age"
    return [
        Case("fs_common", f"filtered_statistics, 1 mutation ({common}, common)",
             "samples/filtered_statistics/", {**ref, "filters": filters(f_profile(common))}, 50),
        Case("fs_common_top",
             f"filtered_statistics, 1 mutation ({common}) as a top-level condition",
             "samples/filtered_statistics/",
             {**ref, "filters": json.dumps(f_profile(common))}, 50),
        Case("fs_medium", f"filtered_statistics, 1 mutation ({medium}, ~5 %)",
             "samples/filtered_statistics/", {**ref, "filters": filters(f_profile(medium))}, 50),
        Case("fs_rare", f"filtered_statistics, 1 mutation ({rare}, rare)",
             "samples/filtered_statistics/", {**ref, "filters": filters(f_profile(rare))}, 50),
        Case("fs_nt", f"filtered_statistics, 1 NT mutation ({data['nt_medium'][0]})",
             "samples/filtered_statistics/",
             {**ref, "filters": filters(f_profile(data["nt_medium"][0]))}, 50),
        Case("fs_combined",
             f"filtered_statistics, 2 mutations + country={data['country']} + "
             f"{data['lineage']} with sublineages",
             "samples/filtered_statistics/", {**ref, "filters": combined}, 150),
        Case("genomes_page", "genomes, page of 10 with profiles (no filter)",
             "samples/genomes/", {**ref, "limit": 10}, 150),
        Case("genomes_page_mut", f"genomes, page of 10 with profiles, filter {medium}",
             "samples/genomes/",
             {**ref, "limit": 10, "filters": filters(f_profile(medium))}, 150),
        Case("genomes_page_combined", "genomes, page of 10, the combined filter",
             "samples/genomes/", {**ref, "limit": 10, "filters": combined}, 150),
        Case("per_week", f"plot_samples_per_week, filter {medium}",
             "samples/plot_samples_per_week/",
             {**ref, "filters": filters(f_profile(medium))}, 300),
        Case("per_week_common", f"plot_samples_per_week, filter {common}",
             "samples/plot_samples_per_week/",
             {**ref, "filters": filters(f_profile(common))}, 300),
        Case("lineages_week", f"plot_grouped_lineages_per_week, filter {medium}",
             "samples/plot_grouped_lineages_per_week/",
             {**ref, "filters": filters(f_profile(medium))}, 300),
        Case("lineages_week_common", f"plot_grouped_lineages_per_week, filter {common}",
             "samples/plot_grouped_lineages_per_week/",
             {**ref, "filters": filters(f_profile(common))}, 300),
        Case("coverage_common", f"plot_metadata_coverage, filter {common}",
             "samples/plot_metadata_coverage/",
             {**ref, "filters": filters(f_profile(common))}, 300),
        Case("custom_common", f"plot_custom (property sex), filter {common}",
             "samples/plot_custom/",
             {**ref, "property": "sex", "filters": filters(f_profile(common))}, 300),
        Case("statistics", "statistics", "samples/statistics/", dict(ref), 200),
        Case("database_info", "get_database_info", "database/get_database_info/", {}, 200),
        Case("csv_meta", f"CSV export, metadata columns, filter {medium}",
             "samples/genomes/",
             {**ref, "filters": filters(f_profile(medium)), "csv_stream": "true",
              "columns": csv_columns}, target_rows_per_s=50_000, repeat=3),
        Case("csv_profiles", f"CSV export with genomic+proteomic profiles, filter {medium}",
             "samples/genomes/",
             {**ref, "filters": filters(f_profile(medium)), "csv_stream": "true",
              "columns": csv_columns + ",genomic_profiles,proteomic_profiles"},
             target_rows_per_s=50_000, repeat=3),
    ]  # fmt: skip


def run_case(client: Any, case: Case, repeat: int) -> None:
    """Warm up once (capturing the SQL), then time ``repeat`` requests."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def request() -> tuple[float, Any, bytes]:
        t0 = time.perf_counter()
        response = client.get(case.url)
        if getattr(response, "streaming", False):
            body = b"".join(response.streaming_content)
        else:
            body = response.content
        elapsed = (time.perf_counter() - t0) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{case.key}: HTTP {response.status_code}: {body[:500]!r}")
        return elapsed, response, body

    with CaptureQueriesContext(connection) as captured:
        _, _response, body = request()
    case.sql = [(float(q["time"]) * 1000, q["sql"]) for q in captured.captured_queries]
    if case.params.get("csv_stream"):
        case.rows = max(0, body.count(b"\n") - 1)
        case.answer = f"{case.rows} rows, {len(body) / 1e6:.1f} MB"
    else:
        payload = json.loads(body)
        case.answer = summarise(payload)
    for _ in range(case.repeat or repeat):
        elapsed, _, _ = request()
        case.timings_ms.append(elapsed)
    logger.info(
        "%-22s p50 %8.1f ms  p95 %8.1f ms  %s  (%d SQL)",
        case.key,
        case.p(50),
        case.p(95),
        case.answer,
        len(case.sql),
    )


def summarise(payload: Any) -> str:
    """A short description of a JSON answer for the table."""
    if isinstance(payload, dict):
        if "filtered_total_count" in payload:
            return f"count {payload['filtered_total_count']}"
        if "results" in payload:
            return f"count {payload.get('count')}, {len(payload['results'])} results"
        if "grouped_lineages_per_week" in payload:
            return f"{len(payload['grouped_lineages_per_week'])} week/group rows"
        if "metadata_coverage" in payload:
            return f"{len(payload['metadata_coverage'])} fields"
        if "sex" in payload:
            return f"{len(payload['sex'])} values"
        if "samples_total" in payload:
            return f"{payload['samples_total']} samples"
        if "detail" in payload and isinstance(payload["detail"], dict):
            return f"{payload['detail'].get('samples_total')} samples"
    if isinstance(payload, list):
        return f"{len(payload)} weeks"
    return type(payload).__name__


def explain(case: Case) -> str:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of the slowest statement of a case."""
    from django.db import connection

    if not case.sql:
        return ""
    _, sql = max(case.sql)
    if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
        return ""
    with connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return "\n".join(r[0] for r in cur.fetchall())


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    from django.db import connection

    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    with connection.cursor() as cur:
        cur.execute("SELECT version()")
        pg = cur.fetchone()[0].split(" on ")[0]
        settings = {}
        for name in (
            "shared_buffers",
            "work_mem",
            "max_parallel_workers_per_gather",
            "jit",
            "random_page_cost",
        ):
            cur.execute(f"SHOW {name}")
            settings[name] = cur.fetchone()[0]
        cur.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        size = cur.fetchone()[0]
    return {
        "uname": " ".join(platform.uname()),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "postgres": pg,
        "postgres_settings": ", ".join(f"{k}={v}" for k, v in settings.items()),
        "database_size": size,
        "python": platform.python_version(),
        "load": " / ".join(f"{x:.1f}" for x in os.getloadavg()),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip(),
    }


def load_summary(n: int, out_dir: Path = OUT_DIR) -> dict[str, Any] | None:
    path = out_dir / f"load-{n}.json"
    return json.loads(path.read_text()) if path.exists() else None


def markdown(
    cases: list[Case], data: dict[str, Any], info: dict[str, str], repeat: int, tuned: bool = False
) -> str:
    """One block of the RESULTS.md section (default or tuned settings)."""
    n = data["n"]
    title = (
        "tuned: `jit=off`, `work_mem=64MB` on the database"
        if tuned
        else "the settings of `deployment/postgres/emgsonar.conf` (project-local cluster)"
    )
    lines = [
        f"### N = {n:,}, {title}",
        "",
        f"Measured {info['date']}"
        + (f" at commit {info['commit']}" if info["commit"] else "")
        + ".",
        "",
        f"- machine: `{info['uname']}`; {info['nproc']} cores ({info['cpu']}), {info['ram']} RAM",
        f"- {info['postgres']} ({info['postgres_settings']}); database {info['database_size']}",
        f"- load average at the end (1/5/15 min): {info.get('load', '?')} — other sessions share "
        "the 2 cores, so compare runs with care",
        f"- Python {info['python']}; requests through Django's test `Client` in process "
        f"(routing, Ninja, filter engine, serialisation); 1 warm-up run, then {repeat} runs "
        "(CSV: 3), warm cache",
    ]
    summary = load_summary(n)
    if summary:
        phases = ", ".join(f"{k} {v:.0f} s" for k, v in summary["phases"].items() if v >= 1)
        lines.append(
            f"- load: {summary['total_seconds']:.0f} s for {n:,} genomes ({phases}); "
            + (
                f"database {summary['database_bytes'] / 1e9:.1f} GB after the load, peak RSS of "
                f"the loader {summary['peak_rss_bytes'] / 2**20:,.0f} MiB; "
                if "peak_rss_bytes" in summary
                else ""
            )
            + f"{summary['world']['distinct_nt_mutations']:,} distinct NT / "
            f"{summary['world']['distinct_aa_mutations']:,} AA mutations, "
            f"{summary['world']['lineages']:,} lineages, "
            f"~{summary['world']['nt_per_sample_expected']:.0f} NT calls per sample"
        )
    lines += [
        "",
        "| query | answer | p50 ms | p95 ms | target | verdict |",
        "|---|---|---:|---:|---|---|",
    ]
    for case in cases:
        if case.target_rows_per_s is not None:
            rate = (case.rows or 0) / (statistics.median(case.timings_ms) / 1000)
            target = f"≥ {case.target_rows_per_s:,.0f} rows/s"
            answer = f"{case.answer}; **{rate:,.0f} rows/s**"
        else:
            target = f"≤ {case.target_ms:.0f} ms" if case.target_ms else ""
            answer = case.answer
        lines.append(
            f"| {case.title} | {answer} | {case.p(50):.1f} | {case.p(95):.1f} | {target} "
            f"| {case.verdict} |"
        )
    lines += [
        "",
        "Mutation frequencies: "
        + ", ".join(
            f"{data[k][0]} in {data[k][1]:,} samples"
            for k in ("aa_common", "aa_second", "aa_medium", "aa_rare", "nt_medium")
        )
        + ".",
        "",
    ]
    return "\n".join(lines)


def section(n: int) -> str:
    """The whole RESULTS.md section from the blocks saved in ``bench/out/``."""
    parts = [
        SECTION,
        "",
        "`python bench/scale/load.py --n N` then `python bench/scale/queries.py` (and "
        "`--tuned`); raw timings, the SQL of every request and EXPLAIN (ANALYZE, BUFFERS) of "
        "the slowest statement per case are in `bench/out/`; findings and proposals in "
        "`docs/design-performance.md`.",
        "",
        "Before the query-path work (commit 1fb6282 plus the `sample_ref_date_desc` index, "
        "load average ~1.2, 3 repeats, server defaults `jit=on`, `work_mem=4MB`), p50: "
        "filtered_statistics 1 mutation in an `andFilter` 175 ms (60 %) / 87 ms (5 %) / "
        "82 ms (NT 5 %), combined 279 ms, genomes page 49 ms / 90 ms (5 % filter) / 302 ms "
        "(combined), per week 93 / 330 ms, lineages per week 285 / 1336 ms, statistics 656 ms, "
        "database info 1777 ms; CSV 5,500 rows/s (metadata) / 3,600 rows/s (profiles) on the "
        "quiet first run. What changed: `docs/design-performance.md`. `--tuned` (database-level "
        "`jit=off`, `work_mem=64MB`) is no longer a separate block: the app's connection options "
        "now set both (`emgsonar/settings.py`).",
        "",
        "Before issue 15 (2026-11-22, 1M genomes of the 2020-2023 world, ~63 NT calls per "
        "sample, server defaults with `shared_buffers=128MB`, load ~1.1-1.4), the four misses "
        "were: combined filter 173 ms (target 150), genomes page with it 202 ms (150), "
        "lineages-per-week with a 60 % mutation 504 ms (300), CSV with profiles 19.7k rows/s "
        "(50k). Since 2026-12-01 the world adds the 2024 genomes (5 years, ~120 NT calls per "
        "recent sample: wider rows, 2.9 kB of CSV per row instead of 1.9 kB), the project-local "
        "cluster runs `deployment/postgres/emgsonar.conf` with `shared_buffers` = 25 % of RAM, "
        "and the weekly plots of a single mutation read `MutationWeekCount`.",
        "",
    ]
    for suffix in ("", "-tuned"):
        path = OUT_DIR / f"queries-{n}{suffix}.md"
        if path.exists():
            parts.append(path.read_text())
    return "\n".join(parts)


def write_section(text: str, path: Path = RESULTS_MD, section: str = SECTION) -> None:
    """Replace (or append) only ``section`` of RESULTS.md (this benchmark's by default)."""
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    start = current.find(section)
    if start == -1:
        new = current.rstrip("\n") + "\n\n" + text
    else:
        # the section ends at the next heading that is not one of its own ``### N = …`` blocks
        # (other benchmarks append their own ``##``/``###`` headings after it)
        end = -1
        offset = start + len(section)
        for line in current[offset:].splitlines(keepends=True):
            if line.startswith("## ") or (
                line.startswith("### ") and not line.startswith("### N = ")
            ):
                end = offset
                break
            offset += len(line)
        tail = current[end:] if end != -1 else ""
        new = current[:start] + text + ("\n" + tail if tail else "")
    path.write_text(new.rstrip("\n") + "\n")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--only", help="comma-separated case keys")
    parser.add_argument("--no-results", action="store_true", help="do not touch RESULTS.md")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR, help="raw timings and plans")
    parser.add_argument(
        "--tuned",
        action="store_true",
        help="run with jit=off and work_mem=64MB set on the bench database (reset afterwards)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    setup_django(args.database_url)
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    client = Client()
    if args.tuned:
        tune(True)
    data = pick_data()
    logger.info("data: %s", data)
    cases = build_cases(data)
    if args.only:
        wanted = set(args.only.split(","))
        cases = [c for c in cases if c.key in wanted]
    for case in cases:
        run_case(client, case, args.repeat)
    n = data["n"]
    out_dir: Path = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    plans = []
    for case in cases:
        if case.key.startswith("csv"):
            continue
        plan = explain(case)
        plans.append(f"### {case.key}: {case.title}\n\n{plan}\n")
    (out_dir / f"plans-{n}.txt").write_text("\n".join(plans))
    info = machine()
    raw = {
        "machine": info,
        "data": data,
        "cases": [
            {
                "key": c.key,
                "url": c.url,
                "timings_ms": c.timings_ms,
                "p50": c.p(50),
                "p95": c.p(95),
                "answer": c.answer,
                "sql": [{"ms": ms, "sql": sql} for ms, sql in c.sql],
            }
            for c in cases
        ],
    }
    (out_dir / f"queries-{n}{'-tuned' if args.tuned else ''}.json").write_text(
        json.dumps(raw, indent=1)
    )
    if args.tuned:
        tune(False)
    suffix = "-tuned" if args.tuned else ""
    if not args.only:
        (out_dir / f"queries-{n}{suffix}.md").write_text(
            markdown(cases, data, info, args.repeat, tuned=args.tuned)
        )
    if not args.no_results and not args.only:
        write_section(section(n))
        logger.info("wrote %s", RESULTS_MD)
    return 0


def tune(on: bool) -> None:
    """Set (or reset) per-database settings a production server would have."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT current_database()")
        name = cur.fetchone()[0]
        for setting, value in TUNED.items():
            if on:
                cur.execute(f'ALTER DATABASE "{name}" SET {setting} = %s', (value,))
            else:
                cur.execute(f'ALTER DATABASE "{name}" RESET {setting}')
    connection.close()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
