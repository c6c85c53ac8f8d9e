"""What the import commands share: run a flow in-process and turn its errors into CLI errors.

The commands run the very flow functions the deployments run (no second code path). Calling a
flow function creates a flow run against the configured Prefect API (``PREFECT_API_URL``), or a
temporary local server when none is configured, so a command-line import shows up in the
dashboard like any other. Progress goes to stderr through Prefect's run loggers; the command
prints the result to stdout.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from django.core.management.base import CommandError
from pydantic import ValidationError

from emgsonar.errors import EmgsonarError

logger = logging.getLogger(__name__)


def ensure_prefect_environment() -> None:
    """Defaults that a command-line run needs on an offline machine.

    Analytics off (no internet here) and, when no API is configured, a project-local
    ``PREFECT_HOME`` so the temporary server's database does not land in ``~/.prefect``.
    Must run before Prefect reads its settings, i.e. before the first flow call.
    """
    from django.conf import settings

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if "PREFECT_API_URL" not in os.environ:
        os.environ.setdefault("PREFECT_HOME", str(settings.EMGSONAR_CONFIG.data_dir / "prefect"))


def run_flow_from_command(flow: Callable[..., Any], **kwargs: Any) -> Any:
    """Call ``flow(**kwargs)`` and map user errors to :class:`CommandError` (exit status 2).

    :raises CommandError: for an :class:`EmgsonarError` or invalid parameters; anything else is
        a bug and propagates with its traceback.
    """
    ensure_prefect_environment()
    try:
        return flow(**kwargs)
    except (EmgsonarError, ValidationError) as exc:  # not any ValueError: that may be a bug
        raise CommandError(str(exc), returncode=2) from exc
