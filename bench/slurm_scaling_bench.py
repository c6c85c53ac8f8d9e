"""Import throughput against the number of Slurm nodes, on the simulated multi-node cluster.

Why: issue 11 asks to show that the align step, one job array per import, spreads over the
nodes a cluster has. This machine has one host and 2 cores, so the nodes are simulated
(``slurm-dev-environment/multinode.sh``: one slurmctld, slurmd ``n1``..``n3`` of 1 CPU each on
their own ports). Each run drains every node but the first k (``scontrol update ... state=drain``)
and imports the same genomes with the Slurm executor; 2 physical cores cap the scaling (the
third node, and the flow's own annotate/load, share them).

Input: genomes as ``bench/import_bench.py`` makes them (the 1,000 real genomes of
genbank_open_1000, copied with 1-8 random substitutions, fixed seed). Each run starts from an
empty database (its own, ``emgsonar_h3_scaling``; reference imported untimed) and work directory.
While a run goes, ``squeue`` is sampled every second (the first view with running tasks is
reported, and how many arrays the run's steps submitted).

    python bench/slurm_scaling_bench.py [--genomes 10000] [--nodes 1 2 3] [--chunk-size 500]
        [--max-running 3] [--no-write]

Appends (or replaces) the section "## Slurm scaling (simulated nodes)" of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import import_bench  # noqa: E402  (bench/ is not a package)

OUT = ROOT / "bench" / "out" / "slurm_scaling"
MULTINODE = ROOT / "slurm-dev-environment" / "multinode.sh"
MULTI_CONF = (
    Path(os.environ.get("EMGSONAR_SLURM_MULTI_STATE_DIR", ROOT / ".data" / "slurm-multi"))
    / "slurm.conf"
)
NODES = ("n1", "n2", "n3")
SECTION = "## Slurm scaling (simulated nodes)"
SQUEUE_FORMAT = "JobArrayID:24,Name:28,Comment:26,State:10,Reason:20,NodeList:8"


def multinode_up() -> str:
    """Start (or find running) the multi-node cluster; its "ready" line."""
    proc = subprocess.run(["bash", str(MULTINODE), "up"], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{MULTINODE} up failed:\n{proc.stderr}")
    return proc.stdout.strip()


def slurm(*args: str) -> str:
    """A Slurm command against the multi-node cluster (never the dev cluster); its stdout."""
    env = {**os.environ, "SLURM_CONF": str(MULTI_CONF)}
    proc = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def node_states() -> dict[str, str]:
    """Each node's short state (idle, drain, down*, ...)."""
    out = slurm("sinfo", "-h", "-N", "-o", "%N %t")
    return dict(line.split() for line in out.splitlines() if line.strip())


def use_nodes(count: int, reason: str = "bench: fewer nodes") -> None:
    """Leave the first ``count`` nodes available and drain the others; wait until it holds."""
    for name in NODES[:count]:
        if node_states().get(name, "").startswith(("drain", "down", "drng")):
            slurm("scontrol", "update", f"NodeName={name}", "State=RESUME")
    for name in NODES[count:]:
        slurm("scontrol", "update", f"NodeName={name}", "State=DRAIN", f"Reason={reason}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = node_states()
        if all(states.get(n) == "idle" for n in NODES[:count]) and all(
            states.get(n, "").startswith("drain") for n in NODES[count:]
        ):
            return
        time.sleep(0.5)
    raise SystemExit(f"nodes did not settle for {count} node(s): {node_states()}")


class SqueueSampler:
    """Samples ``squeue`` every second while a run goes: the first view that shows running
    array tasks, and every array job id seen (one per import step is the claim)."""

    def __init__(self) -> None:
        self.view = ""
        self.arrays: dict[str, str] = {}
        self.max_running = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> SqueueSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            try:
                out = slurm("squeue", "-O", SQUEUE_FORMAT)
                ids = slurm("squeue", "-h", "-r", "-O", "ArrayJobID:16,Name:40,State:12")
            except RuntimeError:
                continue
            running = 0
            for line in ids.splitlines():
                parts = line.split()
                if len(parts) == 3:
                    self.arrays.setdefault(parts[0], parts[1])
                    running += parts[2] == "RUNNING"
            self.max_running = max(self.max_running, running)
            if not self.view and running and "PENDING" in out:
                self.view = out.rstrip()


def run_once(fasta: Path, nodes: int, chunk_size: int, max_running: int) -> dict[str, object]:
    """One Slurm import from an empty database and work directory with ``nodes`` nodes."""
    from django.conf import settings
    from django.core.management import call_command

    from workflows.flows.import_reference import import_reference
    from workflows.flows.import_samples import import_samples

    use_nodes(nodes)
    call_command("flush", interactive=False, verbosity=0)
    work = OUT / f"work-{nodes}"
    shutil.rmtree(work, ignore_errors=True)
    cfg = settings.EMGSONAR_CONFIG
    settings.EMGSONAR_CONFIG = cfg.model_copy(
        update={
            "imports": cfg.imports.model_copy(update={"work_dir": work / "local"}),
            "slurm": cfg.slurm.model_copy(
                update={
                    "work_dir": work / "slurm",
                    "conf": MULTI_CONF,
                    "array_max_running": max_running,
                }
            ),
        }
    )
    import_reference(genbank=[str(import_bench.REFERENCE)])  # untimed
    load = os.getloadavg()
    start = time.perf_counter()
    with SqueueSampler() as sampler:
        result = import_samples(
            reference="MN908947.3", fasta=str(fasta), executor="slurm", chunk_size=chunk_size
        )
    total = time.perf_counter() - start
    settings.EMGSONAR_CONFIG = cfg
    return {
        "nodes": nodes,
        "total": total,
        "load_before": load,
        "load_after": os.getloadavg(),
        "squeue": sampler.view,
        "arrays": dict(sampler.arrays),
        "max_running": sampler.max_running,
        **result,
    }


def setup_django(db_name: str) -> None:
    """Own database (created and migrated), own Prefect home with a temporary server."""
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db_name]).fetchone():
            c.execute(f'CREATE DATABASE "{db_name}"')
    os.environ["DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{db_name}"
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.pop("PREFECT_API_URL", None)
    OUT.mkdir(parents=True, exist_ok=True)
    os.environ["PREFECT_HOME"] = str(OUT / "prefect-home")
    from django.core.management import call_command

    import workflows.prefect_utils.django_setup  # noqa: F401

    call_command("migrate", verbosity=0, interactive=False)


def machine_line() -> str:
    """Machine, date and load: what the figures depend on."""
    return (
        f"Machine: `{platform.platform()}`, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; "
        f"date {datetime.now(UTC).strftime('%Y-%m-%d %H:%M')} UTC; load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end."
    )


def report(runs: list[dict], n: int, chunk_size: int, max_running: int, ready: str) -> str:
    lines = [
        SECTION,
        "",
        f"### {datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%S')}",
        "",
        machine_line(),
        f"Cluster: `{ready}`. Input: {n:,} distinct genomes (bench/import_bench.py's "
        f"generator), chunk size {chunk_size} ({-(-n // chunk_size)} array tasks), "
        f"`EMGSONAR_SLURM__ARRAY_MAX_RUNNING={max_running}`, executor slurm, "
        "`python bench/slurm_scaling_bench.py`. Each run: empty database and work directory; "
        "nodes beyond the first k drained.",
        "",
        "| nodes | align s | total s | genomes/s (total) | speed-up | tasks running at once "
        "| arrays submitted | load avg before → after |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    base = runs[0]["total"] if runs else 1.0
    for run in runs:
        align = run.get("steps", {}).get("align", {}).get("seconds", float("nan"))
        lines.append(
            f"| {run['nodes']} | {align:.1f} | {run['total']:.1f} | {n / run['total']:,.0f} | "
            f"{base / run['total']:.2f}x | {run['max_running']} | {len(run['arrays'])} "
            f"({', '.join(sorted(set(run['arrays'].values())))}) | "
            f"{run['load_before'][0]:.2f} → {run['load_after'][0]:.2f} |"
        )
    view = next((r for r in reversed(runs) if r["squeue"]), None)
    if view:
        lines += [
            "",
            f"`squeue -O {SQUEUE_FORMAT}` during the {view['nodes']}-node run (one line for "
            "the array's pending tasks, one per running task):",
            "",
            "```",
            view["squeue"],
            "```",
        ]
    lines += [
        "",
        "Honest limits: the 3 nodes are 3 slurmd on one 2-core host (1 CPU each), so node 3 "
        "oversubscribes the cores and competes with the flow process, which annotates and "
        "loads chunks while later tasks align; beyond 2 nodes there is no more hardware (a "
        "third job can only take a larger share of cores other processes also use). "
        "What the runs show is that one array per import spreads its tasks over every node "
        "available, with the throttle honoured.",
        "",
    ]
    for run in runs:
        counts = run.get("counts", {})
        lines.append(
            f"- {run['nodes']} node(s): {counts.get('records_read')} read, "
            f"{counts.get('samples_created')} samples created, {counts.get('records_failed')} "
            f"failed, {counts.get('chunks')} chunks."
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--genomes", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20_000)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 3], choices=[1, 2, 3])
    parser.add_argument("--max-running", type=int, default=3, help="array throttle %%N")
    parser.add_argument("--db", default="emgsonar_h3_scaling")
    parser.add_argument("--no-write", action="store_true", help="print, don't touch RESULTS.md")
    args = parser.parse_args()

    fasta = import_bench.make_genomes(args.genomes, args.seed)
    ready = multinode_up()
    setup_django(args.db)
    runs = []
    try:
        for nodes in args.nodes:
            run = run_once(fasta, nodes, args.chunk_size, args.max_running)
            print(
                f"{nodes} node(s): {run['total']:.1f} s, {args.genomes / run['total']:.0f} "
                f"genomes/s, at most {run['max_running']} tasks running",
                file=sys.stderr,
            )
            runs.append(run)
    finally:
        use_nodes(len(NODES))
    text = report(runs, args.genomes, args.chunk_size, args.max_running, ready)
    print(text)
    if not args.no_write:
        import_bench.write_section(text, SECTION)


if __name__ == "__main__":
    main()
