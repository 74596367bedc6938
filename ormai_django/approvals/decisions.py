"""``approve`` and ``deny``: one person's decision on a held call, counted under a lock."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from ormai_django import names, signals
from ormai_django.approvals.edits import edited_call
from ormai_django.approvals.requester import call_to_run, requester_context, requester_policy
from ormai_django.audit import record_event
from ormai_django.codes import (
    APPROVAL_EXPIRED,
    APPROVAL_NOT_PENDING,
    APPROVER_IS_REQUESTER,
    DUPLICATE_APPROVER,
    INVALID_APPROVER,
    UNKNOWN_APPROVAL,
)
from ormai_django.errors import ApprovalError, ToolDenied
from ormai_django.models import ApprovalDecision, ApprovalRequest, AuditEvent, IdempotencyRecord
from ormai_django.orm.history import current_history_user, history_user
from ormai_django.runtime import run_call

logger = logging.getLogger("ormai_django")

EXPIRY_PRINCIPAL = "ormai:expiry"
APPROVE = ApprovalDecision.Verdict.APPROVE
DENY = ApprovalDecision.Verdict.DENY


def request_event(approval: ApprovalRequest) -> AuditEvent | None:
    """The audit row of the call that was held."""
    return approval.events.filter(outcome="pending_approval").order_by("created_at").first()


def approve(
    approval_id: str,
    approver_user_id: Any,
    note: str = "",
    *,
    edits: dict[str, Any] | None = None,
    policy: Any = None,
) -> dict[str, Any]:
    """Record one approval; run the held call when it is the last one needed.

    ``edits`` (``{"plan": "pro"}``) corrects the call's data first: only fields the agent
    may write; the edited call is validated and previewed again, and approvals given to
    the earlier version no longer count (``approvers_required`` distinct approvals of the
    edited call are needed, this one among them). Returns ``{"status", "approvals",
    "approvers_required", "result"}`` (``result`` is the executed call's outcome once it
    ran, else None; ``edited`` and ``preview`` too when there were edits). The call runs
    under ``policy`` (default: the one ``ORMAI["POLICY"]`` names), as ``execute`` would.
    """
    return _decide(approval_id, approver_user_id, APPROVE, note, policy, edits)


def deny(
    approval_id: str, approver_user_id: Any, note: str = "", *, policy: Any = None
) -> dict[str, Any]:
    """One denial ends it: the held call never runs."""
    return _decide(approval_id, approver_user_id, DENY, note, policy, None)


aapprove = sync_to_async(approve, thread_sensitive=True)
adeny = sync_to_async(deny, thread_sensitive=True)


def _decide(
    approval_id: str, approver: Any, verdict: str, note: str, policy: Any, edits: Any
) -> dict[str, Any]:
    approver = str(approver or "").strip()
    if not approver or len(approver) > 200:
        raise ApprovalError(INVALID_APPROVER, "An approver is a non-empty id of at most 200.")
    with transaction.atomic():
        approval = ApprovalRequest.objects.select_for_update().filter(pk=str(approval_id)).first()
        if approval is None:
            raise ApprovalError(UNKNOWN_APPROVAL, f"No approval request {approval_id!r}.")
        _check_decidable(approval, approver)
        held = request_event(approval)
        preview = None
        if edits is not None:
            try:
                runs_under = requester_policy(approval, policy)
            except ToolDenied as refusal:
                raise ApprovalError(refusal.code, refusal.message) from None
            approval.edited_call, preview = edited_call(approval, edits, runs_under, held)
            approval.edits = {**(approval.edits or {}), **edits}
            approval.edited_preview = preview
            # What was approved before was another call: the count starts again.
            approval.revision += 1
        decision = ApprovalDecision.objects.create(
            approval=approval,
            approver=approver,
            verdict=verdict,
            note=note or "",
            edits=edits,
            revision=approval.revision,
        )
        record_event(
            tool=names.APPROVAL_APPROVE if verdict == APPROVE else names.APPROVAL_DENY,
            context={
                "principal": approver,
                "tenant_id": approval.tenant_id,
                "run_id": approval.run_id,
            },
            arguments={
                "approval_id": approval.id,
                "note": note or "",
                **({"edits": edits} if edits is not None else {}),
            },
            result={"outcome": "ok"},
            duration_ms=0.0,
            model=approval.model,
            reason=note or "",
            caused_by=held,
            approval=approval,
        )
        approvals = approval.decisions.filter(verdict=APPROVE, revision=approval.revision).count()
        result = None
        if verdict == DENY:
            approval.status = ApprovalRequest.Status.DENIED
        elif approvals >= approval.approvers_required:
            # The history rows of an approved write name the person whose approval ran it.
            with history_user(_approver_user(approver)):
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
                settle_key(approval, result)
        approval.save()
        transaction.on_commit(
            lambda: signals.notify(
                signals.approval_decided,
                sender=ApprovalRequest,
                approval=approval,
                decision=decision,
            )
        )
    answer = {
        "status": str(approval.status),
        "approvals": approvals,
        "approvers_required": approval.approvers_required,
        "result": result,
    }
    if edits is not None:
        answer.update(edited=True, preview=preview)
    return answer


def check_decision(approval_id: str, approver: str) -> ApprovalRequest:
    """The request ``approver`` could decide now, or the ``ApprovalError`` a decision would
    get (a look without a lock: a surface asks before it asks a person for a note)."""
    approval = ApprovalRequest.objects.filter(pk=str(approval_id)).first()
    if approval is None:
        raise ApprovalError(UNKNOWN_APPROVAL, f"No approval request {approval_id!r}.")
    _check_decidable(approval, str(approver or "").strip())
    return approval


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
    if approval.decisions.filter(approver=approver, revision=approval.revision).exists():
        raise ApprovalError(DUPLICATE_APPROVER, f"{approver} has already decided {approval.id}.")


def _approver_user(approver: str) -> Any:
    """The Django user (primary key) ``approver`` names, unless the caller already said who
    acts (the admin passes its logged-in user); None when no user has that username."""
    acting = current_history_user()
    if acting is not None:
        return acting
    users = get_user_model()._default_manager
    return (
        users.filter(**{get_user_model().USERNAME_FIELD: approver})
        .values_list("pk", flat=True)
        .first()
    )


def _run_held_call(
    approval: ApprovalRequest, held: AuditEvent | None, policy: Any
) -> dict[str, Any]:
    """The held call (as edited, if it was), through the pipeline again, as its requester."""
    try:
        runs_under = requester_policy(approval, policy)
    except ToolDenied as refusal:
        return {"outcome": refusal.outcome, "error": refusal.as_error()}
    return run_call(
        call_to_run(approval),
        requester_context(approval),
        runs_under,
        approval=approval,
        caused_by=held,
    )


def settle_key(approval: ApprovalRequest, result: dict[str, Any] | None) -> None:
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
                "rule": f"approval:{approval.id}",
            },
            "approval_id": approval.id,
        }
    IdempotencyRecord.objects.filter(principal=approval.principal, key=key).update(result=result)
