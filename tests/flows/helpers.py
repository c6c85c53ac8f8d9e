"""Read back what a flow run left in Prefect (artifacts, state)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
)


def artifacts_by_key(key: str, flow_run_id: UUID | str) -> list[Any]:
    """Every version of the artifact ``key`` that flow run ``flow_run_id`` made (newest first).

    Filtered by flow run because the key holds the import run's id, which is only unique per
    database: a test that runs ``manage.py`` in a subprocess writes runs into the configured
    (non-test) database and its artifacts into the same Prefect server.
    """
    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(str(flow_run_id))]),
            )
        )


def flow_run(flow_run_id: UUID | str) -> Any:
    with get_client(sync_client=True) as client:
        return client.read_flow_run(UUID(str(flow_run_id)))
