"""Admin page for cluster jobs: what ran where, its state and the tail of its log."""

from django.contrib import admin

from emgsonar.admin_tools import FastListAdmin
from workflows.models import ClusterJob


@admin.register(ClusterJob)
class ClusterJobAdmin(FastListAdmin):
    list_display = ("key", "backend", "job_id", "state", "attempts", "updated")
    list_filter = ("backend", "state")
    search_fields = ("key", "job_id")
    raw_id_fields = ("import_run",)
