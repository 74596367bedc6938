"""Rollback by design: the inverse of any executed write, built from its ledger.

    from ormai_django.rollback import rollback_audit_id, rollback_run, RollbackError

    rollback_audit_id("aud_01J...", actor="ops:lee", dry_run=True)   # the inverse, row by row
    rollback_audit_id("aud_01J...", actor="ops:lee", reason="bad bulk cancel")
    rollback_run("run-7c2d", actor="ops:lee")                       # a whole agent run

An update's inverse restores the before values on exactly the rows it changed; a
create's deletes (or soft-deletes) the rows it made; a soft delete's clears the mark; a
hard delete's re-creates the rows, cascaded ones included, parents first. A row changed
since the write is a conflict (``ROLLBACK_CONFLICT``) unless ``force``. See docs/rollback.md.
"""

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
from ormai_django.errors import RollbackError
from ormai_django.rollback.service import (
    REVERSIBLE_TOOLS,
    ROLLBACK_TOOL,
    check_reversible,
    rollback_audit_id,
    rollback_of,
    rollback_run,
)

__all__ = [
    "ALREADY_ROLLED_BACK",
    "AMBIGUOUS_RUN",
    "INVALID_ARGUMENTS",
    "NOT_A_WRITE",
    "NOT_REVERSIBLE",
    "REVERSIBLE_TOOLS",
    "ROLLBACK_CONFLICT",
    "ROLLBACK_TOOL",
    "UNKNOWN_AUDIT_EVENT",
    "UNKNOWN_RUN",
    "RollbackError",
    "check_reversible",
    "rollback_audit_id",
    "rollback_of",
    "rollback_run",
]
