"""Project-level views: JSON errors for URLs under ``/api/`` that no route matches."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """A 404 in the API's error shape for ``/api/…`` (``/api/genes/abc/``), HTML elsewhere.

    API clients parse every error as ``{"detail", "code"}`` (api.md); Django's HTML page for a
    path no route matches (a non-numeric id) would break them.
    """
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"detail": f"Not found: {request.path}.", "code": "not_found"}, status=404
        )
    return page_not_found(request, exception)
