"""Celery tasks of ormai_django (Celery is optional: only Celery workers import this module).

Schedule them with Celery beat, e.g. in the project's settings::

    CELERY_BEAT_SCHEDULE = {
        "ormai-expire-approvals": {
            "task": "ormai_django.tasks.expire_approvals",
            "schedule": 60.0,
        },
        "ormai-remind-approvals": {
            "task": "ormai_django.tasks.remind_approvals",
            "schedule": 60.0,
        },
        "ormai-purge-idempotency": {
            "task": "ormai_django.tasks.purge_idempotency_records",
            "schedule": 3600.0,
        },
        "ormai-prune-budget-windows": {
            "task": "ormai_django.tasks.prune_budget_windows",
            "schedule": 300.0,
        },
    }
"""

from __future__ import annotations

import logging
from datetime import timedelta
from importlib.util import find_spec
from typing import Any

from celery import shared_task
from django.db import transaction

from ormai_django import approvals, budgets, signals
from ormai_django.conf import ormai_settings
from ormai_django.notifications import send_slack_notification
from ormai_django.webhooks import receivers as webhook_receivers
from ormai_django.webhooks import tasks as webhook_tasks  # noqa: F401  (registers its task)

if find_spec("slack_sdk") is not None:
    # Slack both ways (optional: the slack extra): registers its tasks with the worker.
    from ormai_django.slack import tasks as slack_tasks  # noqa: F401
from ormai_django.writes.idempotency import purge

logger = logging.getLogger("ormai_django.notifications")

# A broker that is down costs the agent's call at most about a second.
ENQUEUE_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}


@shared_task(name="ormai_django.tasks.purge_idempotency_records")
def purge_idempotency_records(older_than_seconds: float | None = None) -> int:
    """Delete idempotency records older than ``older_than_seconds`` (default: the
    ``IDEMPOTENCY_RETENTION`` setting); returns how many were deleted."""
    older_than = (
        timedelta(seconds=older_than_seconds)
        if older_than_seconds is not None
        else ormai_settings.IDEMPOTENCY_RETENTION
    )
    return purge(older_than)


@shared_task(name="ormai_django.tasks.prune_budget_windows")
def prune_budget_windows() -> int:
    """Delete the write budget windows that are over, so the table stays the size of the
    live windows; returns how many were deleted. A stopped run's windows stay until an
    operator resets the run."""
    return budgets.prune_windows()


@shared_task(name="ormai_django.tasks.expire_approvals")
def expire_approvals() -> int:
    """Mark pending approvals past their ``expires_at`` expired (the auto-deny); returns how
    many. Celery beat runs it every minute (see the schedule above)."""
    return approvals.expire_approvals()


@shared_task(name="ormai_django.tasks.remind_approvals")
def remind_approvals() -> dict[str, int]:
    """Remind the approvers of pending requests past their ``remind_at`` and escalate those
    past their ``escalate_at`` (each once); returns ``{"reminded", "escalated"}``. Celery
    beat runs it every minute, beside ``expire_approvals``."""
    return approvals.remind_and_escalate()


@shared_task(name="ormai_django.tasks.notify_slack", ignore_result=True)
def notify_slack(approval_id: str) -> bool:
    """Post the held write ``approval_id`` to ``ORMAI["SLACK_WEBHOOK_URL"]``; True if Slack
    took it. Enqueued when a write is held (see ``ormai_django.notifications``); a failure
    is logged, not raised."""
    return send_slack_notification(approval_id)


def connect() -> None:
    """Connect the receivers whose work runs in Celery (idempotent): the one-way Slack
    webhook notice, the signed webhooks, and Slack both ways when ``slack_sdk`` is
    installed. Each does nothing until its setting is set."""
    signals.approval_requested.connect(
        enqueue_slack_notification, dispatch_uid="ormai_django.notifications.slack"
    )
    webhook_receivers.connect()
    if find_spec("slack_sdk") is not None:
        from ormai_django.slack import receivers as slack_receivers

        slack_receivers.connect()


def enqueue_slack_notification(sender: Any, approval: Any, **kwargs: Any) -> None:
    """Receiver of ``approval_requested``: enqueue ``notify_slack`` once the transaction
    commits (the worker must find the row), if a webhook is configured."""
    if not ormai_settings.SLACK_WEBHOOK_URL:
        return
    approval_id = approval.pk
    transaction.on_commit(lambda: _enqueue(approval_id))


def _enqueue(approval_id: str) -> None:
    try:
        notify_slack.apply_async(args=[approval_id], retry_policy=ENQUEUE_RETRY_POLICY)
    except Exception:
        # The write is held and committed; a lost notification must not turn it into an error.
        logger.exception("Could not enqueue the Slack notification of %s", approval_id)
