"""The audit log as a read-only dashboard, linked along the chain of each call.

The list is built for a log of millions of rows: no date hierarchy (it scans the table for
its years), no substring search, filters that list no values from the table, and a count
that stops at ``COUNT_CAP`` (``audit_filters``). The dashboard, the run page and the export
hang off this admin's URLs (``dashboard``, ``runs``, ``export``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from ormai_django.admin import audit_filters, dashboard, export, runs
from ormai_django.admin.display import MAX_CONSEQUENCE_LINKS, ReadOnlyAdminMixin, pretty_json
from ormai_django.admin.rollback_views import rollback_page
from ormai_django.admin.run_rollback import run_rollback_page
from ormai_django.models import ApprovalRequest, AuditEvent
from ormai_django.rollback import RollbackError, check_reversible, rollback_of

# What the list's columns read: not the JSON columns (a write of 10,000 rows keeps 10,000
# before/after pairs in ``changes``), so a page of the list reads a page of small rows.
LIST_COLUMNS = ("id", "created_at", "tool", "model", "outcome", "error_code", "principal")
LIST_COLUMNS += ("tenant_id", "run_id", "affected_rows", "approval_id")


class AuditChangeList(ChangeList):
    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet:
        return super().get_queryset(request, exclude_parameters).only(*LIST_COLUMNS)


def cut(text: str, chars: int) -> str:
    """``text`` cut to ``chars`` characters, whole in its ``title`` (shown on hover)."""
    if len(text) <= chars:
        return text
    return format_html('<span title="{}">{}</span>', text, Truncator(text).chars(chars))


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The ledger, read-only: every call, with links along its chain (the approval it
    belongs to, the event it follows from, the events that follow from it)."""

    list_display = ("when", "call", "outcome_and_code", "who", "run", "affected_rows")
    list_display_links = ("when",)
    list_filter = (
        ("created_at", audit_filters.TimeRangeFilter),
        "outcome",
        audit_filters.KindFilter,
        audit_filters.ToolFilter,
        audit_filters.ModelFilter,
        audit_filters.RunFilter,
        audit_filters.TenantFilter,
        audit_filters.PrincipalFilter,
        audit_filters.ErrorCodeFilter,
    )
    # An exact id, run id or principal (each an index lookup): a substring search would read
    # every row of the log.
    search_fields = ("id",)
    search_help_text = _("An audit id, a run id or a principal, exactly.")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = audit_filters.CappedCountPaginator
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

    # --- the list's columns: narrow, cut text whole in its title ----------------------------

    @admin.display(description=_("when"), ordering="created_at")
    def when(self, obj: AuditEvent) -> str:
        local = timezone.localtime(obj.created_at)
        return format_html(
            '<time datetime="{}" title="{}">{}<br>{}</time>',
            local.isoformat(),
            obj.pk,
            local.strftime("%Y-%m-%d"),
            local.strftime("%H:%M:%S %Z"),
        )

    @admin.display(description=_("call"))
    def call(self, obj: AuditEvent) -> str:
        if not obj.model:
            return cut(obj.tool, 28)
        return format_html("{}<br>{}", cut(obj.tool, 28), cut(obj.model, 28))

    @admin.display(description=_("outcome"), ordering="outcome")
    def outcome_and_code(self, obj: AuditEvent) -> str:
        parts = [format_html("{}", obj.outcome)]
        if obj.error_code:
            parts.append(cut(obj.error_code, 28))
        if obj.approval_id:
            parts.append(
                format_html(
                    '<a href="{}" title="{}">{}</a>',
                    self.url_of(ApprovalRequest, "change", obj.approval_id),
                    obj.approval_id,
                    _("approval"),
                )
            )
        return format_html_join(mark_safe("<br>"), "{}", ((part,) for part in parts))

    @admin.display(description=_("principal"))
    def who(self, obj: AuditEvent) -> str:
        return cut(obj.principal, 24)

    @admin.display(description=_("run"))
    def run(self, obj: AuditEvent) -> str:
        if not obj.run_id:
            return "-"
        text = f"{obj.tenant_id} / {obj.run_id}" if obj.tenant_id else obj.run_id
        return format_html(
            '<a href="{}" title="{}">{}</a>',
            runs.run_url(obj.tenant_id, obj.run_id),
            text,
            Truncator(text).chars(22),
        )

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return AuditChangeList

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(pk=term) | Q(run_id=term) | Q(principal=term)), False

    # --- the pages beside the list: dashboard, run, export ----------------------------------

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return dashboard.dashboard_page(self, request)

    def run_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return runs.run_page(self, request)

    def run_rollback_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_rollback_permission(request):
            raise PermissionDenied
        return run_rollback_page(self, request)

    def export_view(self, request: HttpRequest, file_format: str) -> HttpResponse:
        """The list as its filters, search and ordering leave it, as a streamed download."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if file_format not in export.FORMATS:
            raise Http404(_("Export formats: csv, jsonl."))
        changelist = self.get_changelist_instance(request)
        return export.export_response(changelist.get_queryset(request), file_format)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        query = request.GET.urlencode()
        suffix = f"?{query}" if query else ""
        name = f"admin:{self.opts.app_label}_{self.opts.model_name}"
        extra_context = {
            **(extra_context or {}),
            "dashboard_url": reverse(f"{name}_dashboard", current_app=self.admin_site.name),
            "export_csv_url": reverse(f"{name}_export", args=["csv"]) + suffix,
            "export_jsonl_url": reverse(f"{name}_export", args=["jsonl"]) + suffix,
        }
        return super().changelist_view(request, extra_context)

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
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path("dashboard/", view(self.dashboard_view), name=f"{name}_dashboard"),
            path("run/", view(self.run_view), name=f"{name}_run"),
            path("run/rollback/", view(self.run_rollback_view), name=f"{name}_run_rollback"),
            path(
                "export.<str:file_format>",
                view(self.export_view),
                name=f"{name}_export",
            ),
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
        if obj is not None and obj.run_id:
            extra_context["run_url"] = runs.run_url(obj.tenant_id, obj.run_id)
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
