"""Reading a write's ledger back: which rows of which model it changed, created or deleted.

An executed write's ``AuditEvent.changes`` holds one entry per row: ``{"model"?, "pk",
"before"?, "after"?}`` (``model`` defaults to the event's). Both before and after: the
row was changed; only after: created; only before: deleted. A rollback's own audit row
uses the same shape, so a rollback can be rolled back.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models

from ormai_django.codes import NOT_REVERSIBLE
from ormai_django.errors import RollbackError
from ormai_django.orm.rows import json_native, to_json

CHANGED, CREATED, DELETED = "changed", "created", "deleted"


class RecordedRow(NamedTuple):
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


class FieldCodec:
    """One field's recorded values: as Python (to write them back) and in the JSON form a
    database value is compared in. Integers, text and booleans need no conversion, which
    matters when a rollback reads 10,000 rows."""

    __slots__ = ("audit_id", "field", "native")

    def __init__(self, field: models.Field, audit_id: str) -> None:
        self.field, self.audit_id = field, audit_id
        self.native = json_native(field)

    def python(self, value: Any) -> Any:
        if self.native or value is None:
            return value
        return python_value(self.field, value, self.audit_id)

    def comparable(self, value: Any) -> Any:
        if self.native or value is None:
            return value
        return to_json(python_value(self.field, value, self.audit_id))

    def from_db(self, value: Any) -> Any:
        return value if self.native else to_json(value)


def value_key(value: Any) -> Any:
    """A hashable key for a JSON value (rows restored to equal values share a statement);
    the type is part of it, since True == 1 in Python but not in a column."""
    if value is None or isinstance(value, str | int | float | bool):
        return (type(value).__name__, value)
    return json.dumps(value, sort_keys=True, default=str)


def recorded_groups(event: Any) -> dict[type[models.Model], list[dict[str, Any]]]:
    """The ledger entries of an executed write's audit row, by model, in ledger order."""
    changes = event.changes or []
    if _all_of_the_events_model(changes):
        # Every row of the write's own model (what an update or a create records).
        return {resolve_model(event.model, event.id): changes} if changes else {}
    groups: dict[type[models.Model], list[dict[str, Any]]] = {}
    models_: dict[str, type[models.Model]] = {}
    for entry in changes:
        if not isinstance(entry, dict) or "pk" not in entry:
            raise RollbackError(
                NOT_REVERSIBLE, f"{event.id}'s ledger entry {entry!r} names no row."
            )
        label = entry.get("model") or event.model
        model = models_.get(label) or models_.setdefault(label, resolve_model(label, event.id))
        groups.setdefault(model, []).append(entry)
    return groups


def _all_of_the_events_model(changes: list[Any]) -> bool:
    """Whether every entry is a row of the write's own model (no ``"model"`` key): what an
    update or a create records, and then the ledger needs no grouping."""
    return all(type(entry) is dict and "pk" in entry and "model" not in entry for entry in changes)


def as_rows(model: type[models.Model], entries: list[dict[str, Any]]) -> list[RecordedRow]:
    return [RecordedRow(model, e["pk"], e.get("before"), e.get("after")) for e in entries]


def uniform_after(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The after values every entry records, if they are the same on all and every entry
    is a change (what one ``db.update`` records)."""
    first = entries[0].get("after")
    if not isinstance(first, dict) or not first:
        return None
    if not all(e.get("after") == first and type(e.get("before")) is dict for e in entries):
        return None
    return first
