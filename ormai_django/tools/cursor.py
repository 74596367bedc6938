"""Opaque, signed pagination cursors.

A cursor carries the offset of the next page and a fingerprint of the query it
belongs to (model, where, order, fields, principal, tenant), signed with
``SECRET_KEY``. A forged, truncated or foreign cursor is ``INVALID_CURSOR``; the
scope of every page is applied afresh, so a cursor can never widen what is read.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core import signing

from ormai_django import errors
from ormai_django.conf import ormai_settings
from ormai_django.errors import ToolError

MAX_CURSOR_LENGTH = 512


def fingerprint(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def encode_cursor(offset: int, query_fingerprint: str) -> str:
    return signing.dumps({"o": offset, "f": query_fingerprint}, salt=ormai_settings.CURSOR_SALT)


def decode_cursor(cursor: Any, query_fingerprint: str) -> int:
    """The offset a cursor points to; 0 for no cursor."""
    if cursor is None:
        return 0
    bad = ToolError(
        errors.INVALID_CURSOR,
        "'cursor' is not a cursor this query returned; pass next_cursor from the previous "
        "page unchanged, with the same model, where, order_by and fields, "
        "or omit it to start over.",
    )
    if not isinstance(cursor, str) or not cursor or len(cursor) > MAX_CURSOR_LENGTH:
        raise bad
    try:
        payload = signing.loads(cursor, salt=ormai_settings.CURSOR_SALT)
    except (signing.BadSignature, ValueError, UnicodeError):
        raise bad from None
    if not isinstance(payload, dict) or payload.get("f") != query_fingerprint:
        raise bad
    offset = payload.get("o")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise bad
    return offset
