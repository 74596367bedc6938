"""``approval_status``: how a held write of this caller is doing.

    approval_status({"approval_id": "appr_01J..."}, ToolContext(principal="agent:bot", tenant_id=7))
    # {"outcome": "ok", "approval_id": ..., "status": "pending", "approvals": 0,
    #  "approvers_required": 1, "expires_at": "2026-...Z", "decided_at": None, "result": None,
    #  "tool": "db.update", "model": "shop.Subscription", "audit_id": "aud_..."}

A caller sees only the requests it made itself (same principal, same tenant): any other
id, another agent's included, is ``UNKNOWN_APPROVAL``, so the tool can't tell whether an id
exists. Each look is audited (tool ``approval.status``) like any call, but is not linked to
the request, so the approval's chain stays request -> decisions -> executed write.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from django.utils import timezone

from ormai_django import errors
from ormai_django.approvals import UNKNOWN_APPROVAL
from ormai_django.audit import call_for_ledger, record_event
from ormai_django.context import ToolContext
from ormai_django.errors import ToolError
from ormai_django.models import ApprovalDecision, ApprovalRequest
from ormai_django.tools.rows import utc_iso

TOOL_NAME = "approval_status"
AUDIT_TOOL = "approval.status"
DESCRIPTION = (
    "Check on a write that came back 'pending_approval': its status (pending, executed, "
    "denied, expired or failed), approvals so far and needed, when it expires, and the "
    "executed call's result once it ran. Pass the approval_id the write returned."
)
INPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "approval_id": {
            "type": "string",
            "description": "The approval_id a held write returned (appr_...).",
        }
    },
    "required": ["approval_id"],
    "additionalProperties": False,
}
MAX_ID_LENGTH = 32  # ApprovalRequest.id's max_length


def _approval_id(arguments: Any) -> str:
    if not isinstance(arguments, Mapping) or set(arguments) - {"approval_id"}:
        raise ToolError(
            errors.INVALID_ARGUMENTS,
            'approval_status takes one argument: {"approval_id": "appr_..."}.',
        )
    approval_id = arguments.get("approval_id")
    if not isinstance(approval_id, str) or not approval_id.strip():
        raise ToolError(
            errors.INVALID_ARGUMENTS,
            "'approval_id' must be the approval_id string a held write returned (appr_...).",
        )
    return approval_id.strip()


def _own_approval(approval_id: str, context: ToolContext) -> ApprovalRequest:
    """The request, if this caller made it; else UNKNOWN_APPROVAL, whether or not it exists."""
    tenant = "" if context.tenant_id is None else str(context.tenant_id)
    approval = None
    if len(approval_id) <= MAX_ID_LENGTH:
        approval = ApprovalRequest.objects.filter(
            pk=approval_id, principal=context.principal, tenant_id=tenant
        ).first()
    if approval is None:
        raise ToolError(
            UNKNOWN_APPROVAL,
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
    return {
        "outcome": "ok",
        "approval_id": approval.id,
        "status": status,
        "approvals": approval.decisions.filter(verdict=ApprovalDecision.Verdict.APPROVE).count(),
        "approvers_required": approval.approvers_required,
        "expires_at": utc_iso(approval.expires_at),
        "decided_at": utc_iso(approval.decided_at),
        "tool": approval.tool,
        "model": approval.model,
        "result": approval.result if ran else None,
    }


def approval_status(arguments: Any, context: ToolContext) -> dict[str, Any]:
    """The status of one of this caller's held writes, as an outcome; audited."""
    started = time.perf_counter()
    model = ""
    try:
        approval = _own_approval(_approval_id(arguments), context)
        model = approval.model
        result = status_of(approval)
    except ToolError as exc:
        result = {"outcome": exc.outcome, "error": exc.as_error()}
    event = record_event(
        tool=AUDIT_TOOL,
        context=context,
        arguments=call_for_ledger({"arguments": arguments}),
        result=result,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        model=model,
    )
    result["audit_id"] = event.id
    return result
