"""Reading a write's ledger back: which rows of which model it changed, created or deleted.

An executed write's ``AuditEvent.changes`` holds one entry per row: ``{"model"?, "pk",
"before"?, "after"?}`` (``model`` defaults to the event's). Both before and after: the
row was changed; only after: created; only before: deleted. A rollback's own audit row
uses the same shape, so a rollback can be rolled back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models

from ormai_django.rollback.errors import NOT_REVERSIBLE, RollbackError
from ormai_django.tools.rows import to_json

CHANGED, CREATED, DELETED = "changed", "created", "deleted"


@dataclass(frozen=True)
class RecordedRow:
    """One row of a write, as its ledger recorded it (values in their JSON form)."""

    model: type[models.Model]
    pk: Any
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @property
    def kind(self) -> str:
        if self.before is not None and self.after is not None:
            return CHANGED
        return CREATED if self.after is not None else DELETED


def resolve_model(label: str, audit_id: str) -> type[models.Model]:
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        raise RollbackError(
            NOT_REVERSIBLE,
            f"{audit_id} changed rows of {label!r}, a model this project no longer has; "
            "it can't be rolled back automatically.",
        ) from None


def field_of(model: type[models.Model], name: str, audit_id: str) -> models.Field:
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        field = None
    if field is None or not getattr(field, "concrete", False):
        raise RollbackError(
            NOT_REVERSIBLE,
            f"{audit_id} recorded a field {name!r} that {model._meta.label} no longer has; "
            "it can't be rolled back automatically.",
        )
    return field


def python_value(field: models.Field, value: Any, audit_id: str) -> Any:
    """A recorded JSON value as the field's Python value (what a write would store)."""
    if value is None:
        return None
    try:
        return field.to_python(value)
    except ValidationError:
        raise RollbackError(
            NOT_REVERSIBLE,
            f"{audit_id} recorded {value!r} for {field.model._meta.label}.{field.name}, which "
            "that field no longer accepts; it can't be rolled back automatically.",
        ) from None


def comparable(field: models.Field, value: Any, audit_id: str) -> Any:
    """A recorded value in the JSON form a database value is compared in."""
    return to_json(python_value(field, value, audit_id))


def value_key(value: Any) -> str:
    """A hashable key for a JSON value (rows restored to equal values share a statement)."""
    return json.dumps(value, sort_keys=True, default=str)


def recorded_rows(event: Any) -> list[RecordedRow]:
    """The rows an executed write's audit row recorded, in ledger order."""
    rows: list[RecordedRow] = []
    for entry in event.changes or []:
        if not isinstance(entry, dict) or "pk" not in entry:
            raise RollbackError(
                NOT_REVERSIBLE, f"{event.id}'s ledger entry {entry!r} names no row."
            )
        model = resolve_model(entry.get("model") or event.model, event.id)
        rows.append(RecordedRow(model, entry["pk"], entry.get("before"), entry.get("after")))
    return rows
