"""The approver's desk: the queue of held calls and the page where one is decided.

The queue puts what waits first (soonest to expire first) and says each call in a line.
The request page follows the order a person decides in: what it does, why it was held,
every row it would change, then the decision (approve, approve with changes, deny) for
those who may decide now. Decisions go through ``ormai_django.approvals.approve`` /
``deny`` (the one path), as the logged-in user, and into Django's ``LogEntry``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets, quote, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.timesince import timeuntil
from django.utils.translation import gettext_lazy as _

from ormai_django.admin.approval_bulk import BulkDecisionsMixin
from ormai_django.admin.approval_decision import EditsForm, local_time, why_not_decide
from ormai_django.admin.approval_diff import proposed_rows
from ormai_django.admin.approval_filters import WaitingForMeFilter
from ormai_django.admin.approval_summary import held_reasons, risk_badges, summary_of
from ormai_django.admin.audit_filters import CappedCountPaginator
from ormai_django.admin.display import (
    Decide,
    ReadOnlyAdminMixin,
    decision_message,
    is_overdue,
    pretty_json,
)
from ormai_django.admin.log_entries import log_write
from ormai_django.approvals import ApprovalError, approve, deny
from ormai_django.models import ApprovalDecision, ApprovalRequest, AuditEvent
from ormai_django.orm.history import history_user

PENDING = ApprovalRequest.Status.PENDING


def phone_labelled(label: Any, value: str) -> str:
    """A cell with its column's name before it, shown only where the table is a card (a
    phone's width, without column headers)."""
    return format_html('<span class="ormai-label">{}: </span>{}', label, value)


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(BulkDecisionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The queue of held calls; approve or deny each, or several through a confirmation."""

    list_display = ("request_summary", "requester", "short_reason", "approvals", "time_left")
    list_display_links = None  # the summary is the link
    list_filter = (WaitingForMeFilter, "status", "tenant_id", "model", "tool")
    search_fields = ("=id", "reason", "principal", "=run_id")
    # No count of the whole queue on every page (it grows with the log): the list's own
    # count stops at 10,001 rows too, as the audit list's does.
    show_full_result_count = False
    paginator = CappedCountPaginator
    actions = ("approve_selected", "deny_selected")
    change_form_template = "admin/ormai_django/approvalrequest/request_page.html"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "status",
                    ("tool", "model", "affected_rows"),
                    ("tenant_id", "run_id"),
                    ("created_at", "expires_at", "decided_at"),
                    "failure",
                    "pretty_result",
                )
            },
        ),
    )
    readonly_fields = flatten_fieldsets(fieldsets)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApprovalRequest]:
        approving = (
            ApprovalDecision.objects.filter(
                approval=OuterRef("pk"),
                verdict=ApprovalDecision.Verdict.APPROVE,
                revision=OuterRef("revision"),
            )
            .order_by()
            .values("approval")
            .annotate(n=Count("id"))
            .values("n")
        )
        return (
            super().get_queryset(request).annotate(approvals_given=Coalesce(Subquery(approving), 0))
        )

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        # What waits first, soonest to expire first; then the decided ones, newest first.
        now = timezone.now()
        open_ = Q(status=PENDING, expires_at__gt=now)
        waiting = Case(When(open_, then=Value(0)), default=Value(1), output_field=IntegerField())
        expiry = Case(When(open_, then=F("expires_at")), output_field=DateTimeField())
        return [waiting.asc(), expiry.asc(nulls_last=True), "-created_at", "-id"]

    # --- columns --------------------------------------------------------------------------

    @admin.display(description=_("request"))
    def request_summary(self, obj: ApprovalRequest) -> str:
        badges = format_html_join(
            "",
            ' <span class="ormai-badge ormai-badge-{}">{}</span>',
            ((b.kind, b.label) for b in risk_badges(obj)),
        )
        return format_html(
            '<a href="{}" class="ormai-summary">{}</a>{}',
            self.url_of("change", obj.pk),
            summary_of(obj),
            badges,
        )

    @admin.display(description=_("who"), ordering="principal")
    def requester(self, obj: ApprovalRequest) -> str:
        who = obj.principal
        if obj.on_behalf_of:
            who = str(_("%(agent)s for %(user)s")) % {"agent": who, "user": obj.on_behalf_of}
        return phone_labelled(_("who"), who)

    @admin.display(description=_("why"), ordering="reason")
    def short_reason(self, obj: ApprovalRequest) -> str:
        return phone_labelled(_("why"), Truncator(obj.reason).chars(70))

    @admin.display(description=_("approvals"), ordering="approvals_given")
    def approvals(self, obj: ApprovalRequest) -> str:
        given = getattr(obj, "approvals_given", None)
        if given is None:
            given = obj.decisions.filter(
                verdict=ApprovalDecision.Verdict.APPROVE, revision=obj.revision
            ).count()
        text = str(_("%(given)d of %(needed)d")) % {
            "given": given,
            "needed": obj.approvers_required,
        }
        return phone_labelled(_("approvals"), text)

    @admin.display(description=_("time left"), ordering="expires_at")
    def time_left(self, obj: ApprovalRequest) -> str:
        if is_overdue(obj):
            return str(_("expired"))
        if obj.status != PENDING:
            return obj.get_status_display()
        return str(_("%(time)s left")) % {"time": timeuntil(obj.expires_at, depth=1)}

    @admin.display(description=_("result"))
    def pretty_result(self, obj: ApprovalRequest) -> str:
        return "-" if obj.result is None else pretty_json(obj.result)

    # --- permissions: read-only; deciding needs approve_approvalrequest -------------------

    def has_approve_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("ormai_django.approve_approvalrequest")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or self.has_approve_permission(request)

    # --- the request page -----------------------------------------------------------------

    def get_urls(self) -> list[Any]:
        info = self.opts.app_label, self.opts.model_name
        views = (("approve", self.approve_view), ("deny", self.deny_view))
        return [
            *(
                path(
                    f"<path:object_id>/{name}/",
                    self.admin_site.admin_view(view),
                    name="{}_{}_{}".format(*info, name),
                )
                for name, view in views
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
            extra_context.update(self.request_context(request, obj))
        return super().change_view(request, object_id, form_url, extra_context)

    def request_context(
        self, request: HttpRequest, obj: ApprovalRequest, edits_form: EditsForm | None = None
    ) -> dict[str, Any]:
        rows, page = proposed_rows(obj, request.GET.get("page"), site=self.admin_site.name)
        why_not = why_not_decide(request, obj, self.has_approve_permission(request))
        form = edits_form or EditsForm(obj)
        return {
            "summary": summary_of(obj),
            "badges": risk_badges(obj),
            "held_reasons": held_reasons(obj),
            "preview_rows": rows,
            "preview_page": page,
            "preview_cascade": (obj.preview or {}).get("cascade") or {}
            if isinstance(obj.preview, dict)
            else {},
            "drifted_rows": sum(1 for row in rows if row["drifted"]),
            "decisions": list(obj.decisions.order_by("created_at", "id")),
            "audit_rows": self.audit_rows(obj),
            "can_decide": not why_not,
            "why_not_decide": why_not,
            "edits_form": form if form.editable else None,
            "times": {
                "created": local_time(obj.created_at),
                "expires": local_time(obj.expires_at),
                "decided": local_time(obj.decided_at) if obj.decided_at else "",
            },
            "held_call": pretty_json(obj.call),
            "edited_call": pretty_json(obj.edited_call) if obj.edited_call else "",
            "rollback_url": self.rollback_url(request, obj),
            "approve_url": self.url_of("approve", obj.pk),
            "deny_url": self.url_of("deny", obj.pk),
        }

    def rollback_url(self, request: HttpRequest, obj: ApprovalRequest) -> str:
        """The rollback page of the executed write, for those who may roll back."""
        if obj.status != ApprovalRequest.Status.EXECUTED:
            return ""
        if not request.user.has_perm("ormai_django.rollback_auditevent"):
            return ""
        audit_id = (obj.result or {}).get("audit_id") if isinstance(obj.result, dict) else None
        if not audit_id:
            return ""
        return reverse(
            "admin:ormai_django_auditevent_rollback",
            args=[quote(audit_id)],
            current_app=self.admin_site.name,
        )

    def audit_rows(self, obj: ApprovalRequest) -> list[dict[str, Any]]:
        """The chain: the request's audit row, each decision's, the executed write's."""
        roles = {
            "approval.approve": _("decision (approve)"),
            "approval.deny": _("decision (deny)"),
            "approval.expire": _("expiry"),
        }
        rows = []
        for event in obj.events.order_by("created_at", "id"):
            role = roles.get(event.tool) or self.write_role(event)
            url = reverse(
                "admin:ormai_django_auditevent_change",
                args=[quote(event.pk)],
                current_app=self.admin_site.name,
            )
            rows.append(
                {"role": role, "event": event, "url": url, "at": local_time(event.created_at)}
            )
        return rows

    @staticmethod
    def write_role(event: AuditEvent) -> Any:
        """What a write's audit row is in the chain: the request, a retry answered from the
        stored result, a dry run of an edit, the approved write, or its failure."""
        if event.outcome == AuditEvent.Outcome.PENDING_APPROVAL and event.caused_by_id is None:
            return _("request")
        if event.outcome == "dry_run":
            return _("preview of the edited call")
        if event.affected_rows is None and event.outcome in ("ok", "pending_approval"):
            return _("retry (answered from the stored result)")
        if event.outcome == AuditEvent.Outcome.OK:
            return _("executed write")
        return f"{_('execution')} {event.outcome} ({event.error_code})"

    # --- deciding -------------------------------------------------------------------------

    def approve_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self.decide_view(request, object_id, approve, verdict="approve")

    def deny_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self.decide_view(request, object_id, deny, verdict="deny")

    def decide_view(
        self, request: HttpRequest, object_id: str, decide: Decide, *, verdict: str
    ) -> HttpResponse:
        if not self.has_approve_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        note = request.POST.get("note", "").strip()
        edits: dict[str, Any] | None = None
        if verdict == "approve" and request.POST.get("_with_changes"):
            form = EditsForm(obj, request.POST)
            edits = form.edits() if form.is_valid() else {}
            if not edits:
                self.message_user(
                    request,
                    _("No field was changed; nothing was decided. Use Approve to approve as is."),
                    messages.ERROR,
                )
                return HttpResponseRedirect(self.url_of("change", obj.pk))
            note = form.cleaned_data.get("note", "").strip()
        if verdict == "deny" and not note:
            self.message_user(
                request, _("A denial needs a note saying why; nothing was decided."), messages.ERROR
            )
            return HttpResponseRedirect(self.url_of("change", obj.pk))
        outcome = self.decide_one(request, obj, decide, note, edits)
        if outcome is not None:
            level, text = decision_message(obj.pk, outcome)
            self.message_user(request, text, level)
        return HttpResponseRedirect(self.url_of("change", obj.pk))

    def decide_one(
        self,
        request: HttpRequest,
        obj: ApprovalRequest,
        decide: Decide,
        note: str,
        edits: dict[str, Any] | None = None,
        *,
        refused_prefix: str = "",
    ) -> dict[str, Any] | None:
        """Decide ``obj`` as the logged-in user (the history rows of a write it runs name
        them), log it in Django's history; None (and an error message) when refused."""
        username = request.user.get_username()
        try:
            with history_user(request.user):
                if edits:
                    outcome = approve(obj.pk, username, note, edits=edits)
                else:
                    outcome = decide(obj.pk, username, note)
        except ApprovalError as exc:
            self.message_user(request, f"{refused_prefix}{exc.code}: {exc.message}", messages.ERROR)
            return None
        self.log_decision(request, obj, outcome, note, edits)
        return outcome

    def log_decision(
        self,
        request: HttpRequest,
        obj: ApprovalRequest,
        outcome: dict[str, Any],
        note: str,
        edits: dict[str, Any] | None,
    ) -> None:
        denied = outcome["status"] == ApprovalRequest.Status.DENIED
        verb = _("Denied") if denied else _("Approved")
        parts = [f"{verb} ({outcome['approvals']} of {outcome['approvers_required']})"]
        if edits:
            changed = ", ".join(f"{k} -> {v}" for k, v in edits.items())
            parts.append(str(_("with changes: %(changes)s")) % {"changes": changed})
        if note:
            parts.append(f"“{Truncator(note).chars(120)}”")
        self.log_change(request, obj, "; ".join(str(p) for p in parts))
        result = outcome.get("result") or {}
        if outcome["status"] == ApprovalRequest.Status.EXECUTED:
            log_write(
                request.user,
                result.get("audit_id"),
                str(_("Changed by %(agent)s's write %(audit)s, approved in %(approval)s"))
                % {"agent": obj.principal, "audit": result.get("audit_id"), "approval": obj.pk},
            )


# The admin index shows how many held calls wait (above the app list), unless the project
# gave the default site an index template of its own (it can include the same notice:
# {% include "admin/ormai_django/pending_notice.html" %}).
if admin.site.index_template is None:
    admin.site.index_template = "admin/ormai_django/index.html"
