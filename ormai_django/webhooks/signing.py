"""Signing a webhook's body, and checking a signature on the receiving side.

The signed string is ``"v1:{timestamp}:{body}"``: the timestamp is part of what is signed,
so a captured request can't be replayed later with a fresh timestamp, and a receiver that
refuses timestamps older than a few minutes refuses old captures too. Standard library
only, so a receiver can copy :func:`verify_signature` as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Ormai-Signature"
TIMESTAMP_HEADER = "X-Ormai-Timestamp"
EVENT_HEADER = "X-Ormai-Event"
DELIVERY_HEADER = "X-Ormai-Delivery"
VERSION = "v1"
# How old a timestamp verify_signature accepts by default, in seconds.
TOLERANCE_SECONDS = 300


def _text(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def sign(secret: str | bytes, timestamp: int | str, body: bytes | str) -> str:
    """``"v1=<hex HMAC-SHA256 of v1:{timestamp}:{body}>"``: the ``X-Ormai-Signature`` value."""
    message = b"%s:%s:%s" % (VERSION.encode(), str(timestamp).encode(), _text(body))
    digest = hmac.new(_text(secret), message, hashlib.sha256).hexdigest()
    return f"{VERSION}={digest}"


def verify_signature(
    secret: str | bytes,
    body: bytes | str,
    timestamp: str | None,
    signature: str | None,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Whether ``signature`` (the ``X-Ormai-Signature`` header) signs ``body`` (the raw
    request body, exactly as received) at ``timestamp`` (the ``X-Ormai-Timestamp`` header),
    and the timestamp is at most ``tolerance`` seconds away from ``now``.

        from ormai_django.webhooks import verify_signature

        ok = verify_signature(SECRET, request.body, request.headers.get("X-Ormai-Timestamp"),
                              request.headers.get("X-Ormai-Signature"))
    """
    if not timestamp or not signature:
        return False
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)
