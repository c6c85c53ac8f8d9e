"""Django settings: everything configurable comes from :class:`emgsonar.config.EmgsonarConfig`."""

from __future__ import annotations

import os

from emgsonar.config import EmgsonarConfig
from emgsonar.database_url import parse_database_url

EMGSONAR_CONFIG = EmgsonarConfig()

SECRET_KEY = EMGSONAR_CONFIG.secret_key
DEBUG = EMGSONAR_CONFIG.debug
ALLOWED_HOSTS = EMGSONAR_CONFIG.allowed_hosts

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "corsheaders",
    "ninja",
    "emgsonar",
    "ena_like",
    "analyses",
    "workflows",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # before CommonMiddleware, so redirects and preflights carry the CORS headers too
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "emgsonar.urls"

#: browser clients on other origins (the sonar web frontend); only the API answers them
CORS_ALLOWED_ORIGINS = EMGSONAR_CONFIG.api.cors_allowed_origins
CORS_URLS_REGEX = r"^/api/.*$"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "emgsonar.wsgi.application"

DATABASES = {"default": parse_database_url(EMGSONAR_CONFIG.database_url)}
#: per-connection planner settings the query API is measured with (docs/design-performance.md):
#: no JIT (20-30 ms of compilation on every large aggregate, nothing gained for sub-second
#: queries) and a work_mem that keeps bitmaps of a million rows exact and weekly lineage
#: groups in memory. ``?options=...`` in DATABASE_URL replaces them.
DATABASES["default"]["OPTIONS"].setdefault("options", "-c jit=off -c work_mem=32MB")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = EMGSONAR_CONFIG.data_dir / "static"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("EMGSONAR_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
