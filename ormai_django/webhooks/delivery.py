"""Posting one event to one endpoint, and which endpoints want which events.

The body is built once, when the event happens; each attempt signs it with a fresh
timestamp. An endpoint answers 2xx to take it. 5xx, 408, 429 and network failures are
retried (by the Celery task, with backoff); any other answer is final.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from fnmatch import fnmatchcase
from typing import Any

from ormai_django.conf import ormai_settings
from ormai_django.version import __version__
from ormai_django.webhooks.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)

logger = logging.getLogger("ormai_django.webhooks")

TIMEOUT_SECONDS = 5
RETRYABLE_STATUS = (408, 429)


class DeliveryFailed(Exception):
    """The endpoint didn't take the event; ``retry`` says whether another attempt may."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


def endpoints() -> list[dict[str, Any]]:
    """The configured endpoints (``ORMAI["WEBHOOKS"]``) that have a URL and a secret."""
    configured = ormai_settings.WEBHOOKS or []
    if not isinstance(configured, list | tuple):
        return []
    return [e for e in configured if isinstance(e, dict) and e.get("URL") and e.get("SECRET")]


def wants(endpoint: dict[str, Any], event_type: str) -> bool:
    """Whether ``endpoint`` takes ``event_type``: its ``EVENTS`` list (names or globs like
    ``"approval.*"``), or every event without one."""
    events = endpoint.get("EVENTS")
    if not events:
        return True
    return any(fnmatchcase(event_type, pattern) for pattern in events)


def endpoint_for(url: str) -> dict[str, Any] | None:
    """The endpoint configured for ``url`` now (its secret is read at delivery time, never
    carried in the task queue)."""
    return next((e for e in endpoints() if e["URL"] == url), None)


def encode(event: dict[str, Any]) -> str:
    return json.dumps(event, default=str, separators=(",", ":"), ensure_ascii=False)


def post(endpoint: dict[str, Any], body: str, event_type: str, event_id: str) -> int:
    """POST ``body`` signed for ``endpoint``; the status code, or ``DeliveryFailed``."""
    url = str(endpoint["URL"])
    if not url.startswith(("https://", "http://")):
        raise DeliveryFailed("the webhook URL isn't http(s)", retry=False)
    timestamp = int(time.time())
    data = body.encode()
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": f"ormai-django/{__version__}",
            EVENT_HEADER: event_type,
            DELIVERY_HEADER: event_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(str(endpoint["SECRET"]), timestamp, data),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        retry = exc.code >= 500 or exc.code in RETRYABLE_STATUS
        raise DeliveryFailed(f"the endpoint answered {exc.code}", retry=retry) from None
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryFailed(f"the endpoint could not be reached ({exc})", retry=True) from None
    except ValueError:  # a malformed URL; its message would quote it
        raise DeliveryFailed("the webhook URL is malformed", retry=False) from None
