"""Align and call one chunk: the unit of work of a Slurm job or of the local executor.

``python -m workflows.steps.align_chunk --reference REF.json --fasta CHUNK.fasta
--out RESULT.jsonl [--jobs N]`` reads the reference written by
:func:`analyses.results_io.write_reference_spec` (no database needed on the node), calls every
record with the calling engine and writes the results atomically
(:func:`analyses.results_io.write_results`). The same input always gives a byte-identical file
(results in input order, no time stamps), so a re-run can be compared with or skip a finished one.

A record that cannot be called (bad characters, does not align) becomes a result with
``errors``: it is listed, never dropped. A file-level problem (missing, not FASTA, truncated
archive, broken reference file) prints ``ERROR: <message>`` to stderr and exits with status 2,
leaving no result file behind.

Framework-free on purpose: this module must not import Django or Prefect (a job only needs the
virtualenv and the shared work directory).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from analyses.calling.engine import call_records
from analyses.calling.reference import ReferenceSpec
from analyses.calling.seqio import harmonised_records
from analyses.calling.types import SequenceResult
from analyses.results_io import read_reference_spec, write_results
from emgsonar.errors import EmgsonarError, InputFormatError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChunkSummary:
    """What one chunk gave: records read, called, failed (with reasons)."""

    out: str
    records: int
    called: int
    failed: tuple[tuple[str, str], ...]


def validate_chunk_args(reference: Path | ReferenceSpec, fasta: Path, out: Path) -> None:
    """Check the paths before any work (house rule 6).

    :raises InputFormatError: missing reference or FASTA file, or an output that is a directory.
    """
    if not isinstance(reference, ReferenceSpec) and not Path(reference).is_file():
        raise InputFormatError("no such reference file", path=reference)
    if not Path(fasta).is_file():
        raise InputFormatError("no such FASTA file", path=fasta)
    if Path(out).is_dir():
        raise InputFormatError("output path is a directory", path=out)


def align_chunk(
    reference: Path | ReferenceSpec, fasta: Path, out: Path, *, jobs: int = 1
) -> ChunkSummary:
    """Call every record of ``fasta`` and write the results file ``out`` atomically.

    :param reference: a reference JSON file, or the spec itself (in-process callers).
    :param jobs: worker processes (0 = all cores).
    :raises InputFormatError: file-level problems (nothing is written).
    """
    validate_chunk_args(reference, fasta, out)
    spec = reference if isinstance(reference, ReferenceSpec) else read_reference_spec(reference)
    bad: list[SequenceResult] = []
    results = list(call_records(harmonised_records(Path(fasta), bad), spec, jobs=jobs))
    results.extend(bad)
    write_results(Path(out), spec, results)
    failed = tuple((r.name, "; ".join(r.errors)) for r in results if r.errors)
    return ChunkSummary(str(out), len(results), len(results) - len(failed), failed)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m workflows.steps.align_chunk", description="Align and call one FASTA chunk."
    )
    parser.add_argument("--reference", required=True, type=Path, help="reference JSON")
    parser.add_argument("--fasta", required=True, type=Path, help="FASTA chunk")
    parser.add_argument("--out", required=True, type=Path, help="results file (JSON Lines)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (0 = all cores)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        summary = align_chunk(args.reference, args.fasta, args.out, jobs=args.jobs)
    except EmgsonarError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    print(
        f"{summary.records} record(s), {summary.called} called, {len(summary.failed)} failed "
        f"-> {summary.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
