"""Reads of import runs for the API."""

from __future__ import annotations

from typing import Any

from analyses.models import AminoAcidMutation, NucleotideMutation
from emgsonar.errors import NotFoundError
from emgsonar.models import ImportRun
from workflows.models import ClusterJob


def get_import_run(pk: int) -> ImportRun:
    """The ImportRun ``pk``.

    :raises NotFoundError: no such import.
    """
    run = ImportRun.objects.filter(pk=pk).first()
    if run is None:
        raise NotFoundError(f"import run #{pk} does not exist")
    return run


def cluster_jobs(pks: list[int]) -> list[ClusterJob]:
    """Cluster job rows by primary key, in the order given."""
    by_pk = ClusterJob.objects.in_bulk(pks)
    return [by_pk[pk] for pk in pks]


def job_summary(job: ClusterJob) -> dict[str, Any]:
    """What the import summary lists about a cluster job."""
    return {
        "key": job.key,
        "backend": job.backend,
        "job_id": job.job_id,
        "state": job.state,
        "attempts": job.attempts,
    }


def new_mutations(import_run_id: int) -> dict[str, int]:
    """Distinct NT and AA mutations first seen by an import."""
    return {
        "nt": NucleotideMutation.objects.filter(first_seen_run_id=import_run_id).count(),
        "aa": AminoAcidMutation.objects.filter(first_seen_run_id=import_run_id).count(),
    }
