"""Turn ``DATABASE_URL`` into Django's ``DATABASES`` entry (no extra dependency for 20 lines)."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from emgsonar.errors import EmgsonarError


def parse_database_url(url: str) -> dict[str, object]:
    """Parse ``postgresql://user:pass@host:port/name?opt=val`` for Django's psycopg 3 backend.

    A host given as ``?host=/path`` (a Unix socket directory) wins over the netloc host, as in
    libpq. Only Postgres is accepted: emgsonar depends on its arrays, ranges and GIN indexes.

    :raises EmgsonarError: for any other scheme.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        raise EmgsonarError(
            "DATABASE_URL must be a PostgreSQL URL",
            value=parts.scheme,
            hint="use postgresql://user@host:port/dbname",
        )
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = options.pop("host", None) or parts.hostname or ""
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")) or "emgsonar",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(parts.port or ""),
        "OPTIONS": options,
        "CONN_MAX_AGE": 0,
    }
