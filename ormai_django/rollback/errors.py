"""``RollbackError`` and its codes (public API: add new codes, never rename)."""

from __future__ import annotations

from typing import Any

ALREADY_ROLLED_BACK = "ALREADY_ROLLED_BACK"
ROLLBACK_CONFLICT = "ROLLBACK_CONFLICT"
NOT_A_WRITE = "NOT_A_WRITE"
UNKNOWN_AUDIT_EVENT = "UNKNOWN_AUDIT_EVENT"
UNKNOWN_RUN = "UNKNOWN_RUN"
# The ledger names a model, field or value the project no longer has.
NOT_REVERSIBLE = "NOT_REVERSIBLE"
INVALID_ARGUMENTS = "INVALID_ARGUMENTS"


class RollbackError(Exception):
    """A rollback that was refused; nothing was changed. ``code`` says why.

    ``ROLLBACK_CONFLICT`` carries ``conflicts``: one entry per field that changed since the
    write (``audit_id``, ``model``, ``pk``, ``field``, ``expected``, ``current``), or per row
    that is gone or back (``field`` None, ``problem``).
    """

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    @property
    def conflicts(self) -> list[dict[str, Any]]:
        return self.details.get("conflicts", [])

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}
