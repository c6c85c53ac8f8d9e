"""``manage.py import_samples --reference ACC --fasta PATH_OR_URL [--metadata TSV] ...``.

Runs the ``import_samples`` flow in this process (the flow the deployment runs, so there is no
second code path); progress goes to stderr, the summary to stdout.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from emgsonar.config import Executor
from workflows.cli import run_flow_from_command


class Command(BaseCommand):
    help = (
        "Import genomes (FASTA) and/or their metadata (TSV) for samples of one reference: "
        "download, split into chunks, align (local processes or Slurm jobs), annotate, load."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reference", "-r", required=True, metavar="ACC")
        parser.add_argument(
            "--fasta",
            "-f",
            metavar="PATH_OR_URL",
            help="genomes: path, http(s) URL or ena:ACC1,ACC2 (gz/xz/zst/zip ok)",
        )
        parser.add_argument("--metadata", "-t", metavar="TSV", help="one row per sample")
        parser.add_argument(
            "--cols",
            nargs="+",
            default=[],
            metavar="PROP=COLUMN",
            help="map metadata columns to properties, e.g. name=IMS_ID",
        )
        parser.add_argument(
            "--auto-link",
            action="store_true",
            help="also map columns named like a sample field or property",
        )
        parser.add_argument(
            "--skip-invalid-rows",
            action="store_true",
            help="leave out metadata rows with bad values (listed at the end)",
        )
        parser.add_argument(
            "--executor",
            choices=[e.value for e in Executor],
            help="where chunks are aligned (default: EMGSONAR_IMPORTS__EXECUTOR)",
        )
        parser.add_argument("--chunk-size", type=int, metavar="N", help="sequences per chunk/job")
        parser.add_argument(
            "--yes",
            "-y",
            action="store_true",
            help="replace the sequences of existing samples without asking",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from ena_like.metadata import parse_cols
        from workflows.flows.import_samples import ImportSamplesParams, import_samples
        from workflows.flows.params import flow_kwargs

        def run() -> Any:
            params = ImportSamplesParams(
                reference=options["reference"],
                fasta=options["fasta"],
                metadata=options["metadata"],
                cols=parse_cols(options["cols"]),
                auto_link=options["auto_link"],
                skip_invalid_rows=options["skip_invalid_rows"],
                executor=options["executor"],
                chunk_size=options["chunk_size"],
                confirm_replace=options["yes"],
            )
            return import_samples(**flow_kwargs(params))

        result = run_flow_from_command(run)
        self.stdout.write(format_summary(result))


def format_summary(result: dict[str, Any]) -> str:
    """The end-of-import report: counts, failed records with reasons, time per step."""
    counts = result.get("counts", {})
    lines = [f"import run #{result['import_run_id']}: completed"]
    lines += [f"  {name.replace('_', ' ')}: {value}" for name, value in counts.items()]
    new = result.get("new_mutations") or {}
    if new:
        lines.append(f"  new mutations: {new.get('nt', 0)} nt, {new.get('aa', 0)} aa")
    for name, step in (result.get("steps") or {}).items():
        lines.append(f"  time {name}: {step.get('seconds', 0):.2f} s")
    ignored = result.get("ignored_metadata_columns") or []
    if ignored:
        lines.append(f"  metadata columns ignored (not mapped): {', '.join(ignored)}")
    failures = result.get("failures") or []
    if failures:
        lines.append(f"  failed records ({counts.get('records_failed', len(failures))}):")
        lines += [f"    {f['record']}: {f['reason']}" for f in failures[:50]]
    return "\n".join(lines)
