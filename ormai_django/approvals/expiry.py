"""Expiry: the auto-deny of a held call nobody decided before its ``expires_at``."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from ormai_django import names, signals
from ormai_django.approvals.decisions import EXPIRY_PRINCIPAL, request_event, settle_key
from ormai_django.audit import record_event
from ormai_django.models import ApprovalRequest


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
            settle_key(approval, None)
            record_event(
                tool=names.APPROVAL_EXPIRE,
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
