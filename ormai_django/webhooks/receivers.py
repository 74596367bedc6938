"""The signal receivers that turn approval and budget signals into webhook deliveries.

The event is built in the process where the signal fires (the approval signals fire once
their transaction has committed; ``budget_exceeded`` fires inside the refused write, whose
transaction rolls back, so the event carries everything and the task reads no row), then
one ``deliver`` task per endpoint that wants it is enqueued. A broker that is down is
logged; it never reaches the write or the decision.
"""

from __future__ import annotations

import logging
from typing import Any

from ormai_django import signals
from ormai_django.notifications import admin_url
from ormai_django.webhooks import events
from ormai_django.webhooks.delivery import encode, endpoints, wants

logger = logging.getLogger("ormai_django.webhooks")

# A broker that is down costs the caller at most about a second.
ENQUEUE_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}


def send(event_type: str, data: dict[str, Any]) -> int:
    """Enqueue ``event_type`` with ``data`` for every endpoint that wants it; how many."""
    targets = [e for e in endpoints() if wants(e, event_type)]
    if not targets:
        return 0
    from ormai_django.webhooks.tasks import deliver

    event = events.envelope(event_type, data)
    body = encode(event)
    queued = 0
    for endpoint in targets:
        try:
            deliver.apply_async(
                args=[endpoint["URL"], body, event_type, event["id"]],
                retry_policy=ENQUEUE_RETRY_POLICY,
            )
            queued += 1
        except Exception:
            logger.exception("Could not enqueue the webhook %s of %s", event["id"], event_type)
    return queued


def on_requested(sender: Any, approval: Any, **kwargs: Any) -> None:
    send(events.APPROVAL_REQUESTED, events.approval_data(approval, admin_url(approval.pk)))


def on_decided(sender: Any, approval: Any, decision: Any = None, **kwargs: Any) -> None:
    data = events.approval_data(approval, admin_url(approval.pk))
    send(events.APPROVAL_DECIDED, {**data, "decision": events.decision_data(decision)})


def on_expired(sender: Any, approval: Any, **kwargs: Any) -> None:
    send(events.APPROVAL_EXPIRED, events.approval_data(approval, admin_url(approval.pk)))


def on_reminded(sender: Any, approval: Any, **kwargs: Any) -> None:
    send(events.APPROVAL_REMINDED, events.approval_data(approval, admin_url(approval.pk)))


def on_escalated(sender: Any, approval: Any, users: Any = (), **kwargs: Any) -> None:
    data = events.approval_data(approval, admin_url(approval.pk))
    send(events.APPROVAL_ESCALATED, {**data, "escalated_to": events.people_data(list(users))})


def on_budget_exceeded(
    sender: Any,
    budget: dict[str, Any],
    scope_key: str,
    used: dict[str, Any],
    context: Any,
    tool: str,
    **kwargs: Any,
) -> None:
    send(events.BUDGET_EXCEEDED, events.budget_data(budget, scope_key, used, context, tool))


RECEIVERS = (
    (signals.approval_requested, on_requested),
    (signals.approval_decided, on_decided),
    (signals.approval_expired, on_expired),
    (signals.approval_reminded, on_reminded),
    (signals.approval_escalated, on_escalated),
    (signals.budget_exceeded, on_budget_exceeded),
)


def connect() -> None:
    """Connect every receiver (idempotent); each does nothing while ``WEBHOOKS`` is empty."""
    for signal, receiver in RECEIVERS:
        signal.connect(receiver, dispatch_uid=f"ormai_django.webhooks.{receiver.__name__}")
