"""Schemas of the imports API (``/api/imports/``)."""

from datetime import datetime
from typing import Any
from uuid import UUID

from ninja import Schema


class ImportRunOut(Schema):
    """One import: the ImportRun state machine plus where to watch it in Prefect.

    ``state`` is one of pending, running, awaiting_confirmation, completed, failed, cancelled;
    ``summary`` holds the counts, time per step and failed records once they are known.
    """

    id: int
    kind: str
    state: str
    parameters: dict[str, Any]
    summary: dict[str, Any]
    tool_versions: dict[str, Any]
    error: str
    flow_run_id: UUID | None
    dashboard_url: str | None
    created: datetime
    started: datetime | None
    finished: datetime | None
