"""Cluster jobs of import runs: recorded so that a retried flow re-attaches, never resubmits."""

from __future__ import annotations

from django.db import models

from emgsonar.models import ImportRun, TimeStampedModel


class ClusterJob(TimeStampedModel):
    """One unit of work handed to a cluster backend (a Slurm job, or a local process).

    ``key`` is deterministic (flow, chunk, input hash): the unique constraint is what makes
    attach-or-submit safe when two runs race or a flow is retried.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        LOST = "lost"

    class Backend(models.TextChoices):
        LOCAL = "local"
        SLURM = "slurm"

    key = models.CharField(max_length=255, unique=True)
    backend = models.CharField(max_length=16, choices=Backend.choices)
    import_run = models.ForeignKey(
        ImportRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="cluster_jobs"
    )
    job_id = models.CharField(max_length=64, blank=True, db_index=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    script = models.TextField(blank=True)
    input_hash = models.CharField(max_length=64, blank=True)
    work_dir = models.CharField(max_length=1024, blank=True)
    result_path = models.CharField(max_length=1024, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    exit_code = models.CharField(max_length=16, blank=True)
    log_tail = models.TextField(blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    #: the scheduler's reason for the state (``NonZeroExitCode``, "cancelled", ...)
    reason = models.CharField(max_length=255, blank=True)
    #: the JobSpec as JSON, so a resubmission (from any process) runs exactly the same job
    spec = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.key} [{self.backend} {self.job_id or '-'}] {self.state}"
