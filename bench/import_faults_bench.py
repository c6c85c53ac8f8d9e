"""A large import through Slurm job arrays with faults injected, against a clean local import.

Why: issue 11 point 6 asks to show by measurement that the 100,000-genome import runs through
job arrays on Slurm, survives the faults of the fault tests injected once each during the run,
and still ends with the same database as a clean local run. The tests (tests/flows/test_faults.py,
tests/slurm/) prove each fault on 1,000 genomes; this runs all of them in one large import.

1. clean: a fresh database (``emgsonar_h3_clean``), the reference, then
   ``manage.py import_samples --executor local`` of the file, timed.
2. faults: a fresh database (``emgsonar_h3_faults``), the reference, then
   ``manage.py import_samples --executor slurm`` against the simulated multi-node cluster
   (``slurm-dev-environment/multinode.sh``, or ``--slurm-conf`` another one), while this script
   watches ``squeue`` and the database and injects, in this order:

   - ``scancel`` of one running task of the align array (Slurm: CANCELLED → resubmitted);
   - ``scontrol update NodeName=n2 State=DOWN`` while a task runs on n2, ``State=RESUME``
     ``--down-seconds`` later (the node's tasks are killed; requeued or resubmitted);
   - SIGKILL of the flow process and every process it started once samples are being loaded
     (``--kill-at`` of the genomes in the database), then the same command again, to the end.

3. compare: both databases dumped with ``tests/helpers/db_dump.py`` (each row without ids,
   timestamps and run references, references replaced by the referenced row's content), one
   SHA-256 per row, compared table by table as multisets.

Genomes are generated as bench/import_bench.py does. Both imports talk to one Prefect server
this script starts (its own PREFECT_HOME and port), as an operator's would, so killing the
flow does not kill the server.

    python bench/import_faults_bench.py [--genomes 100000] [--chunk-size 500]
        [--max-running 3] [--kill-at 0.4] [--no-write]

Appends (or replaces) the section "## Import with faults on Slurm" of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import import_bench  # noqa: E402  (bench/ is not a package)
import slurm_scaling_bench as scaling  # noqa: E402

OUT = ROOT / "bench" / "out" / "import_faults"
SECTION = "## Import with faults on Slurm"
REFERENCE_ACC = "MN908947.3"
PG = "postgresql://postgres@127.0.0.1:5432"
FAULT_NODE = "n2"


@dataclass
class Events:
    """What was injected when (seconds since the faulted import started)."""

    t0: float = field(default_factory=time.monotonic)
    log: list[tuple[float, str]] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.log.append((time.monotonic() - self.t0, text))
        print(f"[{time.monotonic() - self.t0:7.1f} s] {text}", file=sys.stderr)


# --- databases ---------------------------------------------------------------------------


def fresh_database(name: str, env: dict[str, str]) -> None:
    """Drop and create ``name``, migrate it and import the reference (untimed)."""
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    manage(["migrate", "--no-input", "-v", "0"], env)
    manage(["import_reference", "--genbank", str(import_bench.REFERENCE)], env)


def db_env(name: str, base: dict[str, str], work: Path) -> dict[str, str]:
    """The environment of a ``manage.py`` working on database ``name`` and directory ``work``."""
    return {
        **base,
        "DATABASE_URL": f"{PG}/{name}",
        "EMGSONAR_IMPORTS__WORK_DIR": str(work / "local"),
        "EMGSONAR_IMPORTS__DOWNLOAD_DIR": str(work / "downloads"),
        "EMGSONAR_SLURM__WORK_DIR": str(work / "slurm"),
    }


def manage(args: list[str], env: dict[str, str], log: Path | None = None) -> float:
    """Run ``manage.py args`` to the end (exit 0 or SystemExit); returns its wall seconds."""
    start = time.perf_counter()
    with log.open("ab") if log else open(os.devnull, "wb") as out:
        proc = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if proc.returncode:
        tail = log.read_text()[-3000:] if log else ""
        raise SystemExit(f"manage.py {' '.join(args)} exited {proc.returncode}\n{tail}")
    return time.perf_counter() - start


def scalar(db: str, sql: str) -> object:
    import psycopg

    with psycopg.connect(f"{PG}/{db}", autocommit=True) as c:
        row = c.execute(sql).fetchone()
    return row[0] if row else None


def db_figures(db: str) -> dict[str, object]:
    """Size and row counts that say what was written (and whether a run completed)."""
    return {
        "bytes": scalar(db, "SELECT pg_database_size(current_database())"),
        "samples": scalar(db, "SELECT count(*) FROM ena_like_sample"),
        "runs": scalar(
            db,
            "SELECT string_agg(state, ',' ORDER BY id) FROM emgsonar_importrun "
            "WHERE kind = 'samples'",
        ),
        "jobs": scalar(db, "SELECT count(*) FROM workflows_clusterjob"),
        "resubmitted": scalar(db, "SELECT count(*) FROM workflows_clusterjob WHERE attempts > 1"),
    }


# --- dump (subprocess: one database per process) -------------------------------------------


def dump_digests(db: str, out: Path) -> None:
    """Write ``{table: sorted row digests}`` of database ``db`` (tests/helpers/db_dump.py)."""
    os.environ["DATABASE_URL"] = f"{PG}/{db}"
    import workflows.prefect_utils.django_setup  # noqa: F401
    from tests.helpers.db_dump import dump_database

    dump = dump_database()
    digests = {
        table: sorted(hashlib.sha256(repr(row).encode()).hexdigest()[:24] for row in rows)
        for table, rows in dump.items()
    }
    out.write_text(json.dumps(digests))


def dump(db: str, base: dict[str, str]) -> tuple[Path, float]:
    """Dump ``db`` in a process of its own; the file and the seconds it took."""
    out = OUT / f"{db}.digests.json"
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, __file__, "dump", "--db", db, "--out", str(out)],
        cwd=ROOT,
        env={**base, "DATABASE_URL": f"{PG}/{db}"},
        check=True,
    )
    return out, time.perf_counter() - start


def compare(a: Path, b: Path) -> tuple[bool, list[str]]:
    """Table by table: equal multisets of row digests? Lines for the tables that differ."""
    left, right = json.loads(a.read_text()), json.loads(b.read_text())
    lines, rows = [], 0
    for table in sorted(set(left) | set(right)):
        ca, cb = Counter(left.get(table, [])), Counter(right.get(table, []))
        rows += sum(ca.values())
        if ca != cb:
            lines.append(
                f"{table}: {sum(ca.values())} vs {sum(cb.values())} rows, "
                f"{sum((ca - cb).values())} only in the clean run, "
                f"{sum((cb - ca).values())} only in the faulted one"
            )
    equal = not lines
    if equal:
        lines.append(f"{len(left)} tables, {rows:,} rows: every row equal")
    return equal, lines


# --- Prefect server ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_prefect(base: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """A Prefect server of our own (own PREFECT_HOME, free port); its process and API URL."""
    port = free_port()
    home = OUT / "prefect-home"
    home.mkdir(parents=True, exist_ok=True)
    env = {**base, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "prefect"),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=(OUT / "prefect-server.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"prefect server exited; see {OUT / 'prefect-server.log'}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return proc, url
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"prefect server did not answer in 120 s; see {OUT / 'prefect-server.log'}")


def stop_prefect(proc: subprocess.Popen) -> None:
    """TERM the server's process group (it was started in a session of its own), then KILL."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)


# --- the faulted import --------------------------------------------------------------------


def array_tasks() -> list[tuple[str, str, str]]:
    """(task job id, state, node) of every align-array task in the multi-node queue."""
    out = scaling.slurm("squeue", "-h", "-r", "-O", "JobArrayID:24,Name:40,State:14,NodeList:12")
    tasks = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and re.fullmatch(r"emgsonar-run\d+-align(-\d+)?", parts[1]):
            tasks.append((parts[0], parts[2], parts[3] if len(parts) > 3 else ""))
    return tasks


def faulted_import(
    args: list[str],
    env: dict[str, str],
    db: str,
    n: int,
    kill_at: float,
    down_seconds: float,
    log: Path,
) -> dict[str, object]:
    """Run the Slurm import, inject the three faults once each, re-run after the kill."""
    from tests.flows.test_faults import kill_hard

    events = Events()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    events.add(f"import started (pid {proc.pid})")
    try:
        return _inject(proc, events, env, args, db, n, kill_at, down_seconds, log)
    finally:
        if proc.poll() is None:  # this script failed: leave no import behind
            kill_hard(proc)


def _inject(
    proc: subprocess.Popen,
    events: Events,
    env: dict[str, str],
    args: list[str],
    db: str,
    n: int,
    kill_at: float,
    down_seconds: float,
    log: Path,
) -> dict[str, object]:
    """The watch loop of :func:`faulted_import`: each fault once, in order, then the re-run."""
    from tests.flows.test_faults import kill_hard

    squeue_view = ""
    cancelled = down_at = resumed_at = None
    killed = False
    while True:
        if proc.poll() is not None:
            raise SystemExit(
                f"the import ended (exit {proc.returncode}) before every fault was injected "
                f"(cancelled={cancelled}, node down={down_at}, killed={killed}); use more "
                f"genomes or a smaller --kill-at.\n{log.read_text()[-3000:]}"
            )
        tasks = array_tasks()
        running = [t for t in tasks if t[1] == "RUNNING"]
        if not squeue_view and running and any(t[1] == "PENDING" for t in tasks):
            squeue_view = scaling.slurm("squeue", "-O", scaling.SQUEUE_FORMAT).rstrip()
        if cancelled is None and running:
            cancelled = running[0][0]
            scaling.slurm("scancel", cancelled)
            events.add(f"scancel {cancelled} (running on {running[0][2]})")
        elif cancelled and down_at is None:
            on_node = [t[0] for t in running if t[2] == FAULT_NODE and t[0] != cancelled]
            if on_node:
                scaling.slurm(
                    "scontrol",
                    "update",
                    f"NodeName={FAULT_NODE}",
                    "State=DOWN",
                    "Reason=bench-fault",
                )
                down_at = time.monotonic()
                events.add(f"node {FAULT_NODE} set DOWN while running {', '.join(on_node)}")
        elif down_at and resumed_at is None and time.monotonic() - down_at >= down_seconds:
            before = scaling.node_states().get(FAULT_NODE, "?")
            scaling.slurm("scontrol", "update", f"NodeName={FAULT_NODE}", "State=RESUME")
            resumed_at = time.monotonic()
            events.add(
                f"node {FAULT_NODE} resumed after {resumed_at - down_at:.0f} s (was {before}; "
                f"tasks pending meanwhile: {sum(t[1] == 'PENDING' for t in tasks)})"
            )
        elif resumed_at and not killed:
            loaded = int(scalar(db, "SELECT count(*) FROM ena_like_sample") or 0)
            if kill_at * n <= loaded < n:
                kill_hard(proc)
                killed = True
                events.add(
                    f"flow process and its children SIGKILLed with {loaded:,} samples loaded"
                )
                break
        time.sleep(0.5)
    first = time.monotonic() - events.t0
    states = scalar(
        db, "SELECT string_agg(state, ',') FROM emgsonar_importrun WHERE kind='samples'"
    )
    events.add(f"after the kill: import runs {states}; re-running the same command")
    rerun_start = time.monotonic()
    manage(args, env, log)
    rerun = time.monotonic() - rerun_start
    events.add(f"re-run completed in {rerun:.1f} s")
    return {
        "first": first,
        "rerun": rerun,
        "total": time.monotonic() - events.t0,
        "events": events.log,
        "squeue": squeue_view,
    }


# --- report --------------------------------------------------------------------------------


def mb(value: object) -> str:
    return f"{int(value) / 2**20:,.0f} MiB"


def report(
    n: int,
    chunk: int,
    max_running: int,
    ready: str,
    clean: dict,
    faults: dict,
    verdict: tuple[bool, list[str]],
    dumps: dict[str, float],
) -> str:
    equal, lines_ = verdict
    fc, ff = clean["figures"], faults["figures"]
    lines = [
        SECTION,
        "",
        f"### {datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%S')}",
        "",
        scaling.machine_line(),
        f"Input: {n:,} distinct genomes (bench/import_bench.py's generator, seed {n}), chunk "
        f"size {chunk} ({-(-n // chunk)} array tasks), reference {REFERENCE_ACC}, "
        f"`python bench/import_faults_bench.py --genomes {n}`. Slurm: `{ready}`, "
        f"`EMGSONAR_SLURM__ARRAY_MAX_RUNNING={max_running}`. Both imports: `manage.py "
        "import_samples` from an empty database (reference imported first, untimed), one "
        "Prefect server of the script's own.",
        "",
        "| run | seconds | genomes/s | database | per genome | import runs | cluster jobs "
        "(resubmitted) |",
        "|---|---:|---:|---:|---:|---|---|",
        f"| clean, local executor | {clean['seconds']:.1f} | {n / clean['seconds']:,.0f} | "
        f"{mb(fc['bytes'])} | {int(fc['bytes']) / n / 1024:.1f} KiB | {fc['runs']} | "
        f"{fc['jobs']} ({fc['resubmitted']}) |",
        f"| slurm with faults: until the SIGKILL | {faults['first']:.1f} | | | | | |",
        f"| slurm with faults: re-run | {faults['rerun']:.1f} | | | | | |",
        f"| slurm with faults: end to end | {faults['total']:.1f} | "
        f"{n / faults['total']:,.0f} | {mb(ff['bytes'])} | "
        f"{int(ff['bytes']) / n / 1024:.1f} KiB | {ff['runs']} | {ff['jobs']} "
        f"({ff['resubmitted']}) |",
        "",
        "Faults injected (seconds from the faulted import's start):",
        "",
        *[f"- {t:.1f} s: {text}" for t, text in faults["events"]],
        "",
        f"**Verdict: {'identical' if equal else 'DIFFERENT'}** (row by row, "
        "tests/helpers/db_dump.py, one SHA-256 per row; dumps took "
        f"{dumps['clean']:.0f} s and {dumps['faults']:.0f} s): " + "; ".join(lines_),
        "",
        "Database size is `pg_database_size` (tables, indexes and the reference); the two "
        "differ by dead rows and vacuum timing, not by content.",
    ]
    if faults["squeue"]:
        lines += [
            "",
            "`squeue` while the align array ran (before the faults):",
            "",
            "```",
            faults["squeue"],
            "```",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    d = sub.add_parser("dump", help="(internal) write a database's row digests")
    d.add_argument("--db", required=True)
    d.add_argument("--out", type=Path, required=True)
    parser.add_argument("--genomes", type=int, default=100_000)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--max-running", type=int, default=3, help="array throttle %%N")
    parser.add_argument("--kill-at", type=float, default=0.4, help="share of genomes loaded")
    parser.add_argument("--down-seconds", type=float, default=10.0)
    parser.add_argument("--clean-db", default="emgsonar_h3_clean")
    parser.add_argument("--faults-db", default="emgsonar_h3_faults")
    parser.add_argument("--skip-clean", action="store_true", help="reuse the clean database")
    parser.add_argument("--no-write", action="store_true", help="print, don't touch RESULTS.md")
    args = parser.parse_args()
    if args.command == "dump":
        dump_digests(args.db, args.out)
        return

    OUT.mkdir(parents=True, exist_ok=True)
    for old_log in ("faults.log", *(() if args.skip_clean else ("clean.log",))):
        (OUT / old_log).unlink(missing_ok=True)
    fasta = import_bench.make_genomes(args.genomes, args.genomes)
    ready = scaling.multinode_up()
    scaling.use_nodes(len(scaling.NODES))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("EMGSONAR_", "SLURM_"))}
    base |= {"PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "emgsonar.settings"}
    server, api_url = start_prefect(base)
    base |= {"PREFECT_API_URL": api_url, "PREFECT_HOME": str(OUT / "prefect-home")}
    import_args = [
        "import_samples",
        "-r",
        REFERENCE_ACC,
        "-f",
        str(fasta),
        "--chunk-size",
        str(args.chunk_size),
    ]
    try:
        clean: dict[str, object] = {}
        clean_env = db_env(args.clean_db, base, OUT / "work-clean")
        if not args.skip_clean:
            shutil.rmtree(OUT / "work-clean", ignore_errors=True)
            fresh_database(args.clean_db, clean_env)
            clean["seconds"] = manage(
                [*import_args, "--executor", "local"], clean_env, OUT / "clean.log"
            )
            (OUT / "clean.seconds").write_text(str(clean["seconds"]))
            print(f"clean local import: {clean['seconds']:.1f} s", file=sys.stderr)
        else:
            clean["seconds"] = float((OUT / "clean.seconds").read_text())
        clean["figures"] = db_figures(args.clean_db)

        shutil.rmtree(OUT / "work-faults", ignore_errors=True)
        faults_env = db_env(args.faults_db, base, OUT / "work-faults") | {
            "EMGSONAR_SLURM__CONF": str(scaling.MULTI_CONF),
            "EMGSONAR_SLURM__ARRAY_MAX_RUNNING": str(args.max_running),
        }
        fresh_database(args.faults_db, faults_env)
        os.environ["DATABASE_URL"] = f"{PG}/{args.faults_db}"
        import workflows.prefect_utils.django_setup  # noqa: F401  (for kill_hard's module)

        faults = faulted_import(
            [*import_args, "--executor", "slurm"],
            faults_env,
            args.faults_db,
            args.genomes,
            args.kill_at,
            args.down_seconds,
            OUT / "faults.log",
        )
        faults["figures"] = db_figures(args.faults_db)
    finally:
        stop_prefect(server)
        scaling.use_nodes(len(scaling.NODES))
    clean_dump, clean_secs = dump(args.clean_db, base)
    faults_dump, faults_secs = dump(args.faults_db, base)
    verdict = compare(clean_dump, faults_dump)
    text = report(
        args.genomes,
        args.chunk_size,
        args.max_running,
        ready,
        clean,
        faults,
        verdict,
        {"clean": clean_secs, "faults": faults_secs},
    )
    print(text)
    if not args.no_write:
        import_bench.write_section(text, SECTION)
    if not verdict[0]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
