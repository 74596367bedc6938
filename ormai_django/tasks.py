"""Celery tasks of ormai_django (Celery is optional: only Celery workers import this module).

Schedule them with Celery beat, e.g. in the project's settings::

    CELERY_BEAT_SCHEDULE = {
        "ormai-expire-approvals": {
            "task": "ormai_django.tasks.expire_approvals",
            "schedule": 60.0,
        },
        "ormai-purge-idempotency": {
            "task": "ormai_django.tasks.purge_idempotency_records",
            "schedule": 3600.0,
        },
    }
"""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task

from ormai_django.conf import ormai_settings
from ormai_django.writes.idempotency import purge


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


@shared_task(name="ormai_django.tasks.expire_approvals")
def expire_approvals() -> int:
    """Mark pending approvals past their ``expires_at`` expired (the auto-deny); returns how
    many. Celery beat runs it every minute (see the schedule above)."""
    from ormai_django.approvals import expire_approvals as expire

    return expire()


@shared_task(name="ormai_django.tasks.notify_slack", ignore_result=True)
def notify_slack(approval_id: str) -> bool:
    """Post the held write ``approval_id`` to ``ORMAI["SLACK_WEBHOOK_URL"]``; True if Slack
    took it. Enqueued when a write is held (see ``ormai_django.notifications``); a failure
    is logged, not raised."""
    from ormai_django.notifications import send_slack_notification

    return send_slack_notification(approval_id)
