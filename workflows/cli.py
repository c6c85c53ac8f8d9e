"""What the import commands share: run a flow in-process and turn its errors into CLI errors.

The commands run the very flow functions the deployments run (no second code path). Calling a
flow function creates a flow run against a Prefect API, so a command-line import shows up in the
dashboard like any other: ``PREFECT_API_URL`` (environment or Prefect profile) when set, else
the configured server (``EMGSONAR_PREFECT__API_URL``, the stack's ``:4200``) when it answers,
else a temporary local server that Prefect starts for the one command (~6 s). Progress goes to
stderr through Prefect's run loggers; the command
prints the result to stdout.
"""

from __future__ import annotations

import logging
import os
import urllib.request
from collections.abc import Callable
from typing import Any

from django.core.management.base import CommandError
from pydantic import ValidationError

from emgsonar.errors import EmgsonarError

logger = logging.getLogger(__name__)


def prefect_api_answers(url: str, timeout: float) -> bool:
    """Whether a Prefect API answers its health check at ``url`` (``.../api``)."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=timeout) as response:
            return 200 <= response.status < 300
    except (OSError, ValueError):
        return False


def configured_api_url() -> str | None:
    """``PREFECT_API_URL`` as Prefect sees it (environment or active profile), if set."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


def prefect_settings() -> dict[Any, Any]:
    """Point Prefect at a running server, else prepare for a temporary one.

    Analytics off (no internet here). An API Prefect is configured for is used as it is (a
    wrong one fails loudly, it is not replaced); otherwise the configured server is used when
    it answers within ``probe_timeout_seconds``, and only then does Prefect fall back to a
    temporary server, whose database goes to a project-local ``PREFECT_HOME`` rather than
    ``~/.prefect``.

    :returns: the Prefect settings to apply around the flow call (``temporary_settings``:
        Prefect has read its environment when the flow module was imported, so changing
        ``os.environ`` now would be too late).
    """
    from django.conf import settings
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, PREFECT_SERVER_ANALYTICS_ENABLED

    updates: dict[Any, Any] = {PREFECT_SERVER_ANALYTICS_ENABLED: False}
    if configured_api_url():
        return updates
    cfg = settings.EMGSONAR_CONFIG
    if cfg.prefect.api_url and prefect_api_answers(
        cfg.prefect.api_url, cfg.prefect.probe_timeout_seconds
    ):
        logger.info("using the Prefect server at %s", cfg.prefect.api_url)
        return {**updates, PREFECT_API_URL: cfg.prefect.api_url}
    if "PREFECT_HOME" not in os.environ:
        updates[PREFECT_HOME] = cfg.data_dir / "prefect"
    return updates


def run_flow_from_command(flow: Callable[..., Any], **kwargs: Any) -> Any:
    """Call ``flow(**kwargs)`` and map user errors to :class:`CommandError` (exit status 2).

    :raises CommandError: for an :class:`EmgsonarError` or invalid parameters; anything else is
        a bug and propagates with its traceback.
    """
    from prefect.settings import temporary_settings

    try:
        with temporary_settings(updates=prefect_settings()):
            return flow(**kwargs)
    except (EmgsonarError, ValidationError) as exc:  # not any ValueError: that may be a bug
        raise CommandError(str(exc), returncode=2) from exc
