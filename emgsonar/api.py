"""The Ninja API: one ``NinjaAPI`` with one router per app."""

from ninja import NinjaAPI, Schema

import emgsonar
from analyses.api import router as analyses_router
from emgsonar.exception_handlers import register_exception_handlers
from emgsonar.rendering import RENDERER
from ena_like.api import router as samples_router
from workflows.api import router as imports_router

api = NinjaAPI(
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
