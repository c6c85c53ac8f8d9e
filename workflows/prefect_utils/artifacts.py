"""Prefect artifacts of an import: a progress bar per run and a final summary.

The import's state lives in one place, the :class:`~emgsonar.models.ImportRun` row; the
artifacts are the dashboard's view of it, keyed by the run's id so that "which import is this
flow run?" and "what did it produce?" are answered on the flow run's page, with links to the
admin pages of the rows it wrote.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.context import FlowRunContext, TaskRunContext

logger = logging.getLogger(__name__)

#: where the admin and API are served, for links in artifacts (the dashboard runs elsewhere)
PUBLIC_URL_ENV = "EMGSONAR_PUBLIC_URL"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"

_KEY_RE = re.compile(r"[^a-z0-9-]+")


def public_url() -> str:
    """Base URL of the emgsonar web app (admin and API), without trailing slash."""
    return os.environ.get(PUBLIC_URL_ENV, DEFAULT_PUBLIC_URL).rstrip("/")


def admin_url(app_label: str, model: str, pk: int | None = None, **filters: object) -> str:
    """Link to an admin change page (``pk``) or a filtered change list."""
    base = f"{public_url()}/admin/{app_label}/{model}/"
    if pk is not None:
        return f"{base}{pk}/change/"
    if filters:
        return base + "?" + "&".join(f"{k}={v}" for k, v in filters.items())
    return base


def artifact_key(kind: str, import_run_id: int, what: str) -> str:
    """An artifact key (Prefect allows only lowercase letters, digits and dashes)."""
    return _KEY_RE.sub("-", f"{kind}-import-{import_run_id}-{what}".lower()).strip("-")


def in_prefect_run() -> bool:
    """Whether we run inside a flow or task run (artifacts need one to attach to)."""
    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


class ProgressArtifact:
    """A progress bar on the flow run page, advanced once per finished chunk.

    Outside a Prefect run (a unit test calling ``task.fn``) it only logs.
    """

    def __init__(self, kind: str, import_run_id: int, total: int, what: str = "chunks") -> None:
        self.total = max(total, 0)
        self.done = 0
        self.what = what
        self.artifact_id: UUID | None = None
        if in_prefect_run():
            self.artifact_id = create_progress_artifact(
                progress=0.0 if self.total else 100.0,
                key=artifact_key(kind, import_run_id, "progress"),
                description=f"{kind} import #{import_run_id}: 0/{self.total} {what}",
            )

    @property
    def percent(self) -> float:
        """Progress in percent (100 when there is nothing to do)."""
        return 100.0 if not self.total else round(100.0 * self.done / self.total, 1)

    def advance(self, n: int = 1, note: str = "") -> None:
        """Count ``n`` more units as finished and update the artifact."""
        self.done = min(self.total, self.done + n)
        text = f"{self.done}/{self.total} {self.what}" + (f" ({note})" if note else "")
        logger.info("progress %s%%: %s", self.percent, text)
        if self.artifact_id is not None:
            update_progress_artifact(self.artifact_id, progress=self.percent, description=text)


def _fmt_seconds(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def summary_markdown(title: str, summary: Mapping[str, Any], links: Mapping[str, str]) -> str:
    """Render an import summary as Markdown: counts, time per step, failures, jobs, links.

    :param summary: the ``ImportRun.summary`` dict; understood keys: ``counts`` (name → int),
        ``steps`` (name → {"seconds": float, ...}), ``failures`` (list of {"record", "reason"}),
        ``cluster_jobs`` (list of {"key", "backend", "job_id", "state", "attempts",
        "reason"}), ``qc`` (sequences per QC status and the ``worst`` ones, from
        ``workflows.queries.qc_summary``),
        ``ignored_metadata_columns`` (columns of the metadata table no property was mapped to),
        ``error`` (why a failed import failed; shown first).
    """
    lines = [f"# {title}", ""]
    if summary.get("error"):
        lines += ["## Error", "", "```", str(summary["error"]).strip(), "```", ""]
    counts = summary.get("counts") or {}
    if counts:
        lines += ["| count | value |", "|---|---:|"]
        lines += [f"| {name.replace('_', ' ')} | {value} |" for name, value in counts.items()]
        for level, value in (summary.get("new_mutations") or {}).items():
            lines.append(f"| new {level} mutations | {value} |")
        lines.append("")
    steps = summary.get("steps") or {}
    if steps:
        lines += ["## Time per step", "", "| step | time | records/s |", "|---|---:|---:|"]
        for name, step in steps.items():
            secs = float(step.get("seconds", 0.0))
            n = step.get("records")
            rate = f"{n / secs:.0f}" if n and secs > 0 else ""
            lines.append(f"| {name} | {_fmt_seconds(secs)} | {rate} |")
        lines.append("")
    failures = summary.get("failures") or []
    if failures:
        reasons: dict[str, int] = {}
        for f in failures:
            reasons[f.get("reason", "?")] = reasons.get(f.get("reason", "?"), 0) + 1
        lines += ["## Failed records", "", "| reason | records |", "|---|---:|"]
        lines += [f"| {r} | {n} |" for r, n in sorted(reasons.items(), key=lambda x: -x[1])]
        lines.append("")
        shown = failures[:20]
        lines += [f"- `{f.get('record', '?')}`: {f.get('reason', '?')}" for f in shown]
        if len(failures) > len(shown):
            lines.append(f"- … and {len(failures) - len(shown)} more (see the failures table)")
        lines.append("")
    ignored = summary.get("ignored_metadata_columns") or []
    if ignored:
        lines += ["## Metadata columns ignored", ""]
        lines += [
            "Not mapped to any property, so not stored: " + ", ".join(f"`{c}`" for c in ignored)
        ]
        lines += ["(map them with `cols` / `--cols PROP=COLUMN`).", ""]
    lines += _qc_lines(summary.get("qc") or {})
    lines += _cluster_job_lines(summary.get("cluster_jobs") or [])
    if links:
        lines += ["## Links", ""]
        lines += [f"- [{label}]({url})" for label, url in links.items()]
    return "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    """A value as one Markdown table cell (a ``|`` or line break in a reason would end it)."""
    return " ".join(str(value).split()).replace("|", "\\|")


def _cluster_job_lines(jobs: Iterable[Mapping[str, Any]]) -> list[str]:
    """The "Cluster jobs" table: each job's state, attempts and why it ended so (a failed
    task's ``OUT_OF_MEMORY: ...`` or ``TIMEOUT: ...`` is the operator's next step)."""
    rows = [
        "| "
        + " | ".join(
            _cell(job.get(field, ""))
            for field in ("key", "backend", "job_id", "state", "attempts", "reason")
        )
        + " |"
        for job in jobs
    ]
    if not rows:
        return []
    header = ["## Cluster jobs", "", "| chunk | backend | job id | state | attempts | reason |"]
    return [*header, "|---|---|---|---|---:|---|", *rows, ""]


def _qc_lines(qc: Mapping[str, Any]) -> list[str]:
    """The "Sequence QC" section: sequences per status, then the worst with their reasons."""
    if not qc:
        return []
    lines = ["## Sequence QC", "", "| status | sequences |", "|---|---:|"]
    lines += [f"| {s} | {qc.get(s, 0)} |" for s in ("good", "mediocre", "bad")]
    if qc.get("no_qc"):
        lines.append(f"| no QC (aligned before QC existed) | {qc['no_qc']} |")
    lines.append("")
    for item in qc.get("worst") or []:
        reasons = "; ".join(item.get("reasons") or []) or "?"
        lines.append(
            f"- `{item.get('record', '?')}` ({item.get('replicon', '')}): "
            f"{item.get('status')}, score {item.get('score')}: {reasons}"
        )
    if qc.get("worst"):
        lines.append("")
    return lines


def publish_summary(
    kind: str,
    import_run_id: int,
    title: str,
    summary: Mapping[str, Any],
    links: Mapping[str, str],
) -> UUID | None:
    """Create the summary artifacts of a finished import (Markdown, plus a failures table).

    :returns: the id of the Markdown artifact, ``None`` outside a Prefect run.
    """
    text = summary_markdown(title, summary, links)
    if not in_prefect_run():
        logger.info("%s", text)
        return None
    failures: Iterable[Mapping[str, Any]] = summary.get("failures") or []
    rows = [{"record": f.get("record", ""), "reason": f.get("reason", "")} for f in failures]
    if rows:
        create_table_artifact(
            table=rows,
            key=artifact_key(kind, import_run_id, "failures"),
            description=f"{title}: failed records",
        )
    return create_markdown_artifact(
        markdown=text,
        key=artifact_key(kind, import_run_id, "summary"),
        description=title,
    )
