"""Reads of import runs for the API."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, OuterRef

from analyses.calling.qc import qc_issues
from analyses.models import Alignment, AminoAcidMutation, NucleotideMutation, QcStatus
from emgsonar.errors import NotFoundError
from emgsonar.models import ImportRun
from ena_like.models import SampleSequence
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
        "reason": job.reason,
    }


def new_mutations(import_run_id: int) -> dict[str, int]:
    """Distinct NT and AA mutations first seen by an import."""
    return {
        "nt": NucleotideMutation.objects.filter(first_seen_run_id=import_run_id).count(),
        "aa": AminoAcidMutation.objects.filter(first_seen_run_id=import_run_id).count(),
    }


def qc_summary(import_run_id: int, worst: int = 5) -> dict[str, Any]:
    """Sequence QC of the records an import wrote: sequences per status, the worst few.

    Counts distinct sequences (content) against the records' own reference; alignments made
    before QC existed have none and are counted as ``no_qc``.

    :returns: ``{"good": n, "mediocre": n, "bad": n, "no_qc": n, "worst": [{"record",
        "replicon", "status", "score", "reasons"}]}``, worst by score, only non-good ones.
    """
    records = SampleSequence.objects.filter(
        updated_by_run_id=import_run_id,
        sequence_id=OuterRef("sequence_id"),
        sample__reference_id=OuterRef("replicon__reference_id"),
    )
    aligned = Alignment.objects.filter(Exists(records))
    counts = dict(aligned.values("qc_status").annotate(n=Count("*")).values_list("qc_status", "n"))
    result: dict[str, Any] = {s.value: counts.get(s.value, 0) for s in QcStatus}
    result["no_qc"] = counts.get(None, 0)
    rows = (
        aligned.exclude(qc_status__in=[QcStatus.GOOD, None])
        .order_by("-qc_score", "id")
        .values_list("sequence_id", "replicon__accession", "qc_status", "qc_score", "qc")[:worst]
    )
    result["worst"] = [
        {
            "record": SampleSequence.objects.filter(
                sequence_id=sequence_id, updated_by_run_id=import_run_id
            )
            .order_by("name")
            .values_list("name", flat=True)
            .first(),
            "replicon": replicon,
            "status": status,
            "score": round(score, 2),
            "reasons": qc_issues(qc or {}, items=3),
        }
        for sequence_id, replicon, status, score, qc in rows
    ]
    return result
