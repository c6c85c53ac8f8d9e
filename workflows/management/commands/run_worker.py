"""``manage.py run_worker [--pool P] [--name N] [-- PREFECT_WORKER_ARGS...]``: a Prefect worker for
the emgsonar flows, started only against a database whose schema is current.

Why not ``prefect worker start`` directly: a worker started against an unmigrated database
(a new release deployed, ``migrate`` forgotten) accepts flow runs and fails each of them deep
inside a task with ``relation ... does not exist``; this refuses to start instead, naming the
missing migrations and the command that applies them. When the schema is current it *becomes*
``prefect worker start`` (``exec``), so signals and exit status are the worker's own.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import OperationalError


def unapplied_migrations(alias: str = DEFAULT_DB_ALIAS) -> list[str]:
    """``app.migration`` names the database still lacks (in the order ``migrate`` applies them).

    :raises CommandError: the database cannot be reached.
    """
    connection = connections[alias]
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except OperationalError as exc:
        raise CommandError(
            f"the worker cannot reach its database ({connection.settings_dict['NAME']}): {exc}",
            returncode=2,
        ) from exc
    return [f"{migration.app_label}.{migration.name}" for migration, backwards in plan]


class Command(BaseCommand):
    help = (
        "Start a Prefect worker on the emgsonar work pool, after checking that the database "
        "schema is current (refuses to start otherwise)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        cfg = settings.EMGSONAR_CONFIG.prefect
        parser.add_argument("--pool", default=cfg.work_pool, help="work pool (type process)")
        parser.add_argument("--name", help="worker name (default: Prefect's)")
        parser.add_argument(
            "--check-only", action="store_true", help="check the schema and exit 0 if current"
        )
        parser.add_argument("worker_args", nargs="*", help="more `prefect worker start` options")

    def handle(self, *args: Any, **options: Any) -> None:
        missing = unapplied_migrations()
        if missing:
            db = connections[DEFAULT_DB_ALIAS].settings_dict["NAME"]
            shown = ", ".join(missing[:5]) + (
                f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            )
            raise CommandError(
                f"database '{db}' is not migrated: {len(missing)} migration(s) not applied "
                f"({shown}); the worker would fail every flow run. Run `manage.py migrate` "
                "(./taskw setup), then start the worker again",
                returncode=2,
            )
        self.stderr.write("run_worker: database schema is current")
        if options["check_only"]:
            return
        prefect = shutil.which("prefect") or str(Path(sys.executable).parent / "prefect")
        argv = [prefect, "worker", "start", "--pool", options["pool"], "--type", "process"]
        if options["name"]:
            argv += ["--name", options["name"]]
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(prefect, [*argv, *options["worker_args"]])
