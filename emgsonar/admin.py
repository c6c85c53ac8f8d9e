"""Admin pages for import provenance and API tokens."""

from django.contrib import admin

from emgsonar.models import ApiToken, ImportRun

admin.site.site_header = "emgsonar administration"
admin.site.site_title = "emgsonar admin"
#: the stock login page plus how to get a login (there is no sign-up)
admin.site.login_template = "emgsonar/admin_login.html"


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "state", "created", "started", "finished", "flow_run_id")
    list_filter = ("kind", "state")
    readonly_fields = ("created", "updated")
    search_fields = ("=id", "flow_run_id")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "name", "created", "last_used")
    readonly_fields = ("key_hash", "prefix", "created", "last_used")
    search_fields = ("user__username", "name", "prefix")
