"""Map domain errors to HTTP responses in one place: 4xx JSON ``{"detail", "code"}``."""

from __future__ import annotations

from django.db import DataError
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from emgsonar.auth import TOKEN_COMMAND
from emgsonar.errors import (
    AuthenticationRequiredError,
    ConflictError,
    EmgsonarError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
)

_STATUS = {
    NotFoundError: 404,
    ConflictError: 409,
    AuthenticationRequiredError: 401,
    PermissionDeniedError: 403,
    ServiceUnavailableError: 503,
}


#: sent with every 401 (RFC 9110 requires a challenge; RFC 6750 names the scheme)
WWW_AUTHENTICATE = 'Bearer realm="emgsonar"'


def _challenge(response: HttpResponse) -> HttpResponse:
    """Add the ``WWW-Authenticate`` challenge to a 401, so clients know to send a token."""
    if response.status_code == 401:
        response["WWW-Authenticate"] = WWW_AUTHENTICATE
    return response


def _location(error: dict) -> str:
    """``query.limit`` from Ninja's ``loc`` list."""
    return ".".join(str(part) for part in error.get("loc", ()))


def register_exception_handlers(api: NinjaAPI) -> None:
    """Install the handlers on ``api``; a user's mistake must never become a 500."""

    @api.exception_handler(EmgsonarError)
    def _emgsonar_error(request: HttpRequest, exc: EmgsonarError) -> HttpResponse:
        status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 400)
        body = {"detail": str(exc), "code": exc.code}
        return _challenge(api.create_response(request, body, status=status))

    @api.exception_handler(ValidationError)
    def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        # ``detail`` stays a readable string (api.md); the structured list is in ``errors``
        message = "; ".join(f"{_location(e)}: {e.get('msg', 'invalid')}" for e in exc.errors)
        body = {"detail": f"Invalid request: {message}", "code": "validation_error"}
        body["errors"] = exc.errors
        return api.create_response(request, body, status=422)

    @api.exception_handler(AuthenticationError)
    def _authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        body = {
            "detail": "Authentication required: send 'Authorization: Bearer <token>' "
            f"(issued with {TOKEN_COMMAND}) or log in.",
            "code": "not_authenticated",
        }
        return _challenge(api.create_response(request, body, status=exc.status_code))

    @api.exception_handler(HttpError)
    def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        body = {"detail": str(exc), "code": f"http_{exc.status_code}"}
        return api.create_response(request, body, status=exc.status_code)

    @api.exception_handler(DataError)
    def _data_error(request: HttpRequest, exc: DataError) -> HttpResponse:
        # Postgres' class 22 "data exception" (NUL byte in text, value out of range, bad date
        # literal): a value the client sent that no column can hold, not a server fault
        problem = str(exc).splitlines()[0] if str(exc) else "a value cannot be stored"
        body = {"detail": f"Invalid value in the request: {problem}.", "code": "invalid_value"}
        return api.create_response(request, body, status=400)

    @api.exception_handler(MultiPartParserError)
    def _multipart_error(request: HttpRequest, exc: MultiPartParserError) -> HttpResponse:
        body = {"detail": f"Malformed multipart body: {exc}.", "code": "malformed_body"}
        return api.create_response(request, body, status=400)
