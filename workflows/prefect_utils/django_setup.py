"""Activate Django before anything else in a flow module imports models.

Prefect workers import flow modules in a fresh interpreter (``python -m prefect.engine``), where
nobody has called :func:`django.setup` yet; the first ``from analyses.models import ...`` would
then fail with ``AppRegistryNotReady``. Every module in ``workflows/flows/`` therefore imports
this one first (kept first by an ``# isort: split`` comment after it, as emgapi-v2's
``activate_django_first`` does). Calling :func:`django.setup` again inside a process that already
runs Django (``manage.py``, pytest-django, the API) is a no-op.
"""

import logging
import os

import django
from django.apps import apps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emgsonar.settings")

if not apps.ready:
    django.setup()
    # Django's root logger is at INFO: keep the Prefect client's per-request lines out of it
    logging.getLogger("httpx").setLevel(logging.WARNING)
