"""Django admin: the audit log as a read-only dashboard."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from ormai_django.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "tool",
        "model",
        "outcome",
        "error_code",
        "principal",
        "tenant_id",
        "affected_rows",
        "duration_ms",
    )
    list_filter = ("outcome", "tool", "model", "principal", "tenant_id")
    search_fields = ("id", "reason", "principal", "run_id", "on_behalf_of")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    readonly_fields = (
        "id",
        "created_at",
        "tool",
        "model",
        "principal",
        "on_behalf_of",
        "tenant_id",
        "run_id",
        "reason",
        "pretty_arguments",
        "outcome",
        "error_code",
        "error_message",
        "affected_rows",
        "pretty_changes",
        "caused_by",
        "idempotency_key",
        "duration_ms",
    )
    exclude = ("arguments", "changes")

    @admin.display(description="arguments")
    def pretty_arguments(self, obj: AuditEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.arguments, indent=2, sort_keys=True))

    @admin.display(description="changes")
    def pretty_changes(self, obj: AuditEvent) -> str:
        if obj.changes is None:
            return "-"
        return format_html("<pre>{}</pre>", json.dumps(obj.changes, indent=2, sort_keys=True))

    # The ledger is append-only: nobody adds, edits or deletes through the admin.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
