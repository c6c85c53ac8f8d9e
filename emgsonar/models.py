"""Project-wide models: provenance of imports and API tokens."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models


class TimeStampedModel(models.Model):
    """Creation and last-change times, shared by every table a user may ask "since when?"."""

    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class ImportRun(TimeStampedModel):
    """One import (reference, samples or lineages): its parameters, state and summary.

    The single state machine of an import; Prefect artifacts and the admin show the same row.
    Every row an import creates or changes points back here, so "which run wrote this?" always
    has an answer.
    """

    class Kind(models.TextChoices):
        REFERENCE = "reference"
        SAMPLES = "samples"
        LINEAGES = "lineages"

    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        AWAITING_CONFIRMATION = "awaiting_confirmation"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    state = models.CharField(max_length=24, choices=State.choices, default=State.PENDING)
    parameters = models.JSONField(default=dict, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    #: versions of emgsonar, minimap2/mappy, Biopython, Python used by this run
    tool_versions = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    flow_run_id = models.UUIDField(null=True, blank=True, db_index=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    #: started over HTTP: its sources passed the web sandbox, and its downloads keep to it
    #: (redirects included) when a worker runs it
    sandboxed = models.BooleanField(default=False)
    #: the process running it (host, pid, its start time in clock ticks since boot, which
    #: tells a reused pid apart) and its last sign of life: a run whose process is gone
    #: (SIGKILL, a node reboot) is marked failed by ``services.reconcile_import_runs``
    host = models.CharField(max_length=255, blank=True)
    pid = models.IntegerField(null=True, blank=True)
    pid_start_ticks = models.BigIntegerField(null=True, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.kind} import #{self.pk} ({self.state})"


class ApiToken(models.Model):
    """A bearer token for API writes; only its SHA-256 is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    name = models.CharField(max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @staticmethod
    def hash_key(key: str) -> str:
        """Hash a presented token the same way it was stored."""
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, user: object, name: str = "") -> tuple[ApiToken, str]:
        """Create a token and return it with its clear-text key (shown once, never stored)."""
        key = secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, key_hash=cls.hash_key(key), prefix=key[:8])
        return token, key
