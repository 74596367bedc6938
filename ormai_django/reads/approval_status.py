"""``approval.status``: how one of this caller's held writes is doing.

    execute({"name": "approval.status", "arguments": {"approval_id": "appr_01J..."}}, ctx)
    # {"outcome": "ok", "approval_id": ..., "status": "pending", "approvals": 0,
    #  "approvers_required": 1, "expires_at": "2026-...Z", "decided_at": None, "result": None,
    #  "tool": "db.update", "model": "shop.Subscription", "notes": [], "edited": False,
    #  "edits": None, "audit_id": "aud_..."}

A caller sees only the requests it made itself (same principal, same tenant): any other
id, another agent's included, is ``UNKNOWN_APPROVAL``, so the tool can't tell whether an id
exists. It is a tool of the registry like any other, so Python, HTTP and MCP all offer it.

Polls are cheap: a look that sees what the caller's previous look saw writes no audit row
and answers with that look's ``audit_id`` (``Invocation.answered_by``); a look that sees a
change (a decision, a note, the execution, the expiry) is audited once. Looks are limited
per principal (``ORMAI["APPROVAL_STATUS_RATE"]``, ``reads/status_rate.py``); past it,
``RATE_LIMITED`` with ``retry_after``. The look is not linked to the request, so the
approval's chain stays request -> decisions -> executed write.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.utils import timezone

from ormai_django import codes
from ormai_django.audit import record_invocation
from ormai_django.errors import ToolError
from ormai_django.fields import dumps
from ormai_django.invocation import Invocation
from ormai_django.models import ApprovalDecision, ApprovalRequest
from ormai_django.orm.rows import utc_iso
from ormai_django.reads.status_rate import check_status_rate

MAX_ID_LENGTH = 32  # ApprovalRequest.id's max_length


def _approval_id(arguments: dict[str, Any]) -> str:
    approval_id = arguments.get("approval_id")
    if not isinstance(approval_id, str) or not approval_id.strip():
        raise ToolError(
            codes.INVALID_ARGUMENTS,
            "'approval_id' must be the approval_id string a held write returned (appr_...).",
        )
    return approval_id.strip()


def _own_approval(approval_id: str, inv: Invocation) -> ApprovalRequest:
    """The request, if this caller made it; else UNKNOWN_APPROVAL, whether or not it exists."""
    context = inv.context
    tenant = "" if context.tenant_id is None else str(context.tenant_id)
    approval = None
    if len(approval_id) <= MAX_ID_LENGTH:
        approval = (
            ApprovalRequest.objects.select_related("status_seen_event")
            .filter(pk=approval_id, principal=context.principal, tenant_id=tenant)
            .first()
        )
    if approval is None:
        raise ToolError(
            codes.UNKNOWN_APPROVAL,
            f"There is no approval request {approval_id[:MAX_ID_LENGTH]!r} made by you. Use the "
            "approval_id exactly as a write that came back 'pending_approval' returned it.",
        )
    return approval


def status_of(approval: ApprovalRequest) -> dict[str, Any]:
    """The public state of one request (an overdue pending request reads as expired: no one
    can approve it any more, even before the expiry task marks it)."""
    status = str(approval.status)
    if status == ApprovalRequest.Status.PENDING and approval.expires_at <= timezone.now():
        status = str(ApprovalRequest.Status.EXPIRED)
    ran = status in (ApprovalRequest.Status.EXECUTED, ApprovalRequest.Status.FAILED)
    decisions = list(approval.decisions.all())
    return {
        "outcome": "ok",
        "approval_id": approval.id,
        "status": status,
        "approvals": sum(
            d.verdict == ApprovalDecision.Verdict.APPROVE and d.revision == approval.revision
            for d in decisions
        ),
        "approvers_required": approval.approvers_required,
        "expires_at": utc_iso(approval.expires_at),
        "decided_at": utc_iso(approval.decided_at),
        "tool": approval.tool,
        "model": approval.model,
        # What the people deciding wrote: a denial's note is what to tell the user.
        "notes": [
            {"verdict": d.verdict, "note": d.note, "at": utc_iso(d.created_at)}
            for d in decisions
            if d.note
        ],
        "edited": approval.edited_call is not None,
        "edits": approval.edits,
        "result": approval.result if ran else None,
    }


def seen_state(answer: dict[str, Any]) -> str:
    """A digest of what a look shows: two looks with the same digest saw the same thing."""
    return hashlib.sha256(dumps(answer).encode()).hexdigest()[:64]


def approval_status(inv: Invocation) -> dict[str, Any]:
    """The status of one of this caller's held writes (audited once per change seen)."""
    check_status_rate(inv.context.principal)
    approval = _own_approval(_approval_id(inv.arguments), inv)
    inv.model_label = approval.model
    answer = status_of(approval)
    seen = seen_state(answer)
    if approval.status_seen == seen and approval.status_seen_event is not None:
        inv.answered_by(approval.status_seen_event)
        return answer
    event = record_invocation(inv, answer)
    inv.audit_event = event
    ApprovalRequest.objects.filter(pk=approval.pk).update(status_seen=seen, status_seen_event=event)
    return answer
