"""Signed outgoing webhooks: approval and budget events posted to any tool that takes JSON.

    ORMAI = {
        ...,
        "WEBHOOKS": [
            {"URL": "https://pager.example/hooks/ormai", "SECRET": os.environ["ORMAI_HOOK_SECRET"],
             "EVENTS": ["approval.requested", "approval.expired"]},   # optional filter
        ],
    }

Each event is a JSON object ``{"id": "evt_...", "type": ..., "created_at": ..., "data": {...}}``
posted with the headers ``X-Ormai-Event``, ``X-Ormai-Delivery`` (the event id, the same on
every retry), ``X-Ormai-Timestamp`` (Unix seconds of this attempt) and ``X-Ormai-Signature``
(``v1=`` + hex HMAC-SHA256 of ``"v1:{timestamp}:{body}"`` with the endpoint's secret). A
receiver checks them with :func:`verify_signature` (or the same few lines of its own).
Delivery runs in the Celery task ``ormai_django.webhooks.deliver``, retried with
exponential backoff while the endpoint fails; a 4xx answer (other than 408 and 429) is
final. See docs/approvals.md.
"""

from ormai_django.webhooks.events import EVENT_TYPES
from ormai_django.webhooks.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
    verify_signature,
)

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "EVENT_TYPES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "sign",
    "verify_signature",
]
