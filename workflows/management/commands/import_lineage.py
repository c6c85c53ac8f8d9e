"""``manage.py import_lineage --reference ACC (--lineages TSV | --pango ALIAS_KEY NOTES)``."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from workflows.cli import run_flow_from_command


class Command(BaseCommand):
    help = (
        "Import a lineage graph (sonar TSV, or Pango's alias_key.json and lineage_notes.txt) "
        "for a reference, by running the import_lineages flow in this process."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reference", "-r", required=True, metavar="ACC")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--lineages", "-l", metavar="TSV", help="columns lineage, sublineage")
        source.add_argument("--pango", nargs=2, metavar=("ALIAS_KEY", "NOTES"))

    def handle(self, *args: Any, **options: Any) -> None:
        from workflows.flows.import_lineages import ImportLineagesParams, import_lineages
        from workflows.flows.params import flow_kwargs

        alias_key, notes = options["pango"] or (None, None)
        params = dict(
            reference=options["reference"],
            lineages=options["lineages"],
            pango_alias_key=alias_key,
            pango_notes=notes,
        )
        result = run_flow_from_command(
            lambda: import_lineages(**flow_kwargs(ImportLineagesParams(**params)))
        )
        counts = result.get("counts", {})
        self.stdout.write(
            f"lineages of {options['reference']}: {counts.get('lineages', 0)} in the file, "
            f"{counts.get('lineages_created', 0)} created, {counts.get('lineages_updated', 0)} "
            f"updated, {counts.get('edges_added', 0)} edges added "
            f"(import run #{result['import_run_id']})"
        )
