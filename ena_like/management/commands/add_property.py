"""``python manage.py add_property NAME --type TYPE [--description TEXT]`` (as sonar's)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from emgsonar.errors import EmgsonarError
from ena_like.metadata import DATATYPES


class Command(BaseCommand):
    help = "Declare a typed custom sample property (values then compare as their type)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="property name (not a fixed sample column)")
        parser.add_argument("--type", required=True, choices=DATATYPES, dest="datatype")
        parser.add_argument("--description", default="", help="what the property means")

    def handle(self, *args: Any, **options: Any) -> None:
        from ena_like.services.properties import add_property

        try:
            prop = add_property(options["name"], options["datatype"], options["description"])
        except EmgsonarError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"property {prop.name} ({prop.datatype})")
