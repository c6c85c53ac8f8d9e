"""Admin site set-up and the API token pages (import runs: ``workflows/admin.py``)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from emgsonar.admin_tools import FastListAdmin
from emgsonar.models import ApiToken

admin.site.site_header = "emgsonar administration"
admin.site.site_title = "emgsonar admin"
#: the stock login page plus how to get a login (there is no sign-up)
admin.site.login_template = "emgsonar/admin_login.html"


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
