"""Map domain errors to HTTP responses in one place: 4xx JSON ``{"detail", "code"}``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI

from emgsonar.errors import ConflictError, EmgsonarError, NotFoundError

_STATUS = {NotFoundError: 404, ConflictError: 409}


def register_exception_handlers(api: NinjaAPI) -> None:
    """Install the handlers on ``api``; a user's mistake must never become a 500."""

    @api.exception_handler(EmgsonarError)
    def _emgsonar_error(request: HttpRequest, exc: EmgsonarError) -> HttpResponse:
        status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 400)
        return api.create_response(request, {"detail": str(exc), "code": exc.code}, status=status)
