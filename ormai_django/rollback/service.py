"""``rollback_audit_id`` and ``rollback_run``: find the writes, plan, check, apply, audit.

All or nothing: the inverse of every write runs in one transaction, with one rollback
``AuditEvent`` per write undone (``caused_by`` the write, the actor as principal, the
reason, and the rollback's own before/after, so it can be rolled back in turn). A refusal
changes nothing and is audited too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, router, transaction
from django.utils import timezone

from ormai_django import names
from ormai_django.audit import safe_text
from ormai_django.codes import (
    ALREADY_ROLLED_BACK,
    AMBIGUOUS_RUN,
    INVALID_ARGUMENTS,
    NOT_A_WRITE,
    NOT_REVERSIBLE,
    ROLLBACK_CONFLICT,
    UNKNOWN_AUDIT_EVENT,
    UNKNOWN_RUN,
)
from ormai_django.domain.declarations import declared
from ormai_django.errors import RollbackError
from ormai_django.models import AuditEvent
from ormai_django.names import WRITE_TOOLS
from ormai_django.orm.scope import tenant_key
from ormai_django.policy.loading import get_policy
from ormai_django.rollback.apply import apply_steps
from ormai_django.rollback.bulk import BulkRestore, apply_bulk
from ormai_django.rollback.compensation import compensate, compensation_of
from ormai_django.rollback.events import (
    ROLLBACK_TOOL,
    default_reason,
    record_refusal,
    record_rollback,
)
from ormai_django.rollback.ledger import recorded_groups
from ormai_django.rollback.plan import Planner, bulk_restore_of
from ormai_django.rollback.table import table_lines

# What a rollback can undo: an executed write, or an executed rollback (a redo); and the
# calls of domain tools (their ledgers name each row's model).
REVERSIBLE_TOOLS = (*WRITE_TOOLS, ROLLBACK_TOOL)
# What is never a write, whatever its audit row holds.
NOT_WRITES = (
    *names.READ_TOOLS,
    names.APPROVAL_STATUS,
    names.APPROVAL_APPROVE,
    names.APPROVAL_DENY,
    names.APPROVAL_EXPIRE,
)
RUN_PREFIX = "rollback:"
# Lines of the row-by-row table a result carries by default (conflicts are always complete).
MAX_LINES = 1000


def rollback_audit_id(
    audit_id: str,
    *,
    actor: str,
    dry_run: bool = False,
    force: bool = False,
    reason: str = "",
    policy: Any = None,
    max_lines: int | None = MAX_LINES,
) -> dict[str, Any]:
    """Undo the write that ``AuditEvent`` ``audit_id`` recorded.

        rollback_audit_id("aud_01J...", actor="ops:lee", reason="wrong customers cancelled")

    Returns ``{"outcome": "ok" | "dry_run", "audit_id": <the rollback's own event>,
    "restored_rows": n, "rows": [...], ...}``; ``rows`` has one line per field restored
    (model, pk, action, field, current, restored, conflict), at most ``max_lines`` of them
    (None: all; ``rows_truncated`` says when lines were left out). Raises ``RollbackError``
    (``UNKNOWN_AUDIT_EVENT``, ``NOT_A_WRITE``, ``ALREADY_ROLLED_BACK``, ``ROLLBACK_CONFLICT``
    unless ``force``); a refusal changes nothing. ``policy`` (default: ``ORMAI["POLICY"]``)
    says which models soft-delete, so undoing a create soft-deletes where it should.
    """

    def select(lock: bool) -> list[AuditEvent]:
        event = None
        if isinstance(audit_id, str):
            events = AuditEvent.objects.filter(pk=audit_id)
            event = (events.select_for_update() if lock else events).first()
        if event is None:
            raise RollbackError(
                UNKNOWN_AUDIT_EVENT,
                f"No audit event {safe_text(audit_id, limit=64)!r}; audit ids look like "
                "'aud_01J...' (see the audit log).",
            )
        check_reversible(event)
        done = rollback_of(event)
        if done is not None:
            raise RollbackError(
                ALREADY_ROLLED_BACK,
                f"{event.id} was already rolled back by {done}; roll that event back to "
                "redo the write.",
                rolled_back_by=done,
            )
        return [event]

    actor, reason = _checked(actor, reason)
    request = RollbackRequest(select, actor, reason, dry_run, force, policy, "", max_lines)
    result = _rollback(request)
    result["audit_id"] = result.pop("audit_ids")[0]
    return result


def rollback_run(
    run_id: str,
    *,
    actor: str,
    tenant_id: Any = None,
    dry_run: bool = False,
    force: bool = False,
    reason: str = "",
    policy: Any = None,
    max_lines: int | None = MAX_LINES,
) -> dict[str, Any]:
    """Undo every executed write of one agent run, newest first, all or nothing.

    Conflicts are listed across the run (each write's inverse is checked against the rows
    as the newer inverses leave them). Writes already rolled back one by one are passed
    over (``skipped``). The rollbacks share the run id ``rollback:<run_id>``, so
    ``rollback_run("rollback:<run_id>", ...)`` redoes the run. Returns ``{"outcome",
    "run_id", "audit_ids", "rolled_back", "skipped", "restored_rows", "rows"}``.

    A run is a tenant's: agents of two tenants may use the same run id. ``tenant_id`` names
    it; without it, a run id that more than one tenant used is refused (``AMBIGUOUS_RUN``)
    rather than rolling back another tenant's writes.
    """
    if not isinstance(run_id, str) or not run_id:
        raise RollbackError(INVALID_ARGUMENTS, "run_id must be a non-empty string.")
    tenant = _run_tenant(run_id, tenant_id, policy)
    skipped: list[str] = []  # writes of the run already rolled back one by one

    def select(lock: bool) -> list[AuditEvent]:
        events = (
            AuditEvent.objects.filter(
                run_id=run_id, tenant_id=tenant, outcome=AuditEvent.Outcome.OK
            )
            .exclude(tool__in=NOT_WRITES)
            .exclude(changes=None)
            .order_by("-created_at", "-id")
        )
        candidates = list(events.select_for_update() if lock else events)
        for event in candidates:
            check_reversible(event)  # an irreversible domain tool's call stops the run
        found = [e for e in candidates if e.changes]
        if not found:
            raise RollbackError(
                UNKNOWN_RUN,
                f"Run {safe_text(run_id, limit=200)!r} has no executed write to roll back.",
            )
        undone = set(
            AuditEvent.objects.filter(
                tool=ROLLBACK_TOOL, outcome=AuditEvent.Outcome.OK, caused_by__in=found
            ).values_list("caused_by_id", flat=True)
        )
        pending = [e for e in found if e.id not in undone]
        if not pending:
            raise RollbackError(
                ALREADY_ROLLED_BACK, f"Every write of run {run_id!r} was already rolled back."
            )
        skipped[:] = sorted(undone)
        return pending

    actor, reason = _checked(actor, reason)
    request = RollbackRequest(
        select, actor, reason, dry_run, force, policy, RUN_PREFIX + run_id, max_lines
    )
    result = _rollback(request)
    result["skipped"] = skipped
    return result


def _run_tenant(run_id: str, tenant_id: Any, policy: Any) -> str:
    """The tenant (as the audit log stores it) whose run ``run_id`` is rolled back."""
    if tenant_id is not None:
        return tenant_key(tenant_id, policy)
    tenants = sorted(
        set(
            AuditEvent.objects.filter(run_id=run_id, outcome=AuditEvent.Outcome.OK)
            .exclude(tool__in=NOT_WRITES)
            .values_list("tenant_id", flat=True)
        )
    )
    if len(tenants) > 1:
        raise RollbackError(
            AMBIGUOUS_RUN,
            f"Run {safe_text(run_id, limit=200)!r} has writes in several tenants "
            f"({', '.join(t or '(none)' for t in tenants)}); name the tenant whose run it is "
            "(tenant_id=..., or --tenant).",
        )
    return tenants[0] if tenants else ""


def check_reversible(event: AuditEvent) -> None:
    """Refuse (``NOT_A_WRITE``, ``NOT_REVERSIBLE``) what no rollback can undo."""
    tool = declared(event.tool)
    if tool is not None and tool.irreversible:
        raise RollbackError(
            NOT_REVERSIBLE,
            f"{event.id} is a call of {tool.name}, which can't be undone (irreversible=True: "
            "an email sent, say). Make good on it another way; nothing was rolled back.",
        )
    if event.tool not in REVERSIBLE_TOOLS and (event.tool in NOT_WRITES or not _domain(event)):
        raise RollbackError(
            NOT_A_WRITE,
            f"{event.id} is a {event.tool} call: it changed no rows to roll back.",
        )
    if event.outcome != AuditEvent.Outcome.OK:
        raise RollbackError(
            NOT_A_WRITE,
            f"{event.id} has outcome {event.outcome!r}: it changed no rows to roll back.",
        )
    if event.changes is None:
        original = (
            f" (it replayed {event.caused_by_id}; roll that back)" if event.caused_by_id else ""
        )
        raise RollbackError(
            NOT_A_WRITE,
            f"{event.id} changed no rows{original}; there is nothing to roll back.",
        )


def _domain(event: AuditEvent) -> bool:
    """Whether ``event`` is a domain tool's call (declared now or not): its ledger names
    each row's model, so it can be restored like any write."""
    return names.TOOL_NAME.match(event.tool or "") is not None


def rollback_of(event: AuditEvent) -> str | None:
    """The id of the rollback that undid ``event``, if one did."""
    return (
        AuditEvent.objects.filter(
            caused_by=event, tool=ROLLBACK_TOOL, outcome=AuditEvent.Outcome.OK
        )
        .values_list("id", flat=True)
        .first()
    )


@dataclass(frozen=True)
class RollbackRequest:
    """One call of ``rollback_audit_id`` or ``rollback_run``: who asks, why, and how."""

    select: Callable[[bool], list[AuditEvent]]  # the writes to undo (locked unless dry run)
    actor: str
    reason: str
    dry_run: bool = False
    force: bool = False
    policy: Any = None
    run_id: str = ""  # the rollbacks' own run id ("rollback:<run>" for a run)
    max_lines: int | None = MAX_LINES


def _checked(actor: Any, reason: Any) -> tuple[str, str]:
    if not isinstance(actor, str) or not actor.strip() or len(actor) > 200:
        raise RollbackError(
            INVALID_ARGUMENTS,
            "actor must name who rolls back (a non-empty string of at most 200 characters).",
        )
    if reason is None:
        reason = ""
    if not isinstance(reason, str):
        raise RollbackError(INVALID_ARGUMENTS, "reason must be a string.")
    return actor.strip(), reason.strip()


def _rollback(request: RollbackRequest) -> dict[str, Any]:
    started = time.perf_counter()
    actor, reason, dry_run, force = request.actor, request.reason, request.dry_run, request.force
    policy = request.policy if request.policy is not None else get_policy()
    using = router.db_for_write(AuditEvent)
    events: list[AuditEvent] = []
    run_id = request.run_id
    try:
        with transaction.atomic(using=using):
            events = request.select(not dry_run)
            # A bulk update whose rows are all as it left them is restored straight away;
            # anything else is planned and checked first, then applied.
            restored = None if dry_run else _restore_unchanged(events, actor, reason, using)
            if restored is not None:
                plans, applied = [(events[0], [restored[0]])], [restored[1]]
            else:
                planner = Planner(
                    using, lock=not dry_run, policy=policy, sequential=len(events) > 1
                )

                def plan(event: AuditEvent) -> list[Any]:
                    tool = compensation_of(event)
                    if tool is None:
                        return planner.plan(event)
                    # The project's own inverse: run now (rolled back for a dry run).
                    why = reason or default_reason(event, actor)
                    options = {"actor": actor, "reason": why, "run_id": run_id, "policy": policy}
                    return [compensate(event, tool, using=using, dry_run=dry_run, **options)]

                plans, applied = [(event, plan(event)) for event in events], []
            conflicts = [c for _, steps in plans for s in steps if s.conflicts for c in s.conflicts]
            lines, truncated = table_lines(
                (s for _, steps in plans for s in steps), request.max_lines
            )
            summary = {
                "rolled_back": [e.id for e in events],
                "restored_rows": sum(s.acting_count(force) for _, steps in plans for s in steps),
                "conflicts": conflicts,
                "rows": lines,
                "rows_truncated": truncated,
            }
            if dry_run:
                ids = [
                    record_rollback(
                        e, actor, reason, run_id, "dry_run", started, dry_run=True, force=force
                    )
                    for e in events
                ]
                return {"outcome": "dry_run", "audit_ids": ids, "run_id": run_id, **summary}
            blocking = [c for c in conflicts if c.get("blocking")]
            if blocking or (conflicts and not force):
                raise RollbackError(
                    ROLLBACK_CONFLICT,
                    _conflict_message(conflicts, blocking),
                    conflicts=conflicts,
                )
            if not applied:
                now = timezone.now()
                applied = [
                    apply_steps(steps, force, reason or default_reason(event, actor), using, now)
                    for event, steps in plans
                ]
            ids = [
                record_rollback(
                    event,
                    actor,
                    reason,
                    run_id,
                    "ok",
                    started,
                    force=force,
                    changes=changes,
                    affected=sum(s.acting_count(force) for s in steps),
                )
                for (event, steps), changes in zip(plans, applied, strict=True)
            ]
    except IntegrityError:
        # A concurrent rollback of the same write committed first (one rollback per write is
        # a constraint of the ledger).
        error = RollbackError(
            ALREADY_ROLLED_BACK,
            "Another rollback of this write committed first; nothing was changed.",
        )
        record_refusal(events, actor, reason, run_id, error, started, force)
        raise error from None
    except RollbackError as error:
        record_refusal(events, actor, reason, run_id, error, started, force)
        raise
    return {
        "outcome": "ok",
        "audit_ids": ids,
        "run_id": run_id,
        "forced": force and bool(conflicts),
        **summary,
    }


def _restore_unchanged(
    events: list[AuditEvent], actor: str, reason: str, using: str
) -> tuple[BulkRestore, list[dict[str, Any]]] | None:
    """Undo one ``db.update`` over many rows without reading them first, when they are all
    as it left them: each ``UPDATE`` restores only rows that still hold the write's after
    values, and one that doesn't undoes it all (a savepoint). Returns the inverse and its
    ledger; None (nothing changed) when that's not the case or not such a write: the
    rollback is then planned, checked row by row and reported field by field."""
    if len(events) != 1 or compensation_of(events[0]) is not None:
        return None
    (event,) = events
    groups = recorded_groups(event)
    if len(groups) != 1:
        return None
    ((model, entries),) = groups.items()
    item = bulk_restore_of(event.id, model, entries)
    if item is None:
        return None
    why = reason or default_reason(event, actor)
    try:
        with transaction.atomic(using=using):
            changes = apply_bulk(item, False, why, using, timezone.now(), unchecked=True)
    except RollbackError as error:
        if error.code != ROLLBACK_CONFLICT:
            raise
        return None
    return None if changes is None else (item, changes)


def _conflict_message(conflicts: list[dict[str, Any]], blocking: list[dict[str, Any]]) -> str:
    rows = {(c["model"], str(c["pk"])) for c in conflicts}
    message = (
        f"{len(rows)} row(s) changed since the write ({len(conflicts)} conflicting field(s) "
        "or rows); nothing was rolled back. Look at the conflicts, then roll back with force "
        "to overwrite them, or leave the rows as they are."
    )
    if blocking:
        message += " Some rows can't be deleted even with force (other rows protect them)."
    return message
