"""Every model is in the admin and its pages render; the config object is the one source."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.db import models
from django.test import Client
from django.urls import reverse

from analyses.services.references import import_reference
from emgsonar.config import EmgsonarConfig, Executor
from emgsonar.database_url import parse_database_url
from emgsonar.errors import EmgsonarError

PROJECT_APPS = ("emgsonar", "ena_like", "analyses", "workflows")


def _admin_models() -> list[type[models.Model]]:
    """Every project model the admin can show. Django's admin refuses models with a composite
    primary key (the maintained aggregate ``MutationWeekCount``: rows derived from samples,
    nothing to edit or browse by hand), so those are left out."""
    return [
        model
        for app in PROJECT_APPS
        for model in apps.get_app_config(app).get_models()
        if not isinstance(model._meta.pk, models.CompositePrimaryKey)
    ]


def test_every_model_is_registered() -> None:
    shown = _admin_models()
    assert shown
    missing = [m.__name__ for m in shown if m not in admin.site._registry]
    assert missing == []


@pytest.mark.django_db
def test_admin_pages_render(admin_client: Client, shared_data: Path) -> None:
    import_reference(sorted(shared_data.glob("influenza/influenza-A/H1N1PDM_California/*.gb")))
    for app in PROJECT_APPS:
        for model in [m for m in _admin_models() if m._meta.app_label == app]:
            meta = model._meta
            url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
            assert admin_client.get(url).status_code == 200, url
            first = model.objects.first()
            if first is not None:
                change = reverse(
                    f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk]
                )
                assert admin_client.get(change).status_code == 200, change


def test_config_reads_prefixed_nested_environment(monkeypatch) -> None:
    monkeypatch.setenv("EMGSONAR_SLURM__PARTITION", "long")
    monkeypatch.setenv("EMGSONAR_IMPORTS__EXECUTOR", "slurm")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p%40ss@db.example:6543/surv?sslmode=require")
    config = EmgsonarConfig()
    assert config.slurm.partition == "long"
    assert config.imports.executor is Executor.SLURM
    db = parse_database_url(config.database_url)
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == (
        "u", "p@ss", "db.example", "6543", "surv",
    )  # fmt: skip
    assert db["OPTIONS"] == {"sslmode": "require"}
    assert isinstance(settings.EMGSONAR_CONFIG, EmgsonarConfig)


def test_only_postgres_is_accepted() -> None:
    with pytest.raises(EmgsonarError, match="DATABASE_URL must be a PostgreSQL URL"):
        parse_database_url("sqlite:///db.sqlite3")
