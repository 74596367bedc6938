"""The audit log as a read-only dashboard, linked along the chain of each call."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import quote
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from ormai_django.admin.display import MAX_CONSEQUENCE_LINKS, ReadOnlyAdminMixin, pretty_json
from ormai_django.models import ApprovalRequest, AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The ledger, read-only: every call, with links along its chain (the approval it
    belongs to, the event it follows from, the events that follow from it)."""

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
        "approval_link",
        "duration_ms",
    )
    list_filter = ("outcome", "tool", "model", "principal", "tenant_id")
    search_fields = ("id", "reason", "principal", "run_id", "on_behalf_of")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    fields = (
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
        "approval_link",
        "caused_by_link",
        "consequence_links",
        "idempotency_key",
        "duration_ms",
    )
    readonly_fields = fields

    def link(self, model: type, pk: Any) -> str:
        opts = model._meta
        url = reverse(
            f"admin:{opts.app_label}_{opts.model_name}_change",
            args=[quote(pk)],
            current_app=self.admin_site.name,
        )
        return format_html('<a href="{}">{}</a>', url, pk)

    @admin.display(description="arguments")
    def pretty_arguments(self, obj: AuditEvent) -> str:
        return pretty_json(obj.arguments)

    @admin.display(description="changes")
    def pretty_changes(self, obj: AuditEvent) -> str:
        return "-" if obj.changes is None else pretty_json(obj.changes)

    @admin.display(description="approval", ordering="approval")
    def approval_link(self, obj: AuditEvent) -> str:
        return self.link(ApprovalRequest, obj.approval_id) if obj.approval_id else "-"

    @admin.display(description="follows from")
    def caused_by_link(self, obj: AuditEvent) -> str:
        if not obj.caused_by_id:
            return "-"
        return self.link(AuditEvent, obj.caused_by_id)

    @admin.display(description="followed by")
    def consequence_links(self, obj: AuditEvent) -> str:
        following = list(
            obj.consequences.order_by("created_at", "id").values_list("id", "tool", "outcome")[
                : MAX_CONSEQUENCE_LINKS + 1
            ]
        )
        if not following:
            return "-"
        links = format_html_join(
            mark_safe("<br>"),
            "{} {} ({})",
            (
                (self.link(AuditEvent, pk), tool, outcome)
                for pk, tool, outcome in following[:MAX_CONSEQUENCE_LINKS]
            ),
        )
        if len(following) > MAX_CONSEQUENCE_LINKS:
            return format_html("{}<br>and more", links)
        return links
