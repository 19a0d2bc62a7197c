"""API tokens in the admin: list, search, revoke (delete). New tokens: ``manage.py api_token``."""

from __future__ import annotations

from django.contrib import admin

from .models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "token_key", "created", "expiry"]
    search_fields = ["name", "token_key", "user__username"]
    list_filter = ["expiry"]
    readonly_fields = ["name", "user", "token_key", "created", "expiry"]
    exclude = ["digest"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # the key must be shown once: use the management command

    def has_change_permission(self, request, obj=None) -> bool:
        return False
