"""Admin pages of the pipeline: import runs (linked to their flow runs in the Prefect dashboard)
and cluster jobs (what ran where, its state and the tail of its log).

The import run model lives in the core app (every app's rows point at the run that wrote them);
its admin page lives here because it links to the dashboard, which is pipeline knowledge."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from emgsonar.admin_tools import FastListAdmin, render_json
from emgsonar.models import ImportRun
from workflows.models import ClusterJob
from workflows.services import dashboard_url


@admin.register(ImportRun)
class ImportRunAdmin(FastListAdmin):
    """Read-only: an import run is a record of what happened, written by its flow.

    Editing its state or JSON by hand would make the record lie; parameters, summary and tool
    versions are shown as lists, and the flow run links to its page in the Prefect dashboard.
    """

    list_display = (
        "id", "kind", "state", "created_by", "created", "started", "finished", "flow_run_link",
    )  # fmt: skip
    list_select_related = ("created_by",)
    list_filter = ("kind", "state")
    exact_search_fields = ("flow_run_id",)
    search_fields = ("=id",)
    search_help_text = "Import run id or flow run id"
    fields = (
        ("kind", "state"),
        "flow_run_link",
        ("created", "started", "finished"),
        "created_by",
        "error",
        "parameters_list",
        "summary_list",
        "tool_versions_list",
    )
    readonly_fields = tuple(
        name for entry in fields for name in (entry if isinstance(entry, tuple) else (entry,))
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ImportRun | None = None) -> bool:
        return False

    @admin.display(description="flow run")
    def flow_run_link(self, run: ImportRun) -> SafeString | str:
        url = dashboard_url(run.flow_run_id)
        if url is None:
            return "—"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{}</a>', url, run.flow_run_id
        )

    @admin.display(description="parameters")
    def parameters_list(self, run: ImportRun) -> SafeString:
        return render_json(run.parameters)

    @admin.display(description="summary")
    def summary_list(self, run: ImportRun) -> SafeString:
        return render_json(run.summary)

    @admin.display(description="tool versions")
    def tool_versions_list(self, run: ImportRun) -> SafeString:
        return render_json(run.tool_versions)


@admin.register(ClusterJob)
class ClusterJobAdmin(FastListAdmin):
    list_display = ("key", "backend", "job_id", "state", "attempts", "updated")
    list_filter = ("backend", "state")
    search_fields = ("key", "job_id")
    raw_id_fields = ("import_run",)
