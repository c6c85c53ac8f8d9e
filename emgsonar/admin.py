"""Admin pages for import provenance and API tokens."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from emgsonar.admin_tools import FastListAdmin, render_json
from emgsonar.models import ApiToken, ImportRun
from workflows.services import dashboard_url

admin.site.site_header = "emgsonar administration"
admin.site.site_title = "emgsonar admin"
#: the stock login page plus how to get a login (there is no sign-up)
admin.site.login_template = "emgsonar/admin_login.html"


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


@admin.register(ApiToken)
class ApiTokenAdmin(FastListAdmin):
    """Tokens are listed and revoked (deleted) here, issued by ``create_user NAME --token``:
    the key must be shown once to whoever asked for it, which a saved admin form cannot do (it
    stored a token without a key)."""

    list_display = ("prefix", "user", "name", "created", "last_used")
    list_select_related = ("user",)
    readonly_fields = ("key_hash", "prefix", "created", "last_used")
    search_fields = ("user__username", "name", "prefix")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
