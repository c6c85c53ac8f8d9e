"""Get real data into the test database through the real pipeline steps, in order.

``load_dataset`` runs split → align (in-process call of the same function the
``python -m workflows.steps.align_chunk`` command runs) → annotate → load → metadata, exactly
what the import flow does with Prefect tasks around each step. Use it in tests that need samples,
mutations and metadata in the database::

    summary = load_dataset("MN908947.3", shared_data / "sars-cov-2/SARS-CoV-2_12.fasta.xz",
                           shared_data / "sars-cov-2/SARS-CoV-2_12.tsv.xz")

With ``cols=None`` every metadata column maps to the property of the same name (sonar's
``--cols name=name age=age ...``); pass ``cols`` (and ``auto_link``) to map otherwise.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from analyses.models import Reference
from emgsonar.errors import NotFoundError
from ena_like.metadata import read_header, read_metadata
from ena_like.services.properties import declared_properties
from ena_like.services.samples import apply_metadata
from workflows.steps.align_chunk import align_chunk
from workflows.steps.load import LoadStats, load_chunk_files
from workflows.steps.plan import plan_import
from workflows.steps.reference_spec import reference_spec_from_db
from workflows.steps.split import split_fasta


def load_dataset(
    reference_accession: str,
    fasta: Path,
    metadata: Path | None = None,
    cols: dict[str, str] | None = None,
    *,
    chunk_size: int = 50,
    auto_link: bool = False,
    skip_invalid_rows: bool = False,
    import_run_id: int | None = None,
    jobs: int = 1,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Import a FASTA file (and optionally its metadata) the way the import flow does.

    :returns: ``{"manifest", "plan", "load", "metadata"}`` summaries (plain dicts/values).
    :raises NotFoundError: unknown reference.
    """
    reference = Reference.objects.filter(accession=reference_accession).first()
    if reference is None:
        raise NotFoundError(f"unknown reference {reference_accession!r}")
    table = None
    if metadata is not None:
        mapping = cols if cols is not None else {c: c for c in read_header(metadata) if c}
        table = read_metadata(
            metadata,
            mapping,
            auto_link=auto_link,
            properties=declared_properties(),
            skip_invalid_rows=skip_invalid_rows,
        )
    own_dir = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="emgsonar-load-")) if own_dir else Path(work_dir)
    try:
        manifest = split_fasta(
            Path(fasta),
            work,
            chunk_size,
            reference.pk,
            sample_of=table.sample_of_records() if table else None,
        )
        plan = plan_import(reference.pk, manifest.all_records())
        spec = reference_spec_from_db(reference.pk)
        for chunk in manifest.chunks:
            if chunk.needs_alignment:
                align_chunk(spec, Path(chunk.fasta), Path(chunk.results), jobs=jobs)
        stats = LoadStats()
        for chunk in manifest.chunks:
            stats.add(
                load_chunk_files(
                    reference.pk, chunk, import_run_id, content_hash=reference.content_hash
                )
            )
        meta = (
            apply_metadata(table, import_run_id, reference_id=reference.pk).as_dict()
            if table is not None
            else None
        )
    finally:
        if own_dir:
            shutil.rmtree(work, ignore_errors=True)
    return {
        "manifest": {
            "records": manifest.records,
            "distinct_sequences": manifest.distinct_sequences,
            "new_sequences": manifest.new_sequences,
            "already_aligned": manifest.already_aligned,
            "chunks": len(manifest.chunks),
        },
        "plan": plan.as_dict(),
        "load": stats.as_dict(),
        "metadata": meta,
    }
