"""``manage.py reconcile_import_runs``: mark failed the imports still ``running`` whose process
is gone (killed with SIGKILL, its node rebooted), so the admin and ``/api/imports/`` stop
showing them as running; and end those awaiting confirmation whose suspended flow run was
cancelled or failed in Prefect (or that nobody answered in 24 h).

The next import and ``GET /api/imports/{id}/`` do the same; this is for a cron job or an
operator who wants it now. Same host: the recorded process (pid and start time) no longer
exists (its Prefect flow run is then marked ``Crashed`` too, on the server the import
commands use). Another host: no heartbeat for ``EMGSONAR_IMPORTS__STALE_AFTER_SECONDS``.
"""

from typing import Any

from django.core.management.base import BaseCommand

from workflows import services


class Command(BaseCommand):
    help = (
        "Mark failed every running import whose process is gone (same host: pid gone; "
        "another host: heartbeat older than EMGSONAR_IMPORTS__STALE_AFTER_SECONDS); end "
        "imports awaiting confirmation whose flow run ended in Prefect."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        from prefect.settings import temporary_settings

        from workflows.cli import prefect_settings

        with temporary_settings(updates=prefect_settings()):  # the flow runs' server
            marked = services.reconcile_import_runs()
        for run in marked:
            self.stdout.write(f"import run #{run.pk}: {run.state} ({run.reason})")
        self.stderr.write(f"reconcile_import_runs: {len(marked)} run(s) ended")
