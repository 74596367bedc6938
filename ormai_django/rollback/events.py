"""The rollback's own audit rows: each rollback, dry run and refusal is recorded against
the write it undoes (``caused_by``), with the actor as principal."""

from __future__ import annotations

import time
from typing import Any

from ormai_django.audit import record_event
from ormai_django.errors import RollbackError
from ormai_django.models import AuditEvent

ROLLBACK_TOOL = "rollback"


def default_reason(event: AuditEvent, actor: str) -> str:
    """The change reason of a rollback given none."""
    return f"Rollback of {event.id} by {actor}"


def record_rollback(
    event: AuditEvent,
    actor: str,
    reason: str,
    run_id: str,
    outcome: str,
    started: float,
    *,
    dry_run: bool = False,
    force: bool = False,
    changes: list[dict[str, Any]] | None = None,
    affected: int | None = None,
    error: RollbackError | None = None,
) -> str:
    """Append the audit row of a rollback of ``event`` and return its id."""
    result: dict[str, Any] = {"outcome": outcome}
    if error is not None:
        result["error"] = {"code": error.code, "message": error.message}
    row = record_event(
        tool=ROLLBACK_TOOL,
        context={"principal": actor, "tenant_id": event.tenant_id or None, "run_id": run_id},
        arguments={"audit_id": event.id, "dry_run": dry_run, "force": force},
        result=result,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        model=event.model,
        reason=reason or default_reason(event, actor),
        affected_rows=affected,
        changes=changes,
        caused_by=event,
    )
    return row.id


def record_refusal(
    events: list[AuditEvent],
    actor: str,
    reason: str,
    run_id: str,
    error: RollbackError,
    started: float,
    force: bool,
) -> None:
    """A refused rollback is audited against each write it was asked to undo."""
    for event in events:
        record_rollback(event, actor, reason, run_id, "denied", started, force=force, error=error)
