"""The Ninja API: one ``NinjaAPI`` with one router per app."""

from typing import Any

from ninja import NinjaAPI, Schema

import emgsonar
from analyses.api import router as analyses_router
from emgsonar.exception_handlers import register_exception_handlers
from emgsonar.rendering import RENDERER
from ena_like.analytics_api import router as analytics_router
from ena_like.api import router as samples_router
from workflows.api import router as imports_router


class EmgsonarAPI(NinjaAPI):
    """NinjaAPI whose OpenAPI document gives JSON-text query parameters (``filters``) their
    schema as ``content``: Swagger shows the filter schema, schemathesis generates valid
    filters from it (it reads ``content``, not ``contentSchema``)."""

    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        schema = super().get_openapi_schema(*args, **kwargs)
        for operations in schema["paths"].values():
            for operation in operations.values():
                for parameter in operation.get("parameters", []):
                    _json_text_as_content(parameter)
        return schema


def _json_text_as_content(parameter: dict[str, Any]) -> None:
    """``schema: {type: string, contentMediaType: application/json, contentSchema: S}`` →
    ``content: {application/json: {schema: S}}`` (ena_like.schemas.JsonText marks them)."""
    text = parameter.get("schema", {})
    if text.get("contentMediaType") == "application/json" and "contentSchema" in text:
        del parameter["schema"]
        parameter["content"] = {"application/json": {"schema": text["contentSchema"]}}


api = EmgsonarAPI(
    title="emgsonar",
    version=emgsonar.__version__,
    description=(
        "Genomic-surveillance backend: references, samples, mutations and lineages. "
        "Query endpoints follow the RKI sonar backend contract."
    ),
    urls_namespace="api",
    renderer=RENDERER,
)
register_exception_handlers(api)


class StatusOut(Schema):
    """Service name and version, for health checks and clients that pin a version."""

    name: str
    version: str


@api.get("/status/", response=StatusOut, tags=["status"])
def status(request) -> dict[str, str]:
    """Report that the API is up and which version answers."""
    return {"name": "emgsonar", "version": emgsonar.__version__}


api.add_router("/", analyses_router)
api.add_router("/", samples_router)
api.add_router("/", imports_router)
api.add_router("/analytics/", analytics_router)
