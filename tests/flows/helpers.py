"""Read back what a flow run left in Prefect (artifacts, state)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey


def artifacts_by_key(key: str) -> list[Any]:
    """Every version of the artifact ``key`` (newest first)."""
    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )


def flow_run(flow_run_id: UUID | str) -> Any:
    with get_client(sync_client=True) as client:
        return client.read_flow_run(UUID(str(flow_run_id)))
