"""Updates and soft deletes: lock and measure the rows, validate, write them in bulk.

Both run as one ``QuerySet.update()`` with the filter that locked the rows, after one
``INSERT ... SELECT`` of their history rows (on PostgreSQL all of it, the audit row
included, one statement: ``writes/capture.py``), so a write over 10,000 rows takes the same
few statements as a write over one. Before values are read once, when the rows are locked;
after values are what the write set.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from django.core.exceptions import ValidationError
from django.db import connections, models
from django.utils import timezone

from ormai_django import codes
from ormai_django.errors import ToolError
from ormai_django.orm.history import write_history
from ormai_django.orm.rows import json_native, to_json
from ormai_django.writes.capture import (
    captures_in_database,
    keys_and_ledger,
    locked_keys,
    update_in_one_statement,
)
from ormai_django.writes.data import messages_of, validation_error, writable_values
from ormai_django.writes.operations import WriteOperation
from ormai_django.writes.windows import window_updates


def ledger_changes(
    pk: models.Field, fields: list[models.Field], rows: list[tuple[Any, ...]], values: dict
) -> list[dict[str, Any]]:
    """``[{"pk", "before", "after"}]`` for rows ``(pk, *before values)`` that got ``values``.

    This runs once per row touched, so the JSON conversion is chosen once per field.
    """
    after = {f.name: to_json(values[f.attname]) for f in fields}
    names = [f.name for f in fields]
    plain = all(json_native(f) for f in (pk, *fields))
    if plain and len(fields) == 1:
        (name,) = names
        return [{"pk": key, "before": {name: old}, "after": after} for key, old in rows]
    if plain:
        return [
            {"pk": row[0], "before": dict(zip(names, row[1:], strict=True)), "after": after}
            for row in rows
        ]
    return [
        {
            "pk": to_json(row[0]),
            "before": {name: to_json(v) for name, v in zip(names, row[1:], strict=True)},
            "after": after,
        }
        for row in rows
    ]


def soft_delete_marker(field: models.Field) -> Any:
    """The value that marks a row deleted: True for a flag, now for a date or time."""
    if isinstance(field, models.BooleanField):
        return True
    if isinstance(field, models.DateField) and not isinstance(field, models.DateTimeField):
        return timezone.localdate()
    return timezone.now()


class UpdateOperation(WriteOperation):
    def prepare(self) -> None:
        self.values = writable_values(self.policy, self.mp, self.req.data, self.tenant)
        self.instance_values: dict[str, Any] | None = None  # the whole row, for one-row writes

    def set_fields(self) -> list[models.Field]:
        by_attname = {f.attname: f for f in self.model._meta.concrete_fields}
        fields = [by_attname[attname] for attname in self.values]
        # As save() would: auto_now fields move with every write.
        fields += [f for f in by_attname.values() if getattr(f, "auto_now", False)]
        return list(dict.fromkeys(fields))

    def measure(self) -> None:
        """Lock the rows (in primary-key order) and read what the write will replace."""
        pk_name = self.model._meta.pk.attname
        fields = self.set_fields()
        # What the write sets and when, decided once: SQLite's ledger, read here, says it.
        self.now = timezone.now()
        self.written = self.written_values(fields, self.now)
        # The primary key, then the values the write replaces (the audit's before).
        fetch = [pk_name, *(f.attname for f in fields)]
        # The rows the write selects, built once for the reads here and the write itself.
        self.selected = self.target()
        locked = self.selected.select_for_update(of=("self",)).order_by("pk")
        self.rows: list[tuple[Any, ...]] | None = None
        self.ledger: orjson.Fragment | None = None
        if self.req.by_id:
            # One row: all of it, for full_clean() on the row as it would be.
            self.instance_values = locked.values(
                *(f.attname for f in self.model._meta.concrete_fields)
            ).first()
            self.rows = (
                [tuple(self.instance_values[a] for a in fetch)] if self.instance_values else []
            )
            if not self.rows:
                raise self.not_found()
            self.ids = [self.rows[0][0]]
        elif not captures_in_database(self.using, self.model._meta.pk, fields):
            # Fetched in large chunks (Django's iterator fetches 100 rows at a time);
            # the field converters still apply.
            compiler = locked.values_list(*fetch).query.get_compiler(self.using)
            self.rows = list(compiler.results_iter(tuple_expected=True, chunk_size=2000))
            self.ids = [row[0] for row in self.rows]
        elif connections[self.using].vendor == "postgresql":
            # Many rows: locked here, their ledger built by the update's own statement.
            self.ids = locked_keys(self.selected)
        else:
            # Many rows on SQLite: the keys and the ledger in one read.
            after = {f.name: to_json(self.written[f.attname]) for f in fields}
            self.ids, self.ledger = keys_and_ledger(self.selected, fields, after)
        self.affected = len(self.ids)

    def written_values(self, fields: list[models.Field], now: datetime) -> dict[str, Any]:
        """``{attname: value}`` the write sets: the call's values, and ``now`` in every
        ``auto_now`` field (as ``save()`` would)."""
        return {
            f.attname: now if getattr(f, "auto_now", False) else self.values[f.attname]
            for f in fields
        }

    def validate(self) -> None:
        instance = None
        if self.instance_values is not None:
            instance = self.model(**self.instance_values)
            for attname, value in self.values.items():
                setattr(instance, attname, value)
            untouched = [f.name for f in self.model._meta.fields if f.attname not in self.values]
            try:
                instance.full_clean(exclude=untouched)
            except ValidationError as exc:
                raise validation_error(self.visible_messages(messages_of(exc))) from None
        self.run_validators(instance)

    def preview(self) -> dict[str, Any]:
        rows = self.target()
        self.affected = rows.count()
        if self.req.by_id and not self.affected:
            raise self.not_found()
        if self.req.by_id:
            # Validated as the real call would be, so a clean preview means a clean write.
            attnames = [f.attname for f in self.model._meta.concrete_fields]
            self.instance_values = rows.values(*attnames).first()
        self.validate()
        fields = [f for f in self.set_fields() if f.attname in self.values]
        sample = rows.order_by("pk").values("pk", *(f.attname for f in fields))
        would_change = [
            {
                "id": to_json(row["pk"]),
                **{
                    key: value
                    for f in fields
                    for key, value in (
                        (f"{f.name}_before", self.shown(f, row[f.attname])),
                        (f"{f.name}_after", to_json(self.values[f.attname])),
                    )
                },
            }
            for row in sample[: self.preview_cap()]
        ]
        return {"would_change": would_change, "truncated": self.affected > len(would_change)}

    def audits_in_statement(self) -> bool:
        # PostgreSQL: the update's statement inserts the audit row (and the idempotency
        # record), with the ledger it aggregates for many rows, at no round trip.
        return connections[self.using].vendor == "postgresql"

    def execute(self) -> list[dict[str, Any]] | orjson.Fragment | None:
        fields, values, now = self.set_fields(), self.written, self.now
        # The rows are locked; the same filter selects them for the history copy (with
        # the new values: the after-state) and the update. Both must see exactly the
        # rows captured, or the write is rolled back as a conflict.
        rows = self.selected
        python_ledger = self.rows is not None  # else the database builds it
        built = self.ledger  # SQLite's, read with the keys
        if python_ledger:
            built = ledger_changes(self.model._meta.pk, fields, self.rows, values)
            if self.audit is not None:
                self.audit.changes = built
        if connections[self.using].vendor == "postgresql":
            # One statement: the update, its history rows, the budgets' spend and (given
            # one) the audit row, whose ledger it aggregates for many rows.
            updated, copied, aggregated = update_in_one_statement(
                rows,
                fields,
                values,
                self.history_reason,
                now,
                ledger=not python_ledger,
                also=window_updates(self.spends, self.using),
                audit=self.audit,
                also_insert=self.also_insert,
            )
            if not python_ledger:
                built = aggregated
            self.spent_in_statement = True
        else:
            copied = write_history(rows, "~", self.history_reason, now, setting=values)
            updated = rows.update(**values)
        if updated != self.affected or copied not in (None, self.affected):
            raise ToolError(
                codes.WRITE_CONFLICT,
                "The rows matching the write changed while it ran; it was rolled back and "
                "nothing was changed. Send the call again.",
            )
        return built


class SoftDeleteOperation(UpdateOperation):
    """db.delete on a model with a soft-delete field: the rows are marked, not removed."""

    def prepare(self) -> None:
        field = self.model._meta.get_field(self.mp.soft_delete_field)
        self.values = {field.attname: soft_delete_marker(field)}
        self.instance_values = None

    def validate(self) -> None:
        self.run_validators(None)
