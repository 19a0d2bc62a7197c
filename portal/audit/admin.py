"""The audit trail in the admin: view and filter only, no add, change or delete."""

from __future__ import annotations

from django.contrib import admin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["at", "actor_username", "role", "client_ip", "action", "object_ref", "outcome"]
    list_filter = ["action", "outcome", "role", "object_type", "at"]
    search_fields = ["actor_username", "object_ref", "client_ip", "action"]
    date_hierarchy = "at"
    list_per_page = 100
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
