"""Idempotency keys: a retried write returns its first result and runs nothing.

The record is keyed by (principal, key) and holds a hash of what the call does
(tool, model, id or where, data, the tenant: not the reason's wording, not
``dry_run``) and
the result it returned. It is written in the write's transaction; when two
retries race, the unique constraint lets one commit and the other replays it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from django.utils import timezone

from ormai_django import codes
from ormai_django.errors import ToolError
from ormai_django.models import IdempotencyRecord

# Arguments that don't change what a call does.
_NOT_HASHED = ("reason", "idempotency_key", "dry_run")
# Outcomes worth replaying: a denial or an error should be retried for real.
STORED_OUTCOMES = ("ok", "pending_approval")


def arguments_hash(tool: str, arguments: dict[str, Any], tenant_id: Any) -> str:
    """What the call does, in whose tenant: the same key from another tenant is another
    call (a conflict), never a replay of that tenant's result."""
    what = {k: v for k, v in arguments.items() if k not in _NOT_HASHED}
    blob = json.dumps([tool, what, tenant_id], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def find(principal: str, key: str) -> IdempotencyRecord | None:
    return IdempotencyRecord.objects.filter(principal=principal, key=key).first()


def replay(record: IdempotencyRecord, tool: str, digest: str) -> dict[str, Any]:
    """The stored result, or ``IDEMPOTENCY_KEY_CONFLICT`` when the key did something else."""
    if record.tool != tool or record.arguments_hash != digest:
        raise ToolError(
            codes.IDEMPOTENCY_KEY_CONFLICT,
            f"The idempotency_key {record.key!r} was already used by this agent for a "
            f"different call ({record.tool}). Use a new key for a new change; resend a "
            "retry with exactly the same arguments.",
        )
    return {**record.result, "idempotent_replay": True}


def remember(
    principal: str,
    key: str,
    tool: str,
    digest: str,
    result: dict[str, Any],
    event: Any,
    replacing: bool = False,
) -> None:
    """Store ``result`` under the key. ``replacing``: an approved call's result takes the
    place of the pending answer its key stored when it was held."""
    if result.get("outcome") not in STORED_OUTCOMES:
        return
    if replacing and IdempotencyRecord.objects.filter(principal=principal, key=key).update(
        result=result, audit_event=event
    ):
        return
    # A plain INSERT: when two retries race, the unique constraint picks the one that ran.
    record = record_for(principal, key, tool, digest, result, event)
    if record is not None:
        record.save(force_insert=True)


def record_for(
    principal: str, key: str, tool: str, digest: str, result: dict[str, Any], event: Any
) -> IdempotencyRecord | None:
    """The record that stores ``result`` under the key, unsaved (``remember`` saves it; a
    write on PostgreSQL inserts it in its own statement); None for an outcome not stored."""
    if result.get("outcome") not in STORED_OUTCOMES:
        return None
    return IdempotencyRecord(
        principal=principal,
        key=key,
        tool=tool,
        arguments_hash=digest,
        result=result,
        audit_event=event,
    )


def purge(older_than: dt.timedelta) -> int:
    """Delete records older than ``older_than``; a retry after that runs again."""
    cutoff = timezone.now() - older_than
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
