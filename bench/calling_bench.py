"""Benchmark of the calling engine: genomes/s for align+call+annotate vs raw mappy.

Run as ``python bench/calling_bench.py``; prints a markdown table and appends it with the
machine description to ``bench/RESULTS.md`` under ``## Calling engine``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import mappy  # noqa: E402

from analyses.calling.align import PRESET  # noqa: E402
from analyses.calling.engine import call_records  # noqa: E402
from analyses.calling.reference import read_genbank  # noqa: E402
from analyses.calling.seqio import read_fasta  # noqa: E402

DATA = Path(os.environ.get("EMGSONAR_SHARED_DATA", ROOT.parent / "shared" / "data"))
REFERENCE = DATA / "sars-cov-2" / "MN908947.nextclade.gb"
FASTA = DATA / "peers" / "sars-cov-2" / "genbank_open_1000" / "sequences.fasta.xz"


def _machine() -> str:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    uname = subprocess.run(
        ["uname", "-a"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return f"`{uname}`, nproc {os.cpu_count()}, CPU {cpu}"


def _load() -> str:
    """1/5/15-minute load averages: other work on the machine skews the numbers."""
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    load_before = _load()
    reference = read_genbank([REFERENCE])
    records = list(read_fasta(FASTA))
    n = len(records)
    rows = []

    aligner = mappy.Aligner(seq=reference.replicons[0].sequence, preset=PRESET, sc_ambi=0)
    # the engine aligns each distinct sequence once (seqhash), so raw mappy gets the same work
    unique = list({rec.seqhash: rec.sequence for rec in records}.values())
    raw = float("inf")
    for _ in range(2):  # best of two: the first pass also warms caches
        start = time.perf_counter()
        for sequence in unique:
            for _hit in aligner.map(sequence, cs=True):
                pass
        raw = min(raw, time.perf_counter() - start)
    rows.append((f"raw mappy map(cs=True) of the {len(unique)} distinct sequences, 1 core", raw))

    for jobs in (1, args.jobs):
        start = time.perf_counter()
        results = list(call_records(records, reference, jobs=jobs))
        elapsed = time.perf_counter() - start
        assert len(results) == n and not any(r.errors for r in results)
        rows.append((f"align+call+annotate, --jobs {jobs}", elapsed))

    lines = [
        f"### {datetime.datetime.now().isoformat(timespec='seconds')}",
        "",
        f"Machine: {_machine()}. Input: genbank_open_1000 ({n} SARS-CoV-2 genomes), "
        f"reference {reference.accession} (Nextclade CDS set), preset {PRESET}. "
        f"Load average (1/5/15 min) before {load_before}, after {_load()}.",
        "",
        "| what | seconds | genomes/s | x raw mappy time |",
        "|---|---:|---:|---:|",
    ]
    for what, seconds in rows:
        lines.append(f"| {what} | {seconds:.2f} | {n / seconds:.0f} | {seconds / raw:.2f} |")
    table = "\n".join(lines) + "\n"
    print(table)
    path = args.results
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if "## Calling engine" not in text:
        text = text.rstrip("\n") + "\n\n## Calling engine\n"
    head, _, tail = text.partition("## Calling engine\n")
    # keep other sections after ours untouched
    rest_index = tail.find("\n## ")
    ours, others = (
        (tail, "") if rest_index < 0 else (tail[: rest_index + 1], tail[rest_index + 1 :])
    )
    path.write_text(
        head
        + "## Calling engine\n"
        + ours.rstrip("\n")
        + "\n\n"
        + table
        + ("\n" + others if others else "")
    )


if __name__ == "__main__":
    main()
