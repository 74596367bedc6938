"""What each write tool does: preview it, lock and measure its rows, validate, execute.

Updates and soft deletes run as one ``QuerySet.update()`` with the filter that
locked the rows, after one ``INSERT ... SELECT`` of their history rows, so a write
over 10,000 rows takes the same few statements as a write over one. Before values are read once,
when the rows are locked; after values are what the write set. Creates save one
instance (its signals fire). Hard deletes run Django's ``Collector``, so the
cascade is exactly what ``QuerySet.delete()`` would do, signals included
(``writes/deletes.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from django.core.exceptions import ValidationError
from django.db import connections, models, router
from django.utils import timezone

from ormai_django import codes
from ormai_django.context import ToolContext
from ormai_django.errors import ToolError
from ormai_django.invocation import Invocation
from ormai_django.orm.batches import with_pks
from ormai_django.orm.history import change_reason, write_history
from ormai_django.orm.rows import json_native, to_json
from ormai_django.orm.scope import tenant_value, visible_rows
from ormai_django.orm.values import to_field_value
from ormai_django.orm.where import compile_where
from ormai_django.policy.masking import get_masker, masking_function
from ormai_django.writes.capture import (
    captures_in_database,
    keys_and_ledger,
    locked_keys,
    update_in_one_statement,
)
from ormai_django.writes.data import messages_of, validation_error, writable_values
from ormai_django.writes.gate import ApprovalNeed, WriteCall, approval_needed
from ormai_django.writes.request import WriteRequest
from ormai_django.writes.windows import window_updates

MAX_IDS = 100


@dataclass(frozen=True)
class WriteCheck:
    """What a policy validator sees; ``instance`` is the row as it would be (creates and
    single-row updates), ``None`` for a write over many rows."""

    tool: str
    model: str
    data: dict[str, Any]
    context: ToolContext
    instance: models.Model | None


def full_row(instance: models.Model) -> dict[str, Any]:
    return {f.name: to_json(getattr(instance, f.attname)) for f in instance._meta.concrete_fields}


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


class WriteOperation:
    """The steps every write shares; subclasses fill in what differs."""

    def __init__(self, inv: Invocation, req: WriteRequest) -> None:
        self.inv, self.req, self.mp = inv, req, req.mp
        self.model = req.mp.model
        self.policy = inv.policy
        self.tenant = inv.tenant_id
        self.using = router.db_for_write(self.model)
        self.affected = 0
        self.ids: list[Any] = []
        # The keys an approved where-write may touch (those measured when it was held):
        # rows that start matching after the hold are not what people approved.
        self.within: list[Any] | None = None

    # Whether the call counts as a write for rate limits and budgets (every db.* write does;
    # a domain tool that changes nothing doesn't).
    changes_things = True
    # The budget windows the call spends (``Charge.spent``): a write that can update them
    # inside its own statement does, and says so (``spent_in_statement``); else the pipeline
    # writes them after it.
    spends: Sequence[Any] = ()
    spent_in_statement = False
    # The call's audit row, unsaved, for a write that inserts it in its own statement
    # (``audits_in_statement``): the pipeline builds it, with the answer, before ``execute``;
    # and the rows to insert beside it (the call's idempotency record).
    audit: Any = None
    also_insert: Sequence[Any] = ()

    # --- the phases the pipeline runs, in this order --------------------------------

    def prepare(self) -> None:
        """Checks that need no row: the data's fields and values (before any SQL)."""

    def measure(self) -> None:
        """Lock the rows the write touches and set ``affected`` and ``ids`` (inside the
        write's transaction)."""
        raise NotImplementedError

    def count(self) -> None:
        """Set ``affected``, reading without locking (a decision that executes nothing:
        ``ormai_django.testing``, shadow policies)."""
        self.affected = self.target().count()
        if self.req.by_id and not self.affected:
            raise self.not_found()

    def validate(self) -> None:
        """Model validation and the policy's validators; raises ``VALIDATION_FAILED``."""
        raise NotImplementedError

    def preview(self) -> dict[str, Any]:
        """What a dry run returns (``would_change``, ``truncated``...), computed without
        changing anything or locking a row; also what a held call shows its approvers."""
        raise NotImplementedError

    def execute(self) -> list[dict[str, Any]] | orjson.Fragment | None:
        """Run the write, its history rows included; returns the ledger (per row: pk,
        before, after) for the audit row (None: it inserted ``audit`` itself)."""
        raise NotImplementedError

    def audits_in_statement(self) -> bool:
        """Whether ``execute`` inserts the call's audit row (``audit``) itself, once
        measured: the answer is known before the write runs."""
        return False

    # --- shared by the phases -----------------------------------------------------------

    @property
    def history_reason(self) -> str:
        """The change reason of the history rows the write makes: the agent, then its reason."""
        return change_reason(self.inv.context.principal, self.req.reason)

    def approval_need(self, escalations: Iterable[str] = ()) -> ApprovalNeed | None:
        """The approval this write needs now (measured), or None; ``escalations`` are the
        budgets past their bound that send it to a human."""
        return approval_needed(self.policy, self.mp, self.call(), escalations)

    @property
    def counted_model(self) -> type[models.Model] | None:
        """The model budgets count this write against (None: a domain tool's call)."""
        return self.mp.model if self.mp is not None else None

    @property
    def counted_label(self) -> str:
        """How a budget's refusal names what was written."""
        return self.mp.label if self.mp is not None else self.req.tool

    def call(self) -> WriteCall:
        return WriteCall(
            tool=self.req.tool,
            model=self.mp.name,
            data=self.req.data,
            where=self.req.where,
            affected_rows=self.affected,
            reason=self.req.reason,
            context=self.inv.context,
        )

    def target(self) -> models.QuerySet:
        """The rows the write selects: visible to the context, matching its ``id`` or
        ``where`` and, for an approved where-write, among the rows held (``within``)."""
        rows = visible_rows(self.mp, self.tenant)
        if self.req.by_id:
            return rows.filter(pk=to_field_value(self.model._meta.pk, self.req.pk, "'id'"))
        rows = rows.filter(compile_where(self.policy, self.mp, self.req.where, self.tenant))
        if self.within is not None:
            rows = with_pks(rows, self.within)
        return rows

    def touched_ids(self) -> list[Any]:
        """The primary keys of the rows the write touches, once measured or previewed (a
        preview of an update counts its rows without listing them: they are read here)."""
        if self.ids or self.req.tool == "db.create" or not self.affected:
            return self.ids
        return list(self.target().order_by("pk").values_list("pk", flat=True))

    def not_found(self) -> ToolError:
        return ToolError(
            codes.NOT_FOUND,
            f"No {self.mp.name} with id {self.req.pk!r} is visible to you; "
            "use db.query to search for it.",
        )

    def visible_messages(self, fields: dict[str, list[str]]) -> dict[str, list[str]]:
        """Errors on fields agents can't see are reported without naming the field."""
        shown: dict[str, list[str]] = {}
        for name, messages in fields.items():
            if name == "__all__" or name in self.mp.fields:
                shown.setdefault(name, []).extend(messages)
            else:
                hidden = (
                    f"A field of {self.mp.name} that agents can't see or set refuses this "
                    "write (a value it needs, or a rule it checks)."
                )
                if hidden not in shown.setdefault("__all__", []):
                    shown["__all__"].append(hidden)
        return shown

    def run_validators(self, instance: models.Model | None) -> None:
        check = WriteCheck(self.req.tool, self.mp.name, self.req.data, self.inv.context, instance)
        for validator in self.mp.writes.validators:
            try:
                validator(check)
            except ValidationError as exc:
                raise validation_error(self.visible_messages(messages_of(exc))) from None

    def result(self) -> dict[str, Any]:
        ids = [to_json(pk) for pk in self.ids[:MAX_IDS]]
        result = {"outcome": "ok", "affected_rows": self.affected, "ids": ids}
        if len(self.ids) > MAX_IDS:
            result["ids_truncated"] = True
        return result

    def shown(self, field: models.Field, value: Any) -> Any:
        """A before value as the agent may see it (masked fields masked)."""
        info = self.mp.fields.get(field.name)
        if info is not None and info.masked:
            return masking_function(get_masker(), info.mask_kind, info.field)(value)
        return to_json(value)

    def preview_cap(self) -> int:
        return self.policy.profile.max_preview_rows


class CreateOperation(WriteOperation):
    def prepare(self) -> None:
        values = writable_values(self.policy, self.mp, self.req.data, self.tenant)
        if self.mp.tenant_field:
            # Creates are stamped with the context's tenant; the agent can't choose it.
            field = self.model._meta.get_field(self.mp.tenant_field)
            values[field.attname] = tenant_value(self.mp, self.tenant)
        self.instance = self.model(**values)

    def measure(self) -> None:
        self.affected = 1

    def count(self) -> None:
        self.affected = 1

    def validate(self) -> None:
        try:
            self.instance.full_clean()
        except ValidationError as exc:
            raise validation_error(self.visible_messages(messages_of(exc))) from None
        self.run_validators(self.instance)

    def preview(self) -> dict[str, Any]:
        self.measure()
        self.validate()
        after = {
            f"{f.name}_after": to_json(getattr(self.instance, f.attname))
            for f in self.model._meta.concrete_fields
            if f.name in self.mp.fields and not f.primary_key
        }
        return {"would_change": [{"id": None, **after}], "truncated": False}

    def execute(self) -> list[dict[str, Any]]:
        instance = self.instance
        # Signals fire as for any save(); django-simple-history's row is ours, in bulk form.
        instance.skip_history_when_saving = True
        try:
            instance.save(force_insert=True, using=self.using)
        finally:
            del instance.skip_history_when_saving
        manager = self.model._base_manager.db_manager(self.using)
        write_history(manager.filter(pk=instance.pk), "+", self.history_reason, timezone.now())
        self.ids = [instance.pk]
        return [{"pk": to_json(instance.pk), "after": full_row(instance)}]


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
            # One statement: the update, its history rows and (for many rows) the ledger.
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
            built = built if python_ledger else aggregated
            self.spent_in_statement = True
        else:
            copied = write_history(rows, "~", self.history_reason, now, setting=values)
            updated = rows.update(**values)
        changes = built
        if updated != self.affected or copied not in (None, self.affected):
            raise ToolError(
                codes.WRITE_CONFLICT,
                "The rows matching the write changed while it ran; it was rolled back and "
                "nothing was changed. Send the call again.",
            )
        return changes


class SoftDeleteOperation(UpdateOperation):
    """db.delete on a model with a soft-delete field: the rows are marked, not removed."""

    def prepare(self) -> None:
        field = self.model._meta.get_field(self.mp.soft_delete_field)
        self.values = {field.attname: soft_delete_marker(field)}
        self.instance_values = None

    def validate(self) -> None:
        self.run_validators(None)
