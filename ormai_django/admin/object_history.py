"""What the agent did to one object, from that object's own admin page.

    from ormai_django.admin import AgentHistoryMixin

    @admin.register(Subscription)
    class SubscriptionAdmin(AgentHistoryMixin, SimpleHistoryAdmin):
        ...

adds an "Agent history" button to each change page (beside "History") and a page that
lists, newest first, every audit event whose ledger touched the object (its values before
and after each write, who asked, why, the approval it went through) and the approval
requests held for it, with a "Roll back" link on each write that can still be undone, as
django-simple-history's history view lists the object's history rows.

The mixin sets ``change_form_template``; a ModelAdmin with a template of its own adds the
button itself: ``<a href="{{ agent_history_url }}">``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db import connections, models
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from ormai_django.admin.approval_decision import local_time
from ormai_django.admin.approval_summary import summary_of
from ormai_django.admin.display import cell_text
from ormai_django.models import ApprovalRequest, AuditEvent
from ormai_django.orm.rows import to_json
from ormai_django.rollback import ROLLBACK_TOOL, RollbackError, check_reversible

# Where the database can't search inside JSON (SQLite), the newest events and approvals of
# the model that are looked through for the object.
SCAN_LIMIT = 2000
SHOWN = 200


def _entries_for(event: AuditEvent, label: str, pk: Any) -> list[dict[str, Any]]:
    changes = event.changes if isinstance(event.changes, list) else []
    return [
        entry
        for entry in changes
        if isinstance(entry, dict)
        and to_json(entry.get("pk")) == pk
        and (entry.get("model") or event.model) == label
    ]


def events_for(obj: models.Model, limit: int = SHOWN) -> list[tuple[AuditEvent, list[dict]]]:
    """The writes that changed ``obj`` and the calls that named it by id, newest first,
    each with the ledger entries of ``obj``."""
    label, pk = obj._meta.label, to_json(obj.pk)
    named = Q(model=label, arguments__id=pk)
    events = AuditEvent.objects.filter(model__contains=label).order_by("-created_at", "-id")
    if connections[events.db].vendor == "postgresql":
        touched = Q(model=label, changes__contains=[{"pk": pk}]) | Q(
            changes__contains=[{"model": label, "pk": pk}]
        )
        candidates = events.filter(named | touched)[:limit]
    else:
        candidates = events.filter(named | Q(changes__isnull=False))[:SCAN_LIMIT]
    found = []
    for event in candidates:
        entries = _entries_for(event, label, pk)
        arguments = event.arguments if isinstance(event.arguments, dict) else {}
        if entries or (event.model == label and to_json(arguments.get("id")) == pk):
            found.append((event, entries))
        if len(found) >= limit:
            break
    return found


def approvals_for(obj: models.Model, limit: int = SHOWN) -> list[ApprovalRequest]:
    """The approval requests held for writes of ``obj`` (by id, or among the held rows)."""
    label, pk = obj._meta.label, to_json(obj.pk)
    approvals = ApprovalRequest.objects.filter(model=label).order_by("-created_at")
    if connections[approvals.db].vendor == "postgresql":
        return list(
            approvals.filter(Q(call__arguments__id=pk) | Q(held_ids__contains=[pk]))[:limit]
        )
    found = []
    for approval in approvals[:SCAN_LIMIT]:
        arguments = (approval.call or {}).get("arguments") or {}
        if to_json(arguments.get("id")) == pk or pk in (approval.held_ids or []):
            found.append(approval)
            if len(found) >= limit:
                break
    return found


def changed_values(entries: list[dict[str, Any]]) -> list[str]:
    """The object's ledger entries as lines: ``plan: basic -> pro``, ``created``, ``deleted``."""
    lines = []
    for entry in entries:
        before, after = entry.get("before"), entry.get("after")
        if before is None and after is not None:
            lines.append(str(_("created")))
        elif after is None and before is not None:
            lines.append(str(_("deleted")))
        for name, value in (after or {}).items() if before is not None else ():
            lines.append(f"{name}: {cell_text(before.get(name))} -> {cell_text(value)}")
    return lines


class AgentHistoryMixin:
    """A host model's ModelAdmin mixin: the agent's writes and approvals of each object."""

    change_form_template = "admin/ormai_django/agent_history_change_form.html"
    agent_history_template = "admin/ormai_django/agent_history.html"

    def get_urls(self) -> list[Any]:
        opts = self.model._meta
        return [
            path(
                "<path:object_id>/agent-history/",
                self.admin_site.admin_view(self.agent_history_view),
                name=f"{opts.app_label}_{opts.model_name}_agent_history",
            ),
            *super().get_urls(),
        ]

    def agent_history_url(self, pk: Any) -> str:
        opts = self.model._meta
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_agent_history",
            args=[quote(pk)],
            current_app=self.admin_site.name,
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "agent_history_url": self.agent_history_url(unquote(object_id)),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def agent_history_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.model._meta, object_id)
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        may_see_audit = request.user.has_perm("ormai_django.view_auditevent")
        may_roll_back = request.user.has_perm("ormai_django.rollback_auditevent")
        site = self.admin_site.name
        rows = []
        found = events_for(obj) if may_see_audit else []
        undone = set(
            AuditEvent.objects.filter(
                caused_by__in=[e.pk for e, _ in found],
                tool=ROLLBACK_TOOL,
                outcome=AuditEvent.Outcome.OK,
            ).values_list("caused_by_id", flat=True)
        )
        for event, entries in found:
            rows.append(
                {
                    "event": event,
                    "at": local_time(event.created_at),
                    "changes": changed_values(entries),
                    "url": reverse(
                        "admin:ormai_django_auditevent_change",
                        args=[quote(event.pk)],
                        current_app=site,
                    ),
                    "approval_url": reverse(
                        "admin:ormai_django_approvalrequest_change",
                        args=[quote(event.approval_id)],
                        current_app=site,
                    )
                    if event.approval_id
                    else "",
                    "rollback_url": self._rollback_url(event)
                    if may_roll_back and event.pk not in undone
                    else "",
                }
            )
        approvals = []
        if request.user.has_perm("ormai_django.view_approvalrequest") or request.user.has_perm(
            "ormai_django.approve_approvalrequest"
        ):
            approvals = [
                {
                    "approval": approval,
                    "summary": summary_of(approval),
                    "at": local_time(approval.created_at),
                    "url": reverse(
                        "admin:ormai_django_approvalrequest_change",
                        args=[quote(approval.pk)],
                        current_app=site,
                    ),
                }
                for approval in approvals_for(obj)
            ]
        opts = self.model._meta
        context = {
            **self.admin_site.each_context(request),
            "opts": opts,
            "original": obj,
            "object": obj,
            "title": str(_("What the agent did to %(object)s")) % {"object": obj},
            "events": rows,
            "approvals": approvals,
            "may_see_audit": may_see_audit,
            "change_url": reverse(
                f"admin:{opts.app_label}_{opts.model_name}_change",
                args=[quote(obj.pk)],
                current_app=site,
            ),
        }
        request.current_app = site
        return TemplateResponse(request, self.agent_history_template, context)

    def _rollback_url(self, event: AuditEvent) -> str:
        try:
            check_reversible(event)
        except RollbackError:
            return ""
        return reverse(
            "admin:ormai_django_auditevent_rollback",
            args=[quote(event.pk)],
            current_app=self.admin_site.name,
        )
