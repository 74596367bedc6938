"""The approval queue: held calls, their preview, decisions, approve and deny, bulk actions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import flatten_fieldsets, quote, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.text import Truncator
from django.utils.timesince import timesince, timeuntil

from ormai_django.admin.display import (
    Decide,
    ReadOnlyAdminMixin,
    decision_message,
    is_overdue,
    pretty_json,
    preview_rows,
)
from ormai_django.approvals import ApprovalError, approve, deny
from ormai_django.models import ApprovalDecision, ApprovalRequest, AuditEvent


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The queue of held calls; approve or deny each, or several through a confirmation."""

    list_display = (
        "id",
        "tool",
        "model",
        "affected_rows",
        "requester",
        "approvals",
        "short_reason",
        "age",
        "time_left",
        "status",
    )
    list_filter = ("status", "tool", "model", "principal")
    search_fields = ("id", "reason", "principal", "run_id")
    ordering = ("-created_at", "-id")
    date_hierarchy = "created_at"
    actions = ("approve_selected", "deny_selected")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "status",
                    ("tool", "model", "affected_rows"),
                    "requester",
                    ("tenant_id", "run_id"),
                    "reason",
                    "approvals",
                    ("created_at", "expires_at", "time_left"),
                )
            },
        ),
        ("Why it was held", {"fields": ("why_held", "held_call")}),
        ("Outcome", {"fields": ("decided_at", "failure", "pretty_result")}),
    )
    readonly_fields = flatten_fieldsets(fieldsets)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApprovalRequest]:
        approving = Q(decisions__verdict=ApprovalDecision.Verdict.APPROVE)
        return (
            super()
            .get_queryset(request)
            .annotate(approvals_given=Count("decisions", filter=approving))
        )

    # --- columns and fields ---------------------------------------------------------------

    @admin.display(description="requester", ordering="principal")
    def requester(self, obj: ApprovalRequest) -> str:
        if obj.on_behalf_of:
            return f"{obj.principal} / {obj.on_behalf_of}"
        return obj.principal

    @admin.display(description="approvals", ordering="approvals_given")
    def approvals(self, obj: ApprovalRequest) -> str:
        given = getattr(obj, "approvals_given", None)
        if given is None:
            given = obj.decisions.filter(verdict=ApprovalDecision.Verdict.APPROVE).count()
        return f"{given} / {obj.approvers_required}"

    @admin.display(description="reason", ordering="reason")
    def short_reason(self, obj: ApprovalRequest) -> str:
        return Truncator(obj.reason).chars(80)

    @admin.display(description="age", ordering="created_at")
    def age(self, obj: ApprovalRequest) -> str:
        return timesince(obj.created_at)

    @admin.display(description="time left", ordering="expires_at")
    def time_left(self, obj: ApprovalRequest) -> str:
        if is_overdue(obj):
            return "expired"
        if obj.status != ApprovalRequest.Status.PENDING:
            return "-"
        return timeuntil(obj.expires_at)

    @admin.display(description="held call")
    def held_call(self, obj: ApprovalRequest) -> str:
        return pretty_json(obj.call)

    @admin.display(description="result")
    def pretty_result(self, obj: ApprovalRequest) -> str:
        return "-" if obj.result is None else pretty_json(obj.result)

    # --- permissions: read-only; deciding needs approve_approvalrequest -------------------

    def has_approve_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("ormai_django.approve_approvalrequest")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or self.has_approve_permission(request)

    # --- the change page: the preview, the decisions, the audit trail, the buttons --------

    def get_urls(self) -> list[Any]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/approve/",
                self.admin_site.admin_view(self.approve_view),
                name="{}_{}_approve".format(*info),
            ),
            path(
                "<path:object_id>/deny/",
                self.admin_site.admin_view(self.deny_view),
                name="{}_{}_deny".format(*info),
            ),
            *super().get_urls(),
        ]

    def url_of(self, name: str, *args: Any) -> str:
        info = self.opts.app_label, self.opts.model_name
        return reverse(
            "admin:{}_{}_{}".format(*info, name),
            args=[quote(a) for a in args],
            current_app=self.admin_site.name,
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        extra_context = dict(extra_context or {})
        if obj is not None:
            extra_context.update(self.decision_context(request, obj))
        return super().change_view(request, object_id, form_url, extra_context)

    def decision_context(self, request: HttpRequest, obj: ApprovalRequest) -> dict[str, Any]:
        preview = obj.preview if isinstance(obj.preview, Mapping) else {}
        rows = preview_rows(preview)
        overdue = is_overdue(obj)
        pending = obj.status == ApprovalRequest.Status.PENDING
        return {
            "preview_rows": rows,
            "preview_truncated": bool(preview.get("truncated")),
            "preview_cascade": preview.get("cascade") or {},
            "decisions": list(obj.decisions.order_by("created_at", "id")),
            "audit_rows": self.audit_rows(obj),
            "can_decide": pending and not overdue and self.has_approve_permission(request),
            "overdue": overdue,
            "approve_url": self.url_of("approve", obj.pk),
            "deny_url": self.url_of("deny", obj.pk),
        }

    def audit_rows(self, obj: ApprovalRequest) -> list[dict[str, Any]]:
        """The chain: the request's audit row, each decision's, the executed write's."""
        roles = {
            "approval.approve": "decision (approve)",
            "approval.deny": "decision (deny)",
            "approval.expire": "expiry",
        }
        rows = []
        for event in obj.events.order_by("created_at", "id"):
            role = roles.get(event.tool) or self.write_role(event)
            url = reverse(
                "admin:ormai_django_auditevent_change",
                args=[quote(event.pk)],
                current_app=self.admin_site.name,
            )
            rows.append({"role": role, "event": event, "url": url})
        return rows

    @staticmethod
    def write_role(event: AuditEvent) -> str:
        """What a write's audit row is in the chain: the request, a retry answered from the
        stored result, the approved write, or its failure."""
        if event.outcome == AuditEvent.Outcome.PENDING_APPROVAL and event.caused_by_id is None:
            return "request"
        if event.affected_rows is None and event.outcome in ("ok", "pending_approval"):
            return "retry (answered from the stored result)"
        if event.outcome == AuditEvent.Outcome.OK:
            return "executed write"
        return f"execution {event.outcome} ({event.error_code})"

    def approve_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self.decide_view(request, object_id, approve, note_required=False)

    def deny_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self.decide_view(request, object_id, deny, note_required=True)

    def decide_view(
        self, request: HttpRequest, object_id: str, decide: Decide, *, note_required: bool
    ) -> HttpResponse:
        if not self.has_approve_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        note = request.POST.get("note", "").strip()
        if note_required and not note:
            self.message_user(
                request, "A denial needs a note saying why; nothing was decided.", messages.ERROR
            )
        else:
            try:
                outcome = decide(obj.pk, request.user.get_username(), note)
            except ApprovalError as exc:
                self.message_user(request, f"{exc.code}: {exc.message}", messages.ERROR)
            else:
                level, text = decision_message(obj.pk, outcome)
                self.message_user(request, text, level)
        return HttpResponseRedirect(self.url_of("change", obj.pk))

    # --- bulk actions, through a confirmation page ----------------------------------------

    @admin.action(description="Approve selected", permissions=["approve"])
    def approve_selected(
        self, request: HttpRequest, queryset: QuerySet[ApprovalRequest]
    ) -> HttpResponse | None:
        return self.decide_selected(request, queryset, approve, verdict="approve")

    @admin.action(description="Deny selected", permissions=["approve"])
    def deny_selected(
        self, request: HttpRequest, queryset: QuerySet[ApprovalRequest]
    ) -> HttpResponse | None:
        return self.decide_selected(request, queryset, deny, verdict="deny")

    def decide_selected(
        self,
        request: HttpRequest,
        queryset: QuerySet[ApprovalRequest],
        decide: Decide,
        *,
        verdict: str,
    ) -> HttpResponse | None:
        note = request.POST.get("note", "").strip()
        error = ""
        if request.POST.get("post") == "yes":
            if verdict == "deny" and not note:
                error = "A denial needs a note saying why."
            else:
                self.apply_to_selected(request, list(queryset), decide, note, verdict)
                return None  # back to the changelist, with the messages
        context = {
            **self.admin_site.each_context(request),
            "title": f"{verdict.capitalize()} the selected approval requests?",
            "opts": self.opts,
            "queryset": queryset,
            "verdict": verdict,
            "action": f"{verdict}_selected",
            "note": note,
            "note_required": verdict == "deny",
            "error": error,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request, "admin/ormai_django/approvalrequest/decide_selected_confirmation.html", context
        )

    def apply_to_selected(
        self,
        request: HttpRequest,
        selected: list[ApprovalRequest],
        decide: Decide,
        note: str,
        verdict: str,
    ) -> None:
        """Decide each request on its own (one refusal doesn't stop the others); report
        what landed and, one message each, what was refused."""
        landed, refused = [], []
        for obj in selected:
            try:
                outcome = decide(obj.pk, request.user.get_username(), note)
            except ApprovalError as exc:
                refused.append(f"{obj.pk}: {exc.code}: {exc.message}")
            else:
                landed.append((obj.pk, outcome))
        done = "Approved" if verdict == "approve" else "Denied"
        if landed:
            summary = ", ".join(
                f"{pk} ({o['status']}, {o['approvals']} / {o['approvers_required']})"
                for pk, o in landed
            )
            self.message_user(
                request, f"{done} {len(landed)} of {len(selected)}: {summary}.", messages.SUCCESS
            )
            for pk, outcome in landed:
                if outcome["status"] == ApprovalRequest.Status.FAILED:
                    self.message_user(request, decision_message(pk, outcome)[1], messages.ERROR)
        for text in refused:
            self.message_user(request, f"Refused {text}", messages.ERROR)
