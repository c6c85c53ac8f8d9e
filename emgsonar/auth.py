"""Authentication and permissions of the HTTP API.

Two ways to authenticate: an API token (``Authorization: Bearer <key>`` or ``Token <key>``;
issued with ``manage.py create_user USER --token`` or ``create_api_token USER``, only its
SHA-256 is stored) or the Django session (browser, admin login). Reads are public unless
``EMGSONAR_API__PUBLIC_READS=false``; writes always need a user *and* the Django permission of
the operation, checked with :func:`require_permission`.

Status codes: no credentials → 401, an unknown or revoked token → 401 (both with
``WWW-Authenticate: Bearer``), a user without the permission → 403. CSRF is checked only for
requests a session cookie authenticates: a token or an anonymous request cannot be forged by
another site's page, so it never gets a CSRF 403.

Use ``auth=READ_AUTH`` on read operations and ``auth=WRITE_AUTH`` on operations that change data
or start an import, then call ``require_permission(request, "app.codename")`` first thing.
"""

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from ninja.errors import HttpError
from ninja.security import SessionAuth as NinjaSessionAuth
from ninja.security.http import HttpAuthBase
from ninja.utils import check_csrf

from emgsonar.errors import AuthenticationRequiredError, InvalidTokenError, PermissionDeniedError
from emgsonar.models import ApiToken

#: how an administrator gives someone a token, named in every 401
TOKEN_COMMAND = "'./taskw manage -- create_user NAME --token' (or 'create_api_token NAME')"
#: schemes accepted in the Authorization header (DRF clients send ``Token``)
TOKEN_SCHEMES = ("bearer", "token")


def user_for_token(key: str) -> Any | None:
    """The active user owning ``key``, or ``None``; records the token's last use."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=ApiToken.hash_key(key), user__is_active=True)
        .first()
    )
    if token is None:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used=timezone.now())
    return token.user


class ApiTokenAuth(HttpAuthBase):
    """``Authorization: Bearer <key>`` or ``Authorization: Token <key>``.

    A presented key that matches no active user's token is refused at once (401) rather than
    passed on to the session check, so a client with a stale key learns that its key is the
    problem, not that it sent nothing.
    """

    openapi_scheme = "bearer"

    def __call__(self, request: HttpRequest) -> Any | None:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in TOKEN_SCHEMES or not key.strip():
            return None
        user = user_for_token(key.strip())
        if user is None:
            raise InvalidTokenError(
                "unknown or revoked API token",
                hint=f"Issue a new one with {TOKEN_COMMAND}",
            )
        request.user = user
        return user


class SessionAuth(NinjaSessionAuth):
    """The Django session, CSRF-checked only when the session authenticates the request.

    Ninja's ``SessionAuth`` runs the CSRF check before looking for a user, so an anonymous
    ``POST`` got a 403 "CSRF check Failed" instead of the 401 that tells the client to log in.
    Forged requests matter only when a browser's cookie makes them count as a user's, so the
    check runs exactly then. (Named ``SessionAuth`` like Ninja's: the OpenAPI security scheme
    is named after the class.)
    """

    def __call__(self, request: HttpRequest) -> Any | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request):
            raise HttpError(
                403,
                "CSRF check failed: a logged-in browser session must send the X-CSRFToken "
                "header (from the csrftoken cookie); scripts should send "
                "'Authorization: Bearer <token>' instead",
            )
        return user


class PublicReads:
    """Lets anyone read when the configuration says reads are public."""

    def __call__(self, request: HttpRequest) -> bool:
        return settings.EMGSONAR_CONFIG.api.public_reads


token_auth = ApiTokenAuth()
session_auth = SessionAuth()

#: auth of read operations: public by configuration, else token or session
READ_AUTH = [PublicReads(), token_auth, session_auth]
#: auth of write operations: a token or a (CSRF-checked) session
WRITE_AUTH = [token_auth, session_auth]


def request_user(request: HttpRequest) -> Any | None:
    """The user a request authenticated as (token or session), or ``None``."""
    auth = getattr(request, "auth", None)
    if auth is not None and getattr(auth, "is_authenticated", False):
        return auth
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user
    return None


def require_permission(request: HttpRequest, *permissions: str) -> Any:
    """Return the request's user if it has every Django permission ``app_label.codename``.

    :raises AuthenticationRequiredError: nobody is logged in.
    :raises PermissionDeniedError: naming the missing permission.
    """
    user = request_user(request)
    if user is None:
        raise AuthenticationRequiredError(
            "this operation needs an authenticated user",
            hint=f"Send 'Authorization: Bearer <token>' (issued with {TOKEN_COMMAND})",
        )
    missing = [perm for perm in permissions if not user.has_perm(perm)]
    if missing:
        raise PermissionDeniedError(
            f"user '{user.get_username()}' lacks the permission {', '.join(missing)}",
            hint="An administrator can grant it in the admin (Users → permissions)",
        )
    return user
