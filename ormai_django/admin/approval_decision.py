"""Who may decide a held call now (and, if not, why not), and the "approve with changes"
form over the fields an approver may correct."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django import forms
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from ormai_django import names
from ormai_django.admin.approval_summary import held_arguments
from ormai_django.approvals import ApprovalError, check_decision
from ormai_django.approvals.requester import requester_policy
from ormai_django.codes import (
    APPROVAL_EXPIRED,
    APPROVAL_NOT_PENDING,
    APPROVER_IS_REQUESTER,
    DUPLICATE_APPROVER,
)
from ormai_django.domain.declarations import declared
from ormai_django.domain.operation import editable_fields
from ormai_django.errors import ToolError
from ormai_django.models import ApprovalDecision, ApprovalRequest


def local_time(value: Any) -> str:
    """A time as the page shows it: in the current time zone, with the zone's name."""
    if value is None:
        return "-"
    return formats.date_format(timezone.localtime(value), "Y-m-d H:i T")


def why_not_decide(request: Any, approval: ApprovalRequest, may_approve: bool) -> str:
    """ "" when the user may approve or deny ``approval`` now; else a sentence saying why not."""
    if not may_approve:
        return str(
            _(
                "You can look at this request but not decide it: deciding needs the "
                "“Can approve or deny held agent writes” permission."
            )
        )
    username = request.user.get_username()
    try:
        check_decision(approval.pk, username)
    except ApprovalError as refusal:
        return _explain(refusal, approval, username)
    return ""


def _explain(refusal: ApprovalError, approval: ApprovalRequest, username: str) -> str:
    if refusal.code == APPROVAL_NOT_PENDING:
        return str(_("This request is %(status)s; it can no longer be decided.")) % {
            "status": approval.get_status_display()
        }
    if refusal.code == APPROVAL_EXPIRED:
        return str(_("This request expired at %(when)s; nobody can approve or deny it now.")) % {
            "when": local_time(approval.expires_at)
        }
    if refusal.code == APPROVER_IS_REQUESTER:
        return str(_("You asked for this write, so someone else has to decide it."))
    if refusal.code == DUPLICATE_APPROVER:
        mine = (
            ApprovalDecision.objects.filter(
                approval=approval, approver=username, revision=approval.revision
            )
            .order_by("-created_at")
            .first()
        )
        verdict = mine.get_verdict_display() if mine is not None else ""
        return str(
            _(
                "You already decided this request (%(verdict)s at %(when)s); it waits for "
                "other approvers."
            )
        ) % {"verdict": verdict, "when": local_time(mine.created_at if mine else None)}
    return f"{refusal.code}: {refusal.message}"


def editable_names(approval: ApprovalRequest) -> list[str]:
    """The fields an approver may change in the held call ([] when it has none)."""
    arguments = held_arguments(approval)
    tool = declared(approval.tool)
    if tool is not None:
        return list(editable_fields(tool))
    if approval.tool not in (names.DB_CREATE, names.DB_UPDATE):
        return []
    try:
        mp = requester_policy(approval, None).resolve(arguments.get("model"))
    except ToolError:
        return []
    return list(mp.writes.writable_fields)


def held_values(approval: ApprovalRequest) -> dict[str, Any]:
    """The values the held call sets, by field (a domain tool: its inputs)."""
    arguments = held_arguments(approval)
    if declared(approval.tool) is not None:
        return dict(arguments)
    data = arguments.get("data")
    return dict(data) if isinstance(data, Mapping) else {}


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def parsed(text: str, held: Any) -> Any:
    """What an edit box means: text, where the held value was text; JSON where that parses
    (``5``, ``true``, ``null``); the text itself otherwise."""
    if isinstance(held, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


class EditsForm(forms.Form):
    """One text box per field the approver may change, holding the held value."""

    note = forms.CharField(
        label=_("Note (optional)"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, approval: ApprovalRequest, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.held = held_values(approval)
        self.editable = editable_names(approval)
        for name in self.editable:
            self.fields[f"edit__{name}"] = forms.CharField(
                label=name,
                required=False,
                strip=False,
                initial=as_text(self.held[name]) if name in self.held else "",
                help_text="" if name in self.held else _("not set by the call; leave empty"),
            )
        self.order_fields([*(f"edit__{n}" for n in self.editable), "note"])

    def edits(self) -> dict[str, Any]:
        """The fields whose box no longer holds the held value, with their new values."""
        changed: dict[str, Any] = {}
        for name in self.editable:
            text = self.cleaned_data.get(f"edit__{name}", "")
            held = self.held.get(name)
            if name in self.held and text != as_text(held):
                changed[name] = parsed(text, held)
            elif name not in self.held and text != "":
                changed[name] = parsed(text, None)
        return changed
