"""Undoing a domain tool's call with the project's own inverse (``compensate=``).

``@agent_tool(..., compensate=fn)``: ``rollback_audit_id`` runs ``fn(call, original)``
instead of restoring the captured rows (a refund is undone by a reversal, not by deleting
it), captured like the tool itself and audited as the rollback. ``original`` is the call
being undone: its ``data`` (the input as sent), ``result`` (what the function returned),
``audit_id`` and ``context``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from ormai_django import codes
from ormai_django.context import ToolContext
from ormai_django.domain.call import DomainCall
from ormai_django.domain.declarations import RESERVED_ARGUMENTS, DomainTool, declared
from ormai_django.domain.operation import run_captured
from ormai_django.errors import RollbackError, ToolError
from ormai_django.models import AuditEvent

COMPENSATE = "compensate"


@dataclass(frozen=True)
class Original:
    """The domain tool call a compensation undoes."""

    data: dict[str, Any]
    result: Any
    audit_id: str
    context: ToolContext


@dataclass
class CompensationStep:
    """The inverse of one domain tool call: its compensation, run (and its rows captured)."""

    audit_id: str
    ledger: list[dict[str, Any]]
    result: Any
    conflicts: list[dict[str, Any]]

    def acting_count(self, force: bool) -> int:
        return len(self.ledger)

    def lines(self, limit: int | None = None) -> list[dict[str, Any]]:
        out = []
        for entry in self.ledger:
            before, after = entry.get("before") or {}, entry.get("after") or {}
            for name in dict.fromkeys([*before, *after]) or [None]:
                out.append(
                    {
                        "audit_id": self.audit_id,
                        "model": entry["model"],
                        "pk": entry["pk"],
                        "action": COMPENSATE,
                        "field": name,
                        "current": before.get(name) if name else None,
                        "restored": after.get(name) if name else None,
                        "conflict": False,
                    }
                )
            if limit is not None and len(out) >= limit:
                break
        return out


def compensation_of(event: AuditEvent) -> DomainTool | None:
    """The declared tool whose compensation undoes ``event``, if it has one."""
    tool = declared(event.tool)
    return tool if tool is not None and tool.compensate is not None else None


def compensate(
    event: AuditEvent,
    tool: DomainTool,
    *,
    actor: str,
    reason: str,
    run_id: str,
    policy: Any,
    using: str,
    dry_run: bool,
) -> CompensationStep:
    """Run ``tool``'s compensation of ``event`` as ``actor`` in ``event``'s tenant (in a
    rolled-back savepoint for a dry run). A refusal of the compensation (its validation, a
    row that is gone) is ``RollbackError`` with ``COMPENSATION_FAILED``."""
    context = ToolContext(principal=actor, tenant_id=event.tenant_id or None, run_id=run_id)
    arguments = event.arguments if isinstance(event.arguments, dict) else {}
    original = Original(
        data={k: v for k, v in arguments.items() if k not in RESERVED_ARGUMENTS},
        result=event.result,
        audit_id=event.id,
        context=ToolContext(
            principal=event.principal,
            tenant_id=event.tenant_id or None,
            on_behalf_of=event.on_behalf_of or None,
            run_id=event.run_id or None,
        ),
    )
    call = DomainCall(
        tool=tool.name,
        data=dict(original.data),
        context=context,
        reason=reason,
        dry_run=dry_run,
        policy=policy,
    )
    try:
        with transaction.atomic(using=using):
            value, capture = run_captured(
                tool, call, lambda: tool.compensate(call, original), tool.models(), using
            )
            if dry_run:
                transaction.set_rollback(True, using=using)
    except ToolError as exc:
        raise RollbackError(
            codes.COMPENSATION_FAILED,
            f"The compensation of {event.id} ({tool.name}) refused: {exc.code}: {exc.message} "
            "Nothing was rolled back.",
            error=exc.as_error(),
        ) from None
    return CompensationStep(event.id, capture.ledger(), value, [])
