"""Flow ``import_samples``: genomes (FASTA) and/or their metadata (TSV) into the database.

``download`` → ``check metadata`` → ``split`` into chunks of sequences not aligned yet →
``plan`` (ask the operator if samples would have their sequences replaced: a deployment's run
is suspended until the answer, see :func:`confirmed`) → ``align``
(one job array per run, a task per chunk, local processes or Slurm, through
:mod:`workflows.cluster.jobs`; one scheduler call per poll) → per chunk, in chunk order, as
soon as its job is done: ``annotate`` (mutations, effects) → ``load`` (one transaction) →
``apply metadata`` → summary artifact.

Re-running the same import is cheap and changes nothing: the split leaves out sequences that are
aligned already, a chunk whose results file exists is not aligned again (results live in a
content-addressed directory, keyed by reference and chunk content, and cluster jobs are keyed
the same way), and loading is idempotent by sequence hash and record name.
Tasks pass ids, paths, hashes and plain data (the parsed metadata table) — never ORM objects —
so a task can run in any process.
"""

import workflows.prefect_utils.django_setup  # noqa: F401

# isort: split
import dataclasses
import functools
import hashlib
import itertools
import logging
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from prefect import pause_flow_run, runtime, suspend_flow_run
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.input import RunInput
from prefect.states import Cancelled
from pydantic import Field

from analyses.models import Reference
from analyses.results_io import write_reference_spec
from emgsonar.config import Executor
from emgsonar.errors import NotFoundError
from emgsonar.models import ImportRun
from emgsonar.versions import tool_versions
from ena_like.metadata import MetadataTable, read_header, read_metadata, validate_mapping
from ena_like.services.properties import declared_properties
from ena_like.services.samples import apply_metadata
from workflows import queries, services
from workflows.cluster.backend import JobSpec
from workflows.cluster.jobs import (
    ClusterJobError,
    attach_or_submit_array,
    get_backend,
    wait_for_leading_jobs,
)
from workflows.flows.common import (
    HOOKS,
    download,
    finish_import_run,
    run_parameter,
    start_import_run,
)
from workflows.flows.params import ImportSamplesParams, flat_parameters
from workflows.models import ClusterJob
from workflows.prefect_utils.artifacts import (
    ProgressArtifact,
    admin_url,
    artifact_key,
    in_prefect_run,
)
from workflows.prefect_utils.tasks import django_flow, django_task
from workflows.steps.annotate import MutationKey, annotate_chunk
from workflows.steps.load import load_chunk
from workflows.steps.manifest import SplitManifest, read_chunk_results
from workflows.steps.plan import plan_import
from workflows.steps.reference_spec import reference_spec_from_db
from workflows.steps.split import split_fasta

logger = logging.getLogger(__name__)

KIND = ImportRun.Kind.SAMPLES
#: how long a dashboard run waits for the operator's answer before it fails
CONFIRMATION_TIMEOUT_SECONDS = services.CONFIRMATION_TIMEOUT_SECONDS

__all__ = ["ConfirmReplace", "ImportSamplesParams", "import_samples"]


class ConfirmReplace(RunInput):
    """The operator's answer when an import would replace the sequences of existing samples."""

    replace: bool = Field(
        default=False,
        description="Replace the sequences of the samples listed in the flow run's "
        "'replace' artifact? (No cancels the import; nothing has been written yet.)",
    )


@dataclasses.dataclass(frozen=True)
class ReferenceRef:
    """The reference of an import, by id and content hash (its results files are tied to it)."""

    id: int
    accession: str
    content_hash: str


@dataclasses.dataclass(frozen=True)
class ChunkJob:
    """A chunk of the import and the cluster job that aligns it (None: nothing to align).

    ``key`` (the chunk's content key) is what ties the job, its results and the chunk in the
    manifest together; ``index`` is only the chunk's position in this run's split (for logs).
    """

    index: int
    key: str
    records: int
    sequences: int
    results: str | None
    job_pk: int | None


def validate_samples_params(params: ImportSamplesParams) -> None:
    """Check the parameters before any I/O (house rule 6): the column mapping's syntax."""
    validate_mapping(params.cols)


def work_root(executor: Executor) -> Path:
    """Where chunks, reference files and results go: the shared directory for Slurm jobs."""
    cfg = settings.EMGSONAR_CONFIG
    return Path(cfg.slurm.work_dir if executor is Executor.SLURM else cfg.imports.work_dir)


def resolved(params: ImportSamplesParams) -> tuple[Executor, int]:
    """Executor and chunk size of this run (parameters, else the configuration)."""
    cfg = settings.EMGSONAR_CONFIG.imports
    return Executor(params.executor or cfg.executor), params.chunk_size or cfg.chunk_size


# --- tasks: each a thin wrapper around a service function ------------------------------------


@django_task(name="resolve-reference", cache_policy=NO_CACHE)
def resolve_reference(accession: str) -> ReferenceRef:
    """The reference to import against (it must have been imported before)."""
    ref = Reference.objects.filter(accession=accession.strip()).first()
    if ref is None:
        raise NotFoundError(
            f"unknown reference {accession!r}", hint="Import it first: manage.py import_reference"
        )
    return ReferenceRef(ref.pk, ref.accession, ref.content_hash)


@django_task(name="check-metadata", cache_policy=NO_CACHE)
def check_metadata(path: Path, params: ImportSamplesParams, import_run_id: int) -> MetadataTable:
    """Read and validate the whole metadata table before any sequence is touched.

    The file is parsed here only: the flow hands the table to ``apply-metadata``.

    :returns: the parsed table (``sample_of_records()``: record id → sample name for records
        grouped into samples by the ``sequences`` column).
    """
    with services.timed_step(import_run_id, "check metadata") as step:
        table = read_metadata(
            path,
            params.cols,
            auto_link=params.auto_link,
            properties=declared_properties(),
            skip_invalid_rows=params.skip_invalid_rows,
        )
        step["records"] = len(table.rows)
    services.add_to_summary(
        import_run_id,
        counts={"metadata_rows": len(table.rows), "metadata_rows_skipped": len(table.skipped)},
        ignored_metadata_columns=ignored_columns(path, table),
    )
    return table


def ignored_columns(path: Path, table: MetadataTable) -> list[str]:
    """The metadata columns no property was mapped to, in file order: nothing of them is
    stored, and a misspelt ``--cols`` or a column auto-link did not recognise shows up here."""
    mapped = set(table.mapping.values())
    return [column for column in read_header(path) if column and column not in mapped]


@django_task(name="split", cache_policy=NO_CACHE)
def split(
    fasta: Path,
    reference: ReferenceRef,
    chunk_size: int,
    sample_of: dict[str, str],
    executor: Executor,
    run_id: int,
) -> Path:
    """Validate the FASTA and write chunks of the sequences still to align; return the manifest."""
    out_dir = work_root(executor) / f"import-{run_id}"
    with services.timed_step(run_id, "split") as step:
        manifest = split_fasta(
            fasta,
            out_dir,
            chunk_size,
            reference.id,
            sample_of=sample_of,
            chunk_dir=work_root(executor) / "chunks",
        )
        step["records"] = manifest.records
    services.add_to_summary(
        run_id,
        counts={
            "records_read": manifest.records,
            "distinct_sequences": manifest.distinct_sequences,
            "sequences_to_align": manifest.new_sequences,
            "sequences_already_aligned": manifest.already_aligned,
            "chunks": len(manifest.chunks),
        },
        failures=manifest.rejected,
    )
    return out_dir / "manifest.json"


@django_task(name="plan", cache_policy=NO_CACHE)
def plan(manifest_path: Path, reference: ReferenceRef, run_id: int) -> dict[str, Any]:
    """What the import would change (new samples, replaced sequences), without writing."""
    with services.timed_step(run_id, "plan"):
        result = plan_import(reference.id, SplitManifest.read(manifest_path).all_records())
    services.update_summary(run_id, plan=result.as_dict())
    return {**result.as_dict(), "needs_confirmation": result.needs_confirmation}


def can_ask_operator() -> bool:
    """Whether someone can answer a pause: only runs of a deployment (dashboard, API)."""
    return runtime.deployment.id is not None


@django_task(name="ask-for-confirmation", cache_policy=NO_CACHE)
def ask_for_confirmation(run_id: int, samples: list[str]) -> None:
    """Refuse (command line) or get ready to pause for the operator (deployment runs)."""
    message = services.describe_replacement(samples)
    if not can_ask_operator():
        raise services.ConfirmationRequiredError(
            message, hint="nothing was written; pass --yes (confirm_replace) to replace them"
        )
    services.set_state(run_id, ImportRun.State.AWAITING_CONFIRMATION)
    if in_prefect_run():
        from prefect.artifacts import create_markdown_artifact

        create_markdown_artifact(
            markdown=f"# Confirmation needed\n\n{message}.\n\n"
            + "\n".join(f"- `{name}`" for name in samples[:1000])
            + "\n\nResume the flow run and answer *replace*.",
            key=artifact_key(KIND, run_id, "replace"),
            description="samples whose sequences this import would replace",
        )


def confirmation_key(run_id: int, samples: list[str]) -> str:
    """The pause key of the question about ``samples``: the operator's answer is about this
    list, so a list that changed meanwhile (a resumed run plans again) is asked anew."""
    digest = hashlib.sha256("\n".join(sorted(samples)).encode()).hexdigest()[:16]
    return f"confirm-replace-{run_id}-{digest}"


def already_asked(key: str) -> bool:
    """Whether this flow run has asked (paused or suspended with ``key``) before: a suspended
    run, resumed, runs again from the start and comes back to the same question."""
    context = FlowRunContext.get()
    policy = context.flow_run.empirical_policy if context and context.flow_run else None
    return bool(policy and key in (policy.pause_keys or set()))


def can_suspend() -> bool:
    """Whether the run can be suspended (its process exits; a worker runs it again on resume):
    only a deployment's run, and not a subflow, can (Prefect's ``HandlePausingFlows``)."""
    context = FlowRunContext.get()
    run = context.flow_run if context else None
    return bool(run and run.deployment_id and not run.parent_task_run_id)


def confirmed(run_id: int, samples: list[str]) -> bool:
    """Ask the operator whether to replace the sequences of ``samples``; their answer.

    A deployment's run (dashboard, API, ``prefect deployment run``) is *suspended*: its
    process exits and frees the worker's slot; ``resume_flow_run(id, run_input={"replace":
    true})`` (or the dashboard's Resume form) reschedules it, and the run starts again from the
    top: same ImportRun (found by flow run id), the steps before the question again, then
    Prefect answers this same question with the stored input at once. A run that cannot be
    suspended waits in its process (``pause_flow_run``); the command line refuses instead.
    """
    key = confirmation_key(run_id, samples)
    if not already_asked(key):
        ask_for_confirmation(run_id, samples)
    if can_suspend():
        answer = suspend_flow_run(
            wait_for_input=ConfirmReplace, timeout=CONFIRMATION_TIMEOUT_SECONDS, key=key
        )
    else:
        answer = pause_flow_run(
            wait_for_input=ConfirmReplace,
            timeout=CONFIRMATION_TIMEOUT_SECONDS,
            poll_interval=2,
            key=key,
        )
    record_confirmation(run_id, answer.replace)
    return answer.replace


@django_task(name="record-confirmation", cache_policy=NO_CACHE)
def record_confirmation(run_id: int, replace: bool) -> None:
    """Back to running after a yes; cancelled after a no."""
    new = ImportRun.State.RUNNING if replace else ImportRun.State.CANCELLED
    services.set_state(run_id, new, error="" if replace else "the operator declined to replace")


@django_task(name="write-reference-file", cache_policy=NO_CACHE)
def write_reference_file(reference: ReferenceRef, executor: Executor) -> Path:
    """The reference as JSON for the align jobs (content-addressed; written once)."""
    path = work_root(executor) / "references" / f"{reference.content_hash[:24]}.json"
    if not path.is_file():
        write_reference_spec(reference_spec_from_db(reference.id), path)
    return path


@django_task(name="submit-align-jobs", cache_policy=NO_CACHE)
def submit_align_jobs(
    manifest_path: Path,
    reference_file: Path,
    reference: ReferenceRef,
    executor: Executor,
    run_id: int,
) -> list[ChunkJob]:
    """One job per chunk with sequences to align, attached to or submitted (never twice); those
    to submit go out as ONE job array, so the run is one named line in ``squeue``."""
    manifest = SplitManifest.read(manifest_path)
    backend = get_backend(executor)
    services.update_summary(run_id, align_started_at=time.time())
    specs = [
        align_job_spec(chunk, reference_file, reference, executor, run_id)
        for chunk in manifest.chunks
    ]
    to_run = [spec for spec in specs if spec]
    rows = iter(
        attach_or_submit_array(
            to_run,
            backend,
            name=align_array_name(run_id),
            comment=f"emgsonar import run {run_id}",
            import_run_id=run_id,
        )
        if to_run
        else []
    )
    return [
        ChunkJob(
            chunk.index,
            chunk.key,
            len(chunk.records),
            len(chunk.seqhashes),
            str(spec.result_path) if spec else None,
            next(rows).pk if spec else None,
        )
        for chunk, spec in zip(manifest.chunks, specs, strict=True)
    ]


def align_array_name(run_id: int) -> str:
    """The job array of a run's align step (what an admin sees in ``squeue``); task *i* is
    ``<name>-<i>``."""
    return f"emgsonar-run{run_id}-align"


def align_job_spec(
    chunk: Any, reference_file: Path, reference: ReferenceRef, executor: Executor, run_id: int
) -> JobSpec | None:
    """The job that aligns a chunk; keyed by reference, calling code and chunk content, so any
    run with the same inputs and code reuses it, and a code change never reuses old results."""
    if not chunk.needs_alignment:
        return None
    slurm = settings.EMGSONAR_CONFIG.slurm
    key = chunk.key
    root = work_root(executor)
    engine = calling_fingerprint()[:12]
    result = root / "results" / reference.content_hash[:24] / engine / f"{key[:32]}.jsonl"
    command = [
        "python",
        "-m",
        "workflows.steps.align_chunk",
        "--reference",
        str(reference_file),
        "--fasta",
        str(chunk.fasta),
        "--out",
        str(result),
    ]
    return JobSpec(
        key=f"align:{reference.content_hash[:16]}:{engine}:{key[:40]}",
        name=f"{align_array_name(run_id)}-{chunk.index}",
        command=command,
        work_dir=root / f"import-{run_id}" / "jobs",
        result_path=result,
        cpus=slurm.cpus_per_job,
        memory_mb=slurm.memory_mb_per_job,
        time_limit=slurm.time_limit,
        input_hash=key,
    )


@functools.cache
def calling_fingerprint() -> str:
    """SHA-256 of the code that turns a chunk into results (calling core, chunk command, results
    format) and of mappy's version: results made by other code are never reused."""
    import analyses
    import workflows.steps

    package = Path(analyses.__file__).parent
    files = sorted((package / "calling").rglob("*.py"))
    files += [Path(workflows.steps.__file__).parent / "align_chunk.py", package / "results_io.py"]
    digest = hashlib.sha256(tool_versions()["mappy"].encode())
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@django_task(name="wait-for-chunks", cache_policy=NO_CACHE)
def wait_for_chunks(jobs: list[ChunkJob], executor: Executor, run_id: int) -> list[ChunkJob]:
    """Block until the first chunk's job completed (resubmitting by policy); return it and the
    completed chunks right after it, and record their jobs in the summary.

    All the chunks' jobs are polled with one scheduler call per poll, and the done ones are
    loaded while the rest still run. In chunk order: an effect of a mutation is annotated by
    the first chunk that has it, so another order could store another effect. A job that
    finally failed is recorded too (with its reason, e.g. out of memory or time).
    """
    ready = list(itertools.takewhile(lambda job: job.job_pk is None, jobs))
    if ready:
        return ready
    rows = queries.cluster_jobs([job.job_pk for job in jobs if job.job_pk is not None])
    poll = 0.2 if executor is Executor.LOCAL else None
    try:
        done = wait_for_leading_jobs(rows, get_backend(executor), poll_seconds=poll)
    except ClusterJobError:
        rows = queries.cluster_jobs([row.pk for row in rows])
        _record_jobs(run_id, [row for row in rows if row.state != ClusterJob.State.COMPLETED])
        raise
    _record_jobs(run_id, done)
    done_pks = {row.pk for row in done}
    leading = itertools.takewhile(lambda job: job.job_pk is None or job.job_pk in done_pks, jobs)
    return list(leading)


def _record_jobs(run_id: int, rows: list[ClusterJob]) -> None:
    """Add finished jobs (state, attempts, reason) to the summary; the align step's time."""
    summary = services.get_summary(run_id)
    services.record_step(
        run_id,
        "align",
        time.time() - summary.get("align_started_at", 0),
        records=summary.get("counts", {}).get("sequences_to_align"),
    )
    listed = [*summary.get("cluster_jobs", []), *(queries.job_summary(row) for row in rows)]
    services.update_summary(run_id, cluster_jobs=listed)


@django_task(name="annotate", cache_policy=NO_CACHE)
def annotate(
    manifest_path: Path, job: ChunkJob, reference: ReferenceRef, run_id: int
) -> dict[MutationKey, int]:
    """Upsert the chunk's distinct mutations and effects; return their ids."""
    with services.timed_step(run_id, "annotate", records=job.sequences):
        results = read_chunk_results(_chunk(manifest_path, job), reference.content_hash)
        return annotate_chunk(reference.id, results, run_id)


@django_task(name="load", cache_policy=NO_CACHE)
def load(
    manifest_path: Path,
    job: ChunkJob,
    reference: ReferenceRef,
    ids: dict[MutationKey, int],
    run_id: int,
) -> dict[str, Any]:
    """Load the chunk's sequences, alignments, samples and records in one transaction."""
    chunk = _chunk(manifest_path, job)
    with services.timed_step(run_id, "load", records=job.records):
        results = read_chunk_results(chunk, reference.content_hash)
        stats = load_chunk(reference.id, chunk.records, results, ids, run_id)
    counts = {k: v for k, v in stats.as_dict().items() if isinstance(v, int)}
    counts["records_failed"] = len(stats.failed)
    services.add_to_summary(run_id, counts=counts, failures=stats.failed)
    return counts


def _chunk(manifest_path: Path, job: ChunkJob) -> Any:
    """The job's chunk in this run's manifest (by content key), reading the job's results."""
    chunk = SplitManifest.read(manifest_path).chunk(job.key, job.index)
    return dataclasses.replace(chunk, results=job.results) if job.results else chunk


@django_task(name="apply-metadata", cache_policy=NO_CACHE)
def apply_metadata_file(
    table: MetadataTable, reference: ReferenceRef, run_id: int
) -> dict[str, Any]:
    """Write the metadata (fixed columns and typed properties) of every valid row of the table
    ``check-metadata`` parsed."""
    with services.timed_step(run_id, "apply metadata") as step:
        stats = apply_metadata(table, run_id, reference_id=reference.id).as_dict()
        step["records"] = len(table.rows)
    skipped = [
        (str(s["name"] or f"line {s['line']}"), "; ".join(s["problems"]))
        for s in stats["skipped_rows"]
    ]
    services.add_to_summary(
        run_id,
        counts={
            "samples_created_by_metadata": stats["samples_created"],
            "samples_updated_by_metadata": stats["samples_updated"],
            "property_values_written": stats["property_values_written"],
        },
        failures=skipped,
        new_text_properties=stats["new_text_properties"],
    )
    return stats


@django_task(name="count-new-mutations", cache_policy=NO_CACHE)
def count_new_mutations(run_id: int) -> None:
    """Record how many distinct mutations this import saw first."""
    services.update_summary(run_id, new_mutations=queries.new_mutations(run_id))


@django_task(name="summarise-qc", cache_policy=NO_CACHE)
def summarise_qc(run_id: int) -> None:
    """Record the sequence QC of the import's records: counts per status, the worst ones."""
    services.update_summary(run_id, qc=queries.qc_summary(run_id))


# --- the flow: only the order of the steps --------------------------------------------------


def _run_name() -> str:
    source = run_parameter("fasta") or run_parameter("metadata") or "?"
    name = Path(str(source).split("?")[0]).name or str(source)
    executor = run_parameter("executor") or "default"
    return f"samples {run_parameter('reference')} <- {name} [{executor}]"


@django_flow(name="import_samples", flow_run_name=_run_name, log_prints=True, **HOOKS)
@flat_parameters(ImportSamplesParams)
def import_samples(
    params: ImportSamplesParams,
    import_run_id: int | None = Field(
        default=None,
        description="an ImportRun recorded beforehand (POST /api/imports/ sets it); "
        "leave empty to record a new one",
    ),
) -> Any:
    """Import genomes and/or metadata for samples of one reference, as one ImportRun.

    :param import_run_id: an ImportRun created beforehand (by the API), else one is created.
    :returns: the ImportRun's id and summary (a Cancelled state if the operator said no).
    """
    validate_samples_params(params)
    executor, chunk_size = resolved(params)
    run_id = start_import_run(KIND, params.model_dump(mode="json"), import_run_id)
    reference = resolve_reference(params.reference)
    metadata = None
    if params.metadata:
        metadata = download(params.metadata, params.metadata_sha256, run_id)
    table = check_metadata(metadata.path, params, run_id) if metadata else None
    sample_of = table.sample_of_records() if table is not None else {}
    if params.fasta:
        fasta = download(params.fasta, params.fasta_sha256, run_id)
        manifest = split(fasta.path, reference, chunk_size, sample_of, executor, run_id)
        changes = plan(manifest, reference, run_id)
        if changes["needs_confirmation"] and not params.confirm_replace:
            if not confirmed(run_id, changes["replaced_samples"]):
                return Cancelled(message="the operator declined to replace sample sequences")
        reference_file = write_reference_file(reference, executor)
        jobs = submit_align_jobs(manifest, reference_file, reference, executor, run_id)
        progress = ProgressArtifact(KIND, run_id, total=len(jobs))
        pending = jobs
        while pending:
            ready = wait_for_chunks(pending, executor, run_id)
            for job in ready:
                ids = annotate(manifest, job, reference, run_id)
                load(manifest, job, reference, ids, run_id)
                progress.advance(note=f"chunk {job.index}: {job.records} records")
            pending = pending[len(ready) :]
    if table is not None:
        apply_metadata_file(table, reference, run_id)
    count_new_mutations(run_id)
    summarise_qc(run_id)
    summary = finish_import_run(
        KIND,
        run_id,
        f"Samples import #{run_id} into {reference.accession}",
        {
            f"import run #{run_id} (admin)": admin_url("emgsonar", "importrun", run_id),
            "samples of this import (admin)": admin_url(
                "ena_like", "sample", updated_by_run__id__exact=run_id
            ),
            "cluster jobs (admin)": admin_url(
                "workflows", "clusterjob", import_run__id__exact=run_id
            ),
        },
    )
    return {"import_run_id": run_id, **summary}
