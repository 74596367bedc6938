"""What a rollback would do, for a person to look at: computed, never recorded.

``rollback_audit_id(..., dry_run=True)`` is a call of the audited pipeline and leaves a
``dry_run`` audit row, as every call does. A page that shows the inverse before someone
confirms it (the admin's rollback page, opened and reloaded many times) must not write to
the ledger on each look, so it asks here: the same planner, reading without locks, inside
a transaction that is always rolled back (a domain tool's compensation runs for real in it),
and no audit row. The rollback itself stays ``rollback_audit_id``.

    preview_rollback("aud_01J...", actor="ops:lee")
    # {"rows": [{"model", "pk", "action", "field", "current", "left", "restored",
    #            "state": "restore" | "already_restored" | "conflict"}, ...],
    #  "restored_rows": 3, "conflicts": [...], "already_restored": 1, "rows_truncated": False}
"""

from __future__ import annotations

from typing import Any

from django.db import router, transaction

from ormai_django.audit import safe_text
from ormai_django.codes import ALREADY_ROLLED_BACK, UNKNOWN_AUDIT_EVENT
from ormai_django.errors import RollbackError
from ormai_django.models import AuditEvent
from ormai_django.policy.loading import get_policy
from ormai_django.rollback.bulk import BulkRestore
from ormai_django.rollback.compensation import compensate, compensation_of
from ormai_django.rollback.events import default_reason
from ormai_django.rollback.plan import Planner
from ormai_django.rollback.service import check_reversible, rollback_of
from ormai_django.rollback.steps import DELETE, RECREATE, RESTORE

# What a preview line says of its field.
RESTORE_STATE = "restore"  # the rollback puts the restored value back
ALREADY_RESTORED = "already_restored"  # it holds the restored value already (put back by hand)
CONFLICT = "conflict"  # changed since the write to something else: needs force

MAX_PREVIEW_LINES = 1000


class _Discard(Exception):
    """Raised to roll the preview's transaction back (a compensation ran in it)."""


def preview_rollback(
    audit_id: str, *, actor: str, policy: Any = None, max_lines: int | None = MAX_PREVIEW_LINES
) -> dict[str, Any]:
    """The inverse of the write ``audit_id`` recorded, line by line (one per row and field),
    with what is there now (``current``), what the write left (``left``) and what the
    rollback puts back (``restored``); nothing is written, not even an audit row.

    Raises ``RollbackError`` as ``rollback_audit_id`` would before it plans
    (``UNKNOWN_AUDIT_EVENT``, ``NOT_A_WRITE``, ``NOT_REVERSIBLE``, ``ALREADY_ROLLED_BACK``,
    ``COMPENSATION_FAILED``)."""
    event = AuditEvent.objects.filter(pk=audit_id).first() if isinstance(audit_id, str) else None
    if event is None:
        raise RollbackError(
            UNKNOWN_AUDIT_EVENT, f"No audit event {safe_text(audit_id, limit=64)!r}."
        )
    check_reversible(event)
    done = rollback_of(event)
    if done is not None:
        raise RollbackError(
            ALREADY_ROLLED_BACK,
            f"{event.id} was already rolled back by {done}.",
            rolled_back_by=done,
        )
    policy = policy if policy is not None else get_policy()
    using = router.db_for_write(AuditEvent)
    steps: list[Any] = []
    try:
        with transaction.atomic(using=using):
            tool = compensation_of(event)
            if tool is None:
                steps = Planner(using, lock=False, policy=policy, sequential=False).plan(event)
            else:
                reason = default_reason(event, actor)
                steps = [
                    compensate(
                        event,
                        tool,
                        actor=actor,
                        reason=reason,
                        run_id="",
                        policy=policy,
                        using=using,
                        dry_run=True,
                    )
                ]
            raise _Discard
    except _Discard:
        pass
    lines: list[dict[str, Any]] = []
    truncated = False
    for step in steps:
        for line in step_lines(step):
            if max_lines is not None and len(lines) >= max_lines:
                truncated = True
                break
            lines.append(line)
    conflicts = [c for s in steps for c in (s.conflicts or [])]
    return {
        "audit_event": event,
        "rows": lines,
        "rows_truncated": truncated,
        "restored_rows": sum(s.acting_count(False) for s in steps),
        "conflicts": conflicts,
        "conflicting_rows": len({(c["model"], str(c["pk"])) for c in conflicts}),
        "already_restored": sum(1 for line in lines if line["state"] == ALREADY_RESTORED),
    }


def step_lines(step: Any) -> list[dict[str, Any]]:
    """One planned step as preview lines, each with the value the write left (``left``)
    beside ``current`` and ``restored``, and its ``state``."""
    if isinstance(step, BulkRestore):
        return _bulk_lines(step)
    # The value the write left: a conflict says it (``expected``); without one, the field
    # still holds it.
    left_by_field = {c["field"]: c.get("expected") for c in step.conflicts if "expected" in c}
    row_conflict = any(c.get("field") is None for c in step.conflicts)
    out = []
    for line in step.lines():
        name = line["field"]
        current, restored = line["current"], line["restored"]
        if line.get("action") == "compensate":
            left = current
        elif step.action == RECREATE:
            left = None  # the write deleted the row
        elif step.action == DELETE:
            left = "(row)"
        elif name in left_by_field:
            left = left_by_field[name]
        else:
            left = current
        out.append(
            {
                **line,
                "left": left,
                "state": _state(line["conflict"] or row_conflict, step.action, current, restored),
            }
        )
    return out


def _bulk_lines(item: BulkRestore) -> list[dict[str, Any]]:
    out = []
    for line in item.lines():
        current, restored = line["current"], line["restored"]
        out.append(
            {
                **line,
                "left": item.after.get(line["field"]),
                "state": _state(line["conflict"], RESTORE, current, restored),
            }
        )
    return out


def _state(conflict: bool, action: str, current: Any, restored: Any) -> str:
    if conflict:
        return CONFLICT
    if action == RESTORE and current == restored:
        return ALREADY_RESTORED
    return RESTORE_STATE
