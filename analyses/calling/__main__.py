"""Command line: call mutations of a FASTA file against a GenBank reference, no database.

``python -m analyses.calling --genbank GB [GB ...] --fasta FASTA [--jobs N] [--out FILE]``
writes one TSV row per sequence, with its sequence QC (coverage, Nextclade's overall score and
status, and the rules that scored). File-level problems print ``ERROR: <message>`` to stderr and
exit with status 2; problems of one record go into its ``errors`` column.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TextIO

from analyses.calling.engine import call_records
from analyses.calling.qc import qc_issues, qc_json
from analyses.calling.reference import read_genbank
from analyses.calling.seqio import harmonised_records
from analyses.calling.types import (
    AA_DELETION,
    AA_INSERTION,
    AA_SUBSTITUTION,
    NT_AMBIGUOUS,
    NT_DELETION,
    NT_INSERTION,
    NT_SUBSTITUTION,
    SequenceResult,
)
from emgsonar.errors import EmgsonarError, InputFormatError

COLUMNS = (
    "name", "replicon", "covered", "substitutions", "ambiguous", "missing", "deletions",
    "insertions", "frameshifts", "aa_substitutions", "aa_deletions", "aa_insertions",
    "unknown_aa", "coverage", "qc_score", "qc_status", "qc_issues", "errors",
)  # fmt: skip


def register_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--genbank", nargs="+", required=True, type=Path, help="reference GenBank file(s)"
    )
    parser.add_argument("--fasta", required=True, type=Path, help="FASTA (plain, gz, xz, zst, zip)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (0 = all cores)")
    parser.add_argument("--out", type=Path, help="output TSV (default: stdout)")


def _ranges(ranges: Sequence[tuple[int, int]]) -> str:
    """1-based inclusive ``1-54,21981-21989`` from 0-based half-open ranges."""
    return ",".join(f"{a + 1}-{b}" for a, b in ranges)


def format_row(result: SequenceResult) -> list[str]:
    """The TSV cells of one result (lists comma-separated)."""

    def nt(kind: str) -> str:
        return ",".join(m.label for m in result.nt_mutations if m.kind == kind)

    def aa(kind: str) -> str:
        return ",".join(m.label for m in result.aa_mutations if m.kind == kind)

    return [
        result.name,
        result.replicon or "",
        _ranges(result.covered),
        nt(NT_SUBSTITUTION),
        nt(NT_AMBIGUOUS),
        _ranges(result.missing),
        nt(NT_DELETION),
        nt(NT_INSERTION),
        ",".join(m.label for m in result.frameshifts),
        aa(AA_SUBSTITUTION),
        aa(AA_DELETION),
        aa(AA_INSERTION),
        ",".join(f"{u.cds}:{u.start + 1}-{u.end}" for u in result.unknown_aa),
        *_qc_cells(result),
        "; ".join(result.errors),
    ]


def _qc_cells(result: SequenceResult) -> list[str]:
    """``coverage qc_score qc_status qc_issues`` (empty when nothing was called)."""
    qc = result.qc
    if qc is None:
        return ["", "", "", ""]
    return [f"{qc.coverage:.4f}", f"{qc.score:.2f}", qc.status, "; ".join(qc_issues(qc_json(qc)))]


def run(args: argparse.Namespace, out: TextIO) -> None:
    """Read, call, write; raises :class:`EmgsonarError` for file-level problems."""
    reference = read_genbank(args.genbank)
    if not args.fasta.is_file():
        raise InputFormatError("no such file", path=args.fasta)
    bad: list[SequenceResult] = []
    results = call_records(harmonised_records(args.fasta, bad), reference, jobs=args.jobs)
    first = next(results, None)  # file-level errors of the FASTA surface before any output
    out.write("\t".join(COLUMNS) + "\n")
    for result in itertools.chain([first] if first else [], results):
        out.write("\t".join(format_row(result)) + "\n")
    for result in bad:
        out.write("\t".join(format_row(result)) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analyses.calling", description=__doc__.split("\n")[0]
    )
    register_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        with args.out.open("w") if args.out else nullcontext(sys.stdout) as out:
            run(args, out)
    except EmgsonarError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
