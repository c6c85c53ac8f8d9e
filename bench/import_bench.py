"""End-to-end benchmark of the import pipeline: 20,000 distinct genomes through ``import_samples``.

Why: the calling engine alone is benchmarked in ``bench/calling_bench.py``; what an operator
waits for is the whole flow — split, align jobs (local processes or Slurm), annotate, load —
with its Prefect and database overhead. The target is >= 150 genomes/s end to end with the
local executor on the 2-core machines we run on.

Input: the 1,000 real genomes of ``peers/sars-cov-2/genbank_open_1000``, each copied 20 times
with 1-8 random extra substitutions (fixed seed), so every genome is distinct and must be
aligned (no seqhash shortcut). Each executor run starts from an empty database (reference
imported first, untimed) and an empty work directory.

    python bench/import_bench.py [--genomes 20000] [--executor local slurm] [--chunk-size 500]

Writes the section "## Import pipeline" of bench/RESULTS.md (replacing an earlier one).
Uses its own database (``emgsonar_import_bench``, created if missing) and a temporary Prefect
server, so it disturbs nothing else.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import lzma
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "import_bench"
RESULTS = ROOT / "bench" / "RESULTS.md"
SHARED = Path(os.environ.get("EMGSONAR_SHARED_DATA", ROOT.parent / "shared" / "data"))
SOURCE = SHARED / "peers" / "sars-cov-2" / "genbank_open_1000" / "sequences.fasta.xz"
REFERENCE = SHARED / "sars-cov-2" / "MN908947.nextclade.gb"
DB_NAME = "emgsonar_import_bench"
SECTION = "## Import pipeline"


def read_fasta(path: Path) -> list[tuple[str, str]]:
    """(id, sequence) of every record."""
    records: list[tuple[str, str]] = []
    name, parts = None, []
    with lzma.open(path, "rt") as handle:
        for line in handle:
            line = line.strip()
            if line.startswith(">"):
                if name is not None:
                    records.append((name, "".join(parts)))
                name, parts = line[1:].split()[0], []
            elif line:
                parts.append(line)
    if name is not None:
        records.append((name, "".join(parts)))
    return records


def make_genomes(n: int, seed: int) -> Path:
    """Write ``n`` distinct genomes (gzip level 1) derived from the 1,000 real ones."""
    path = OUT / f"genomes_{n}_seed{seed}.fasta.gz"
    if path.is_file():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    source = read_fasta(SOURCE)
    seen: set[str] = set()
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wt", compresslevel=1) as out:
        for i in range(n):
            name, seq = source[i % len(source)]
            copy = i // len(source)
            chars = list(seq)
            acgt = [p for p in range(len(chars)) if chars[p] in "ACGT"]
            while True:
                for p in rng.sample(acgt, rng.randint(1, 8)):
                    chars[p] = rng.choice([b for b in "ACGT" if b != chars[p]])
                text = "".join(chars)
                digest = hashlib.sha256(text.encode()).hexdigest()
                if digest not in seen:
                    break
            seen.add(digest)
            out.write(f">{name}.bench{copy:02d}\n")
            for j in range(0, len(text), 100):
                out.write(text[j : j + 100] + "\n")
    tmp.rename(path)
    return path


def ensure_database() -> None:
    """Create the benchmark's own database (Postgres on 127.0.0.1:5432, user postgres)."""
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            c.execute(f'CREATE DATABASE "{DB_NAME}"')


def setup_django() -> None:
    os.environ["DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}"
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.pop("PREFECT_API_URL", None)
    os.environ["PREFECT_HOME"] = str(OUT / "prefect-home")
    sys.path.insert(0, str(ROOT))
    from django.core.management import call_command

    import workflows.prefect_utils.django_setup  # noqa: F401

    call_command("migrate", verbosity=0, interactive=False)


def run_once(fasta: Path, executor: str, chunk_size: int) -> dict[str, object]:
    """One import from an empty database and work directory; returns figures."""
    from django.conf import settings
    from django.core.management import call_command

    from workflows.flows.import_reference import import_reference
    from workflows.flows.import_samples import import_samples

    call_command("flush", interactive=False, verbosity=0)
    work = OUT / f"work-{executor}"
    shutil.rmtree(work, ignore_errors=True)
    cfg = settings.EMGSONAR_CONFIG
    settings.EMGSONAR_CONFIG = cfg.model_copy(
        update={
            "imports": cfg.imports.model_copy(update={"work_dir": work / "local"}),
            "slurm": cfg.slurm.model_copy(update={"work_dir": work / "slurm"}),
        }
    )
    import_reference(genbank=[str(REFERENCE)])  # untimed
    start = time.perf_counter()
    result = import_samples(
        reference="MN908947.3", fasta=str(fasta), executor=executor, chunk_size=chunk_size
    )
    total = time.perf_counter() - start
    return {"executor": executor, "total": total, **result}


def slurm_up() -> None:
    proc = subprocess.run(
        ["bash", str(ROOT / "slurm-dev-environment" / "up.sh")], capture_output=True, text=True
    )
    if proc.returncode:
        raise SystemExit(f"slurm-dev-environment/up.sh failed:\n{proc.stderr}")


def report(runs: list[dict], n: int, seed: int, chunk_size: int, gen_seconds: float) -> str:
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    lines = [
        SECTION,
        "",
        f"### {datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%S')}",
        "",
        f"Machine: `{platform.platform()}`, nproc {os.cpu_count()}. Input: {n:,} distinct "
        f"genomes (the 1,000 of genbank_open_1000, each copied with 1-8 random substitutions, "
        f"seed {seed}; generated in {gen_seconds:.0f} s, gzip -1), reference MN908947.3, chunk "
        f"size {chunk_size}, `python bench/import_bench.py`. Each run: empty database and work "
        "directory, flow called in-process against a temporary Prefect server.",
        "",
        "| executor | step | seconds | genomes/s |",
        "|---|---|---:|---:|",
    ]
    for run in runs:
        steps = run.get("steps", {})
        for step in ("split", "plan", "align", "annotate", "load"):
            if step in steps:
                secs = steps[step]["seconds"]
                lines.append(f"| {run['executor']} | {step} | {secs:.1f} | {n / secs:,.0f} |")
        lines.append(
            f"| {run['executor']} | **total (flow run, end to end)** | **{run['total']:.1f}** | "
            f"**{n / run['total']:,.0f}** |"
        )
    lines += [
        "",
        "`align` is wall time from the first submission to the last chunk's job done; "
        "annotate and load run per chunk while later chunks still align, so the steps overlap "
        "and do not add up to the total.",
        "",
        f"Peak memory: flow process {self_rss:,.0f} MiB max RSS; largest child process "
        f"(a local align job or the temporary Prefect server) {child_rss:,.0f} MiB "
        "(Slurm jobs are children of slurmd, not measured here).",
        "",
    ]
    for run in runs:
        counts = run.get("counts", {})
        lines.append(
            f"- {run['executor']}: {counts.get('records_read')} records read, "
            f"{counts.get('samples_created')} samples created, "
            f"{counts.get('records_failed')} failed, {counts.get('chunks')} chunks, "
            f"new mutations {run.get('new_mutations')}."
        )
    return "\n".join(lines) + "\n"


def write_section(text: str, section: str = SECTION) -> None:
    """Replace (or append) ``section`` of bench/RESULTS.md: from its heading to the next ``## ``
    (the writer of every benchmark in bench/)."""
    old = RESULTS.read_text() if RESULTS.is_file() else "# Benchmarks\n"
    start = old.find(section)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = old.find("\n## ", start + len(section))
        new = old[:start] + text + (old[end + 1 :] if end >= 0 else "")
    RESULTS.write_text(new)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--genomes", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20_000)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--executor", nargs="+", default=["local", "slurm"])
    parser.add_argument("--no-write", action="store_true", help="print, don't touch RESULTS.md")
    args = parser.parse_args()

    t0 = time.perf_counter()
    fasta = make_genomes(args.genomes, args.seed)
    gen_seconds = time.perf_counter() - t0
    ensure_database()
    setup_django()
    if "slurm" in args.executor:
        slurm_up()
    runs = []
    for executor in args.executor:
        run = run_once(fasta, executor, args.chunk_size)
        print(
            f"{executor}: {run['total']:.1f} s, {args.genomes / run['total']:.0f} genomes/s",
            file=sys.stderr,
        )
        runs.append(run)
    text = report(runs, args.genomes, args.seed, args.chunk_size, gen_seconds)
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
