"""``manage.py restore FILE [--into NAME] [--replace]``: a backup back into a database.

All or nothing (one transaction); into the database of ``DATABASE_URL`` when it is empty, a
new one with ``--into``, or over existing data only with ``--replace``. See
:mod:`emgsonar.backups`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from emgsonar.backups import BackupError, Server, restore


class Command(BaseCommand):
    help = (
        "Restore a backup written by 'manage.py backup' in one transaction: into the "
        "database of DATABASE_URL if it holds no tables, into a new one with --into NAME, "
        "or over the data with --replace."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="a .dump file written by 'backup'")
        parser.add_argument(
            "--into", metavar="NAME", help="restore into this database (created if missing)"
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="drop and recreate the target database if it holds data (stop the stack first)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        server = Server.from_django(settings.DATABASES["default"])
        into = options["into"] or server.name
        try:
            tables = restore(server, options["file"].resolve(), into, options["replace"])
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"restored {options['file']} into database '{into}': {tables} tables")
        if into != server.name:
            url = f"postgresql://{server.user + '@' if server.user else ''}{server.host}"
            url += f":{server.port}/{into}" if server.port else f"/{into}"
            self.stdout.write(f"to use it: DATABASE_URL={url} ./taskw run")
        self.stdout.write("then bring the schema up to date if the code is newer: ./taskw setup")
