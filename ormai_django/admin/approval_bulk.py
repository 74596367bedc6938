"""Bulk decisions: "Approve selected" / "Deny selected", through a confirmation page that
shows what each selected request would change (as django-import-export previews an import
before it confirms), then each request decided on its own."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from ormai_django.admin.approval_diff import diff_sample
from ormai_django.admin.approval_summary import risk_badges, summary_of
from ormai_django.admin.display import Decide, decision_message
from ormai_django.approvals import approve, deny
from ormai_django.models import ApprovalRequest

# Rows of each request's change shown on the confirmation page.
ROWS_PER_REQUEST = 5


class BulkDecisionsMixin:
    """The two bulk actions of the approval queue (used by ``ApprovalRequestAdmin``)."""

    @admin.action(description=_("Approve selected"), permissions=["approve"])
    def approve_selected(
        self, request: HttpRequest, queryset: QuerySet[ApprovalRequest]
    ) -> HttpResponse | None:
        return self.decide_selected(request, queryset, approve, verdict="approve")

    @admin.action(description=_("Deny selected"), permissions=["approve"])
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
        selected = list(queryset.order_by("expires_at", "id"))
        if request.POST.get("post") == "yes":
            if verdict == "deny" and not note:
                error = _("A denial needs a note saying why.")
            else:
                self.apply_to_selected(request, selected, decide, note, verdict)
                return None  # back to the changelist, with the messages
        requests = [
            {
                "obj": obj,
                "summary": summary_of(obj),
                "badges": risk_badges(obj),
                "diff": diff_sample(obj, ROWS_PER_REQUEST),
                "url": self.url_of("change", obj.pk),
            }
            for obj in selected
        ]
        title = (
            _("Approve the selected approval requests?")
            if verdict == "approve"
            else _("Deny the selected approval requests?")
        )
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.opts,
            "queryset": selected,
            "requests": requests,
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
        landed = []
        for obj in selected:
            refused = f"{_('Refused')} {obj.pk}: "
            outcome = self.decide_one(request, obj, decide, note, refused_prefix=refused)
            if outcome is not None:
                landed.append((obj.pk, outcome))
        if landed:
            summary = ", ".join(
                f"{pk} ({o['status']}, {o['approvals']} / {o['approvers_required']})"
                for pk, o in landed
            )
            done = _("Approved") if verdict == "approve" else _("Denied")
            self.message_user(
                request,
                f"{done} {len(landed)} {_('of')} {len(selected)}: {summary}.",
                messages.SUCCESS,
            )
            for pk, outcome in landed:
                if outcome["status"] == ApprovalRequest.Status.FAILED:
                    self.message_user(request, decision_message(pk, outcome)[1], messages.ERROR)
