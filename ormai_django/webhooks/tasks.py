"""The Celery task that delivers one event to one endpoint, retried with backoff.

Attempt n (0 first) that fails with a retryable failure is tried again after
``min(BACKOFF_MAX, BACKOFF_BASE * 2**n)`` seconds, up to ``MAX_RETRIES`` times (about
45 minutes in all): long enough to ride out a deploy or an outage of the receiver.
"""

from __future__ import annotations

import logging

from celery import shared_task

from ormai_django.webhooks.delivery import DeliveryFailed, endpoint_for, post

logger = logging.getLogger("ormai_django.webhooks")

BACKOFF_BASE = 10
BACKOFF_MAX = 3600
MAX_RETRIES = 8


def backoff(retries: int) -> int:
    """Seconds before the retry that follows ``retries`` failed retries: 10, 20, 40, ..."""
    return min(BACKOFF_MAX, BACKOFF_BASE * 2**retries)


@shared_task(
    bind=True,
    name="ormai_django.webhooks.deliver",
    ignore_result=True,
    max_retries=MAX_RETRIES,
)
def deliver(self, url: str, body: str, event_type: str, event_id: str) -> bool:  # type: ignore[no-untyped-def]
    """Post the event ``body`` to the endpoint configured for ``url``; True once taken."""
    endpoint = endpoint_for(url)
    if endpoint is None:
        logger.warning(
            "Webhook %s of %s dropped: the endpoint is no longer configured", event_id, event_type
        )
        return False
    try:
        post(endpoint, body, event_type, event_id)
    except DeliveryFailed as exc:
        if exc.retry and self.request.retries < MAX_RETRIES:
            logger.warning(
                "Webhook %s of %s failed (%s); retrying in %s s",
                event_id,
                event_type,
                exc,
                backoff(self.request.retries),
            )
            raise self.retry(countdown=backoff(self.request.retries)) from None
        logger.error("Webhook %s of %s not delivered: %s", event_id, event_type, exc)
        return False
    return True
