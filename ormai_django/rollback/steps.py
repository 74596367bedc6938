"""The planned inverse of one row (``RowStep``) and the actions an inverse takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import models

# What the inverse of one row does.
RESTORE = "restore"  # set the changed fields back to their before values
DELETE = "delete"  # remove a row the write created
SOFT_DELETE = "soft_delete"  # mark a created row deleted (the model soft-deletes)
RECREATE = "recreate"  # insert a row the write deleted, with its primary key

GONE = "the row no longer exists"
BACK = "a row with this primary key exists again"


@dataclass(slots=True)
class RowStep:
    """The inverse of one recorded row; values in their JSON form."""

    audit_id: str
    model: type[models.Model]
    pk: Any
    action: str
    current: dict[str, Any] | None  # None: the row does not exist now
    restored: dict[str, Any] | None  # None: the row is removed
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    # A forced rollback passes over a row it can't act on (gone since, say).
    skip_when_forced: bool = False

    def conflict(self, field_name: str | None, **detail: Any) -> None:
        self.conflicts.append(
            {
                "audit_id": self.audit_id,
                "model": self.model._meta.label,
                "pk": self.pk,
                "field": field_name,
                **detail,
            }
        )

    def acting_count(self, force: bool) -> int:
        """1 when the rollback acts on this row; a forced one passes over a row it can't."""
        return 0 if force and self.skip_when_forced and self.conflicts else 1

    def lines(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The step as table lines, one per field: what is there now, what the rollback puts."""
        conflicted = {c["field"] for c in self.conflicts}
        row_conflict = None in conflicted
        base = {
            "audit_id": self.audit_id,
            "model": self.model._meta.label,
            "pk": self.pk,
            "action": self.action,
        }
        if self.action == DELETE:
            return [
                {
                    **base,
                    "field": None,
                    "current": "(row)",
                    "restored": "(deleted)",
                    "conflict": bool(self.conflicts),
                }
            ]
        names = list(self.restored or self.current or {})
        current, restored = self.current or {}, self.restored or {}
        return [
            {
                **base,
                "field": name,
                "current": current.get(name),
                "restored": restored.get(name),
                "conflict": row_conflict or name in conflicted,
            }
            for name in names
        ]
