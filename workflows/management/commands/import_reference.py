"""``manage.py import_reference --genbank FILE [FILE ...]``: runs the ``import_reference`` flow."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from workflows.cli import run_flow_from_command


class Command(BaseCommand):
    help = (
        "Import one reference from GenBank files (one replicon per record), by running the "
        "import_reference flow in this process."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--genbank", nargs="+", required=True, metavar="FILE", help="GenBank files or URLs"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from workflows.flows.import_reference import ImportReferenceParams, import_reference
        from workflows.flows.params import flow_kwargs

        params = ImportReferenceParams(genbank=list(options["genbank"]))
        result = run_flow_from_command(import_reference, **flow_kwargs(params))
        counts = result.get("counts", {})
        verb = "imported" if counts.get("references_created") else "already present, unchanged:"
        self.stdout.write(
            f"{verb} {result['accession']}: {counts.get('replicons', 0)} replicon(s), "
            f"{counts.get('genes', 0)} gene(s), {counts.get('cds', 0)} CDS "
            f"(import run #{result['import_run_id']})"
        )
