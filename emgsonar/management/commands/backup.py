"""``manage.py backup [--output FILE]``: a restorable dump of the emgsonar database.

What is in it and why it is a ``pg_dump`` (not a base backup): :mod:`emgsonar.backups`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from emgsonar.backups import BACKUP_SUBDIR, BackupError, Server, backup, default_backup_path


class Command(BaseCommand):
    help = (
        "Dump the database of DATABASE_URL (pg_dump custom format) into "
        "EMGSONAR_DATA_DIR/backups/emgsonar-<db>-<UTC time>.dump, or --output FILE."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--output", type=Path, help="the backup file to write (must not exist)")

    def handle(self, *args: Any, **options: Any) -> None:
        server = Server.from_django(settings.DATABASES["default"])
        output = options["output"] or default_backup_path(
            Path(settings.EMGSONAR_CONFIG.data_dir) / BACKUP_SUBDIR, server.name
        )
        try:
            result = backup(server, output.resolve())
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"backed up database '{server.name}': {result.tables} tables, "
            f"{result.size_bytes / 1e6:.1f} MB -> {result.path}\n"
            f"sha256 {result.sha256} (in {result.path.name}.sha256)\n"
            f"restore with: ./taskw restore {result.path}"
        )
