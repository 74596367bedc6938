"""Deciding held calls: ``approve``, ``deny`` (and ``aapprove``, ``adeny``), and expiry.

    from ormai_django.approvals import approve, deny

    approve(approval_id="appr_01J...", approver_user_id="lee@example.com", note="OK per CSM")

A decision locks the approval row, so decisions that race are counted one at a time and
the held call runs exactly once, when the N-th distinct approval lands. It runs through
the one pipeline again (the policy and the rows may have changed since it was held),
skipping only the approval gate and the rate limit a human has just overridden. A
refused decision raises ``ApprovalError`` with a stable ``code``.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.db import transaction
from django.utils import timezone

from ormai_django import codes, signals
from ormai_django.audit import record_event
from ormai_django.codes import (
    APPROVAL_EXPIRED,
    APPROVAL_NOT_PENDING,
    APPROVER_IS_REQUESTER,
    DUPLICATE_APPROVER,
    INVALID_APPROVER,
    UNKNOWN_APPROVAL,
)
from ormai_django.context import ToolContext
from ormai_django.errors import ApprovalError, PolicyWideningError
from ormai_django.models import ApprovalDecision, ApprovalRequest, AuditEvent, IdempotencyRecord
from ormai_django.policy.loading import get_policy
from ormai_django.runtime import run_call

logger = logging.getLogger("ormai_django")


EXPIRY_PRINCIPAL = "ormai:expiry"


def request_event(approval: ApprovalRequest) -> AuditEvent | None:
    """The audit row of the call that was held."""
    return approval.events.filter(outcome="pending_approval").order_by("created_at").first()


def approve(
    approval_id: str, approver_user_id: Any, note: str = "", *, policy: Any = None
) -> dict[str, Any]:
    """Record one approval; run the held call when it is the last one needed.

    Returns ``{"status", "approvals", "approvers_required", "result"}`` (``result`` is the
    executed call's outcome once it ran, else None). The call runs under ``policy``
    (default: the one ``ORMAI["POLICY"]`` names), as ``execute`` would run it.
    """
    return _decide(approval_id, approver_user_id, ApprovalDecision.Verdict.APPROVE, note, policy)


def deny(
    approval_id: str, approver_user_id: Any, note: str = "", *, policy: Any = None
) -> dict[str, Any]:
    """One denial ends it: the held call never runs."""
    return _decide(approval_id, approver_user_id, ApprovalDecision.Verdict.DENY, note, policy)


aapprove = sync_to_async(approve, thread_sensitive=True)
adeny = sync_to_async(deny, thread_sensitive=True)


def _decide(
    approval_id: str, approver: Any, verdict: str, note: str, policy: Any
) -> dict[str, Any]:
    approver = str(approver or "").strip()
    if not approver or len(approver) > 200:
        raise ApprovalError(INVALID_APPROVER, "An approver is a non-empty id of at most 200.")
    with transaction.atomic():
        approval = ApprovalRequest.objects.select_for_update().filter(pk=str(approval_id)).first()
        if approval is None:
            raise ApprovalError(UNKNOWN_APPROVAL, f"No approval request {approval_id!r}.")
        _check_decidable(approval, approver)
        decision = ApprovalDecision.objects.create(
            approval=approval, approver=approver, verdict=verdict, note=note or ""
        )
        held = request_event(approval)
        record_event(
            tool=f"approval.{verdict}",
            context={
                "principal": approver,
                "tenant_id": approval.tenant_id,
                "run_id": approval.run_id,
            },
            arguments={"approval_id": approval.id, "note": note or ""},
            result={"outcome": "ok"},
            duration_ms=0.0,
            model=approval.model,
            reason=note or "",
            caused_by=held,
            approval=approval,
        )
        approvals = approval.decisions.filter(verdict=ApprovalDecision.Verdict.APPROVE).count()
        result = None
        if verdict == ApprovalDecision.Verdict.DENY:
            approval.status = ApprovalRequest.Status.DENIED
        elif approvals >= approval.approvers_required:
            result = _run_held_call(approval, held, policy)
            ok = result.get("outcome") == "ok"
            approval.status = (
                ApprovalRequest.Status.EXECUTED if ok else ApprovalRequest.Status.FAILED
            )
            approval.result = result
            if not ok:
                error = result.get("error") or {}
                approval.failure = f"{error.get('code', '')}: {error.get('message', '')}"
        if approval.status != ApprovalRequest.Status.PENDING:
            approval.decided_at = timezone.now()
            if approval.status != ApprovalRequest.Status.EXECUTED:
                _settle_key(approval, result)
        approval.save()
        transaction.on_commit(
            lambda: signals.notify(
                signals.approval_decided,
                sender=ApprovalRequest,
                approval=approval,
                decision=decision,
            )
        )
    return {
        "status": str(approval.status),
        "approvals": approvals,
        "approvers_required": approval.approvers_required,
        "result": result,
    }


def _check_decidable(approval: ApprovalRequest, approver: str) -> None:
    if approval.status != ApprovalRequest.Status.PENDING:
        raise ApprovalError(
            APPROVAL_NOT_PENDING, f"{approval.id} is {approval.status}; it can't be decided now."
        )
    if approval.expires_at <= timezone.now():
        raise ApprovalError(APPROVAL_EXPIRED, f"{approval.id} expired at {approval.expires_at}.")
    if approver in (approval.principal, approval.on_behalf_of):
        raise ApprovalError(
            APPROVER_IS_REQUESTER, "Whoever asked for a write can't approve or deny it."
        )
    if approval.decisions.filter(approver=approver).exists():
        raise ApprovalError(DUPLICATE_APPROVER, f"{approver} has already decided {approval.id}.")


def _run_held_call(
    approval: ApprovalRequest, held: AuditEvent | None, policy: Any
) -> dict[str, Any]:
    """The held call, through the pipeline again, as its requester."""
    saved = dict(approval.context or {})
    grant = saved.pop("grant", None)
    if grant is not None:
        # The requester held a narrowed policy (a capability token): the call runs under the
        # same narrowing, never under more than the requester was granted.
        try:
            policy = (policy or get_policy()).narrowed(models=grant["models"], tools=grant["tools"])
        except PolicyWideningError as exc:
            return {
                "outcome": "denied",
                "error": {
                    "code": codes.TOOL_NOT_ALLOWED,
                    "message": "The policy no longer grants what the requester's capability "
                    f"token granted ({exc}); nothing was changed.",
                },
            }
    context = (
        ToolContext(**saved)
        if saved
        else ToolContext(
            principal=approval.principal,
            tenant_id=approval.tenant_id or None,
            on_behalf_of=approval.on_behalf_of or None,
            run_id=approval.run_id or None,
        )
    )
    return run_call(approval.call, context, policy, approval=approval, caused_by=held)


def _settle_key(approval: ApprovalRequest, result: dict[str, Any] | None) -> None:
    """A retry of a held call with its idempotency key gets the final answer once the
    request is over (an executed call's result replaces it in the pipeline itself)."""
    key = (approval.call.get("arguments") or {}).get("idempotency_key")
    if not key:
        return
    if result is None:
        code = (
            "APPROVAL_DENIED"
            if approval.status == ApprovalRequest.Status.DENIED
            else ("APPROVAL_EXPIRED")
        )
        verb = "denied" if code == "APPROVAL_DENIED" else "expired before anyone decided"
        result = {
            "outcome": "denied",
            "error": {
                "code": code,
                "message": f"Approval {approval.id} was {verb}; the write did not run. "
                "Tell the user; a new attempt needs a new idempotency_key.",
            },
            "approval_id": approval.id,
        }
    IdempotencyRecord.objects.filter(principal=approval.principal, key=key).update(result=result)


def expire_approvals(now: Any = None) -> int:
    """Mark every pending approval past its ``expires_at`` expired (the auto-deny), audit
    each, and send ``approval_expired``. Safe to run twice, or from two workers at once."""
    now = now or timezone.now()
    due = ApprovalRequest.objects.filter(status=ApprovalRequest.Status.PENDING, expires_at__lte=now)
    expired = 0
    for approval_id in list(due.values_list("id", flat=True)):
        with transaction.atomic():
            approval = due.select_for_update(skip_locked=True).filter(pk=approval_id).first()
            if approval is None:
                continue  # decided, or being expired by another worker
            approval.status = ApprovalRequest.Status.EXPIRED
            approval.decided_at = now
            approval.save(update_fields=["status", "decided_at"])
            _settle_key(approval, None)
            record_event(
                tool="approval.expire",
                context={"principal": EXPIRY_PRINCIPAL, "tenant_id": approval.tenant_id},
                arguments={"approval_id": approval.id},
                result={"outcome": "ok"},
                duration_ms=0.0,
                model=approval.model,
                reason="nobody decided before expires_at",
                caused_by=request_event(approval),
                approval=approval,
            )
            transaction.on_commit(
                lambda approval=approval: signals.notify(
                    signals.approval_expired, sender=ApprovalRequest, approval=approval
                )
            )
            expired += 1
    return expired
