"""No one waits forever, nobody gets missed: reminders and escalations of held calls.

A rule's ``remind_after`` and ``escalate_after`` become the request's ``remind_at`` and
``escalate_at`` when a call is held. ``remind_and_escalate()`` (the Celery beat task
``ormai_django.tasks.remind_approvals``, or ``manage.py ormai_remind_approvals`` from cron)
finds the pending requests whose time has come, marks each reminded or escalated once,
audits it, and sends ``approval_reminded`` / ``approval_escalated`` once the mark has
committed; Slack and the webhooks listen to them. Safe to run twice, or from two workers.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from ormai_django import names, signals
from ormai_django.approvals.decisions import request_event
from ormai_django.audit import record_event
from ormai_django.models import ApprovalRequest

REMINDER_PRINCIPAL = "ormai:reminder"
APPROVE_PERMISSION = "ormai_django.approve_approvalrequest"
GROUP_PREFIX = "group:"


def remind_and_escalate(now: Any = None) -> dict[str, int]:
    """Remind and escalate every pending request whose ``remind_at`` / ``escalate_at`` has
    passed (each once, and never one past its expiry); returns ``{"reminded", "escalated"}``."""
    now = now or timezone.now()
    live = ApprovalRequest.objects.filter(status=ApprovalRequest.Status.PENDING, expires_at__gt=now)
    reminded = _each(
        live.filter(remind_at__lte=now, reminded_at__isnull=True), "reminded_at", now, _remind
    )
    escalated = _each(
        live.filter(escalate_at__lte=now, escalated_at__isnull=True),
        "escalated_at",
        now,
        _escalate,
    )
    return {"reminded": reminded, "escalated": escalated}


def _each(due: Any, mark: str, now: Any, act: Any) -> int:
    done = 0
    for approval_id in list(due.values_list("id", flat=True)):
        with transaction.atomic():
            approval = due.select_for_update(skip_locked=True).filter(pk=approval_id).first()
            if approval is None:
                continue  # decided, or taken by another worker
            setattr(approval, mark, now)
            approval.save(update_fields=[mark])
            act(approval)
            done += 1
    return done


def _remind(approval: ApprovalRequest) -> None:
    _audit(approval, names.APPROVAL_REMIND, "still pending at remind_after", {})
    transaction.on_commit(
        lambda: signals.notify(signals.approval_reminded, sender=ApprovalRequest, approval=approval)
    )


def _escalate(approval: ApprovalRequest) -> None:
    users = approvers_named(approval.escalate_to or [])
    told = [user.get_username() for user in users]
    _audit(approval, names.APPROVAL_ESCALATE, "still pending at escalate_after", {"told": told})
    transaction.on_commit(
        lambda: signals.notify(
            signals.approval_escalated, sender=ApprovalRequest, approval=approval, users=users
        )
    )


def _audit(approval: ApprovalRequest, tool: str, reason: str, extra: dict[str, Any]) -> None:
    record_event(
        tool=tool,
        context={"principal": REMINDER_PRINCIPAL, "tenant_id": approval.tenant_id},
        arguments={"approval_id": approval.id, **extra},
        result={"outcome": "ok"},
        duration_ms=0.0,
        model=approval.model,
        reason=reason,
        caused_by=request_event(approval),
        approval=approval,
    )


def approvers_named(targets: list[str]) -> list[Any]:
    """The active users that ``targets`` name (usernames, and ``"group:<name>"`` for every
    member of a Django group) who hold the approve permission (superusers do), each once,
    in the order named. A name that matches nobody, or somebody who may not approve, is
    left out: escalating tells people who can act."""
    User = get_user_model()
    found: dict[Any, Any] = {}
    for target in targets:
        if target.startswith(GROUP_PREFIX):
            group = Group.objects.filter(name=target[len(GROUP_PREFIX) :]).first()
            users = list(group.user_set.order_by("pk")) if group is not None else []
        else:
            users = list(User._default_manager.filter(**{User.USERNAME_FIELD: target}))
        for user in users:
            if user.is_active and user.has_perm(APPROVE_PERMISSION):
                found.setdefault(user.pk, user)
    return list(found.values())
