"""The approval signals, turned into Slack tasks once their transaction has committed.

Each receiver does nothing while ``ORMAI["SLACK"]`` isn't configured. Enqueuing never
fails the write or the decision that sent the signal: a broker that is down is logged.
"""

from __future__ import annotations

import logging
from typing import Any

from ormai_django import signals
from ormai_django.slack.config import slack_config

logger = logging.getLogger("ormai_django.slack")

ENQUEUE_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}


def _enqueue(task_name: str, *args: Any) -> None:
    if slack_config() is None:
        return
    from ormai_django.slack import tasks

    try:
        getattr(tasks, task_name).apply_async(args=list(args), retry_policy=ENQUEUE_RETRY_POLICY)
    except Exception:
        logger.exception("Could not enqueue the Slack task %s for %s", task_name, args[0])


def on_requested(sender: Any, approval: Any, **kwargs: Any) -> None:
    _enqueue("post_message", approval.pk)


def on_changed(sender: Any, approval: Any, **kwargs: Any) -> None:
    _enqueue("update_message", approval.pk)


def on_reminded(sender: Any, approval: Any, **kwargs: Any) -> None:
    _enqueue("remind", approval.pk)


def on_escalated(sender: Any, approval: Any, users: Any = (), **kwargs: Any) -> None:
    _enqueue("escalate", approval.pk, [user.get_username() for user in users])


RECEIVERS = (
    (signals.approval_requested, on_requested),
    (signals.approval_decided, on_changed),
    (signals.approval_expired, on_changed),
    (signals.approval_reminded, on_reminded),
    (signals.approval_escalated, on_escalated),
)


def connect() -> None:
    """Connect every receiver (idempotent)."""
    for signal, receiver in RECEIVERS:
        signal.connect(
            receiver, dispatch_uid=f"ormai_django.slack.{signal_name(signal)}.{receiver.__name__}"
        )


def signal_name(signal: Any) -> str:
    return next(name for name in dir(signals) if getattr(signals, name) is signal)
