"""``python manage.py add_property NAME --type TYPE [--description TEXT]`` (as sonar's)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from emgsonar.errors import EmgsonarError
from ena_like.fields import DATATYPES


class Command(BaseCommand):
    help = "Declare a typed custom sample property (values then compare as their type)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "name", help="property name (a fixed sample column is reported as existing)"
        )
        parser.add_argument("--type", required=True, choices=DATATYPES, dest="datatype")
        parser.add_argument("--description", default="", help="what the property means")

    def handle(self, *args: Any, **options: Any) -> None:
        from ena_like.services.properties import declare_property

        try:
            done = declare_property(options["name"], options["datatype"], options["description"])
        except EmgsonarError as exc:
            raise CommandError(str(exc)) from exc
        if done.fixed:
            self.stdout.write(f"property {done.name} already exists (a fixed sample column)")
        elif done.created:
            self.stdout.write(f"property {done.name} ({options['datatype']})")
        else:
            self.stdout.write(f"property {done.name} already exists")
