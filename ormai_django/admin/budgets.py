"""Write budgets in the admin: every window, what it counted, which runs are stopped.

Read-only: nobody adds, edits or deletes a window here. Users with the
``ormai_django.reset_budgetwindow`` permission get one action, "Reset the runs of the
selected windows", which asks for a confirmation and a reason, then calls
``ormai_django.budgets.reset_run`` for each run (audited as ``budget.reset`` under the
admin user's name).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import flatten_fieldsets
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ormai_django.admin.display import ReadOnlyAdminMixin, pretty_json
from ormai_django.budgets import BudgetError, reset_run
from ormai_django.models import BudgetWindow


class TrippedFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("stopped", _("run stopped")),
            ("tripped", _("tripped")),
            ("within", _("within budget")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "stopped":
            return queryset.filter(stopped=True)
        if self.value() == "tripped":
            return queryset.filter(tripped_at__isnull=False)
        if self.value() == "within":
            return queryset.filter(tripped_at__isnull=True)
        return queryset


@admin.register(BudgetWindow)
class BudgetWindowAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Budget windows: one budget's usage in one scope; reset stopped runs from here."""

    list_display = (
        "budget",
        "scope",
        "scope_key",
        "calls",
        "rows",
        "state",
        "tripped_at",
        "expires_at",
    )
    list_filter = (TrippedFilter, "scope", "budget")
    search_fields = ("budget", "scope_key", "run_id", "tenant_id")
    ordering = ("-tripped_at", "budget", "scope_key")
    actions = ("reset_runs",)
    fields = (
        "budget",
        "scope",
        "scope_key",
        ("tenant_id", "run_id"),
        ("calls", "rows"),
        "state",
        ("tripped_at", "expires_at", "updated_at"),
        "trip_details",
    )
    readonly_fields = flatten_fieldsets(((None, {"fields": fields}),))

    @admin.display(description=_("calls counted"))
    def calls(self, obj: BudgetWindow) -> int:
        return sum(int(e[1]) for e in _entries(obj))

    @admin.display(description=_("rows counted"))
    def rows(self, obj: BudgetWindow) -> int:
        return sum(int(e[2]) for e in _entries(obj))

    @admin.display(description=_("state"), ordering="stopped")
    def state(self, obj: BudgetWindow) -> str:
        if obj.stopped:
            return str(_("run stopped"))
        return str(_("tripped")) if obj.tripped_at else str(_("within budget"))

    @admin.display(description=_("trip"))
    def trip_details(self, obj: BudgetWindow) -> str:
        return "-" if obj.trip is None else pretty_json(obj.trip)

    def has_reset_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("ormai_django.reset_budgetwindow")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or self.has_reset_permission(request)

    @admin.action(description=_("Reset the runs of the selected windows"), permissions=["reset"])
    def reset_runs(
        self, request: HttpRequest, queryset: QuerySet[BudgetWindow]
    ) -> HttpResponse | None:
        runs = sorted(
            set(queryset.filter(scope=BudgetWindow.Scope.RUN).values_list("tenant_id", "run_id"))
        )
        if not runs:
            self.message_user(
                request, _("None of the selected windows belongs to a run."), messages.WARNING
            )
            return None
        reason = request.POST.get("reason", "").strip()
        if request.POST.get("post") == "yes":
            self.reset_each(request, runs, reason)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Reset these runs?"),
            "opts": self.opts,
            "runs": runs,
            "queryset": queryset,
            "reason": reason,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request, "admin/ormai_django/budgetwindow/reset_confirmation.html", context
        )

    def reset_each(self, request: HttpRequest, runs: list[tuple[str, str]], reason: str) -> None:
        done, refused = [], []
        actor = request.user.get_username()
        for tenant, run_id in runs:
            try:
                reset_run(run_id, tenant_id=tenant, actor=actor, reason=reason)
            except BudgetError as exc:
                refused.append(f"{run_id}: {exc.code}: {exc.message}")
            else:
                done.append(run_id)
        if done:
            text = ngettext(
                "Reset %(count)d run: %(runs)s. Its writes run again.",
                "Reset %(count)d runs: %(runs)s. Their writes run again.",
                len(done),
            ) % {"count": len(done), "runs": ", ".join(done)}
            self.message_user(request, text, messages.SUCCESS)
        for text in refused:
            self.message_user(request, _("Not reset: %(what)s") % {"what": text}, messages.ERROR)


def _entries(obj: BudgetWindow) -> list[list[Any]]:
    recent = obj.recent if isinstance(obj.recent, list) else []
    return [e for e in recent if isinstance(e, list) and len(e) == 3]
