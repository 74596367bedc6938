"""The audit log as a read-only dashboard, linked along the chain of each call."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from ormai_django.admin.display import MAX_CONSEQUENCE_LINKS, ReadOnlyAdminMixin, pretty_json
from ormai_django.admin.rollback_views import rollback_page
from ormai_django.models import ApprovalRequest, AuditEvent
from ormai_django.rollback import RollbackError, check_reversible, rollback_of


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
        "shadow_verdict",
    )
    readonly_fields = fields

    def url_of(self, model: type, view: str, pk: Any) -> str:
        """The admin URL of ``view`` ("change", "rollback") for the row ``pk`` of ``model``."""
        opts = model._meta
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_{view}",
            args=[quote(pk)],
            current_app=self.admin_site.name,
        )

    def link(self, model: type, pk: Any) -> str:
        return format_html('<a href="{}">{}</a>', self.url_of(model, "change", pk), pk)

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

    # --- "Roll back": the dry-run table, a reason, a confirmation ----------------------------

    def has_rollback_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.rollback_auditevent")

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<path:object_id>/rollback/",
                self.admin_site.admin_view(self.rollback_view),
                name=f"{self.opts.app_label}_{self.opts.model_name}_rollback",
            ),
            *super().get_urls(),
        ]

    def rollback_url(self, obj: AuditEvent) -> str:
        return self.url_of(AuditEvent, "rollback", obj.pk)

    def can_roll_back(self, request: HttpRequest, obj: AuditEvent) -> bool:
        """Shown on an executed write not yet rolled back, to users with the permission."""
        if not self.has_rollback_permission(request):
            return False
        try:
            check_reversible(obj)
        except RollbackError:
            return False
        return rollback_of(obj) is None

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        extra_context = dict(extra_context or {})
        if obj is not None and self.can_roll_back(request, obj):
            extra_context["rollback_url"] = self.rollback_url(obj)
        return super().change_view(request, object_id, form_url, extra_context)

    def rollback_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET: the inverse row by row (a preview that records nothing) and a form; POST:
        the rollback itself (ormai_django.admin.rollback_views)."""
        if not self.has_rollback_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        return rollback_page(self, request, obj)
