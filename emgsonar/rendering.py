"""The one JSON renderer of the API, shared with views that render their own response.

``emgsonar.api`` builds its ``NinjaAPI`` with :data:`RENDERER`; a router view that skips
response validation (rows already in the declared schema's plain types) renders through
:func:`json_response` and so answers the same bytes and content type as any other view,
without importing the API that mounts it.
"""

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja.renderers import JSONRenderer

RENDERER = JSONRenderer()


def json_response(request: HttpRequest, data: Any, status: int = 200) -> HttpResponse:
    """``data`` rendered as the API renders every response (``NinjaAPI.create_response``)."""
    return HttpResponse(
        RENDERER.render(request, data, response_status=status),
        status=status,
        content_type=f"{RENDERER.media_type}; charset={RENDERER.charset}",
    )
