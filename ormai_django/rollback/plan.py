"""Planning a rollback: the inverse of every recorded row, checked against the row as it is now.

The planner reads the current values of the rows a write touched (locked, unless it is a
dry run) and decides, row by row, what the inverse does and whether it conflicts: a row
whose values are no longer the write's after values was changed by someone since, a row
the write deleted that exists again was re-created since. When a whole run is rolled back,
newest write first, each inverse is planned against the rows as the newer inverses leave
them (an overlay over the database), so the plan of a run is computed, not executed.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from django.db import models
from django.db.models.deletion import ProtectedError, RestrictedError

from ormai_django.orm.batches import batch_size, batches, with_pks
from ormai_django.orm.rows import json_native, to_json
from ormai_django.rollback.bulk import BulkRestore, check_bulk
from ormai_django.rollback.ledger import (
    CHANGED,
    CREATED,
    FieldCodec,
    RecordedRow,
    as_rows,
    field_of,
    recorded_groups,
    uniform_after,
)
from ormai_django.rollback.steps import (
    BACK,
    DELETE,
    GONE,
    RECREATE,
    RESTORE,
    SOFT_DELETE,
    RowStep,
)
from ormai_django.writes.deletes import collect_delete
from ormai_django.writes.updates import soft_delete_marker


def bulk_restore_of(
    audit_id: str, model: type[models.Model], entries: list[dict[str, Any]]
) -> BulkRestore | None:
    """The inverse of rows one ``db.update`` set to the same plain values (integers, text,
    booleans, keyed by such a primary key), unchecked; None for any other ledger."""
    if not FieldCodec(model._meta.pk, audit_id).native:
        return None
    after = uniform_after(entries)
    if after is None:
        return None
    fields = {n: field_of(model, n, audit_id) for n in after}
    if not all(json_native(f) for f in fields.values()):
        return None
    keys = list(map(itemgetter("pk"), entries))
    befores = list(map(itemgetter("before"), entries))
    return BulkRestore(audit_id, model, after, keys, befores)


class Planner:
    """Plans inverses against the database, as earlier-planned inverses leave it."""

    def __init__(self, using: str, lock: bool, policy: Any, sequential: bool = True) -> None:
        self.using, self.lock, self.policy = using, lock, policy
        # Only a run needs to know what the inverses planned before this one leave.
        self.sequential = sequential
        # (model, pk) -> the values the planned inverses leave (None: removed).
        self.overlay: dict[tuple[type[models.Model], Any], dict[str, Any] | None] = {}

    def plan(self, event: Any) -> list[Any]:
        """The inverse of ``event``: ``RowStep``s, and ``BulkRestore``s for updates."""
        steps: list[Any] = []
        for model, entries in recorded_groups(event).items():
            pk_codec = FieldCodec(model._meta.pk, event.id)
            bulk = None if self.sequential else bulk_restore_of(event.id, model, entries)
            if bulk is not None:
                # One db.update over many rows: checked and restored in bulk.
                steps.append(check_bulk(bulk, self.using, self.lock))
                continue
            group = as_rows(model, entries)
            codecs: dict[str, FieldCodec] = {}
            for row in group:
                for name in (*(row.before or ()), *(row.after or ())):
                    if name not in codecs:
                        codecs[name] = FieldCodec(field_of(model, name, event.id), event.id)
            keys = [pk_codec.comparable(row.pk) for row in group]
            soft = self.soft_delete_field(model)
            native = all(c.native for c in codecs.values())
            current = self.read(model, keys, pk_codec, codecs)
            for key, row in zip(keys, group, strict=True):
                steps.append(self.step(event.id, row, key, current[key], codecs, native, soft))
        self.check_deletes(steps)
        if self.sequential:
            for step in steps:
                self.remember(step)
        return steps

    def read(
        self,
        model: type[models.Model],
        keys: list[Any],
        pk_codec: FieldCodec,
        codecs: dict[str, FieldCodec],
    ) -> dict[Any, dict[str, Any] | None]:
        """Current values of the fields for each row (None: no such row), locked unless this
        is a dry run, one statement per batch; the overlay wins over the database."""
        manager = model._base_manager.db_manager(self.using)
        fields = list(codecs.values())
        found: dict[Any, dict[str, Any]] = {}
        pks = [pk_codec.python(key) for key in keys]
        for batch in batches(pks, batch_size(self.using)):
            rows = with_pks(manager.all(), batch).order_by()
            if self.lock:
                rows = rows.select_for_update()
            selected = rows.values_list("pk", *(c.field.attname for c in fields))
            if pk_codec.native and all(c.native for c in fields):
                names = [c.field.name for c in fields]
                found.update(
                    (pk, dict(zip(names, values, strict=True))) for pk, *values in selected
                )
                continue
            for pk, *values in selected:
                found[pk_codec.from_db(pk)] = {
                    c.field.name: c.from_db(v) for c, v in zip(fields, values, strict=True)
                }
        if not self.overlay:
            return {key: found.get(key) for key in keys}
        result: dict[Any, dict[str, Any] | None] = {}
        for key in keys:
            if (model, key) in self.overlay:
                planned = self.overlay[(model, key)]
                result[key] = None if planned is None else {**found.get(key, {}), **planned}
            else:
                result[key] = found.get(key)
        return result

    def soft_delete_field(self, model: type[models.Model]) -> models.Field | None:
        registered = self.policy.for_model(model) if self.policy is not None else None
        name = registered.soft_delete_field if registered is not None else None
        return model._meta.get_field(name) if name else None

    def step(
        self,
        audit_id: str,
        row: RecordedRow,
        key: Any,
        current: dict[str, Any] | None,
        codecs: dict[str, FieldCodec],
        native: bool,
        soft: models.Field | None,
    ) -> RowStep:
        def recorded(values: dict[str, Any] | None) -> dict[str, Any]:
            if native or not values:
                return values or {}
            return {n: codecs[n].comparable(v) for n, v in values.items()}

        if row.kind == CHANGED:
            after, before = recorded(row.after), recorded(row.before)
            if current is None:
                step = RowStep(audit_id, row.model, key, RESTORE, None, before)
                step.conflict(None, problem=GONE)
                step.skip_when_forced = True
                return step
            if current.keys() != after.keys():
                current = {n: current.get(n) for n in after}
            if before.keys() != after.keys():
                before = {n: before.get(n) for n in after}
            step = RowStep(audit_id, row.model, key, RESTORE, current, before)
            if current != after:
                for name, expected in after.items():
                    # A field already back at its before value (put back by hand) is no
                    # conflict: restoring it changes nothing anyone did since.
                    if current[name] != expected and current[name] != before.get(name):
                        step.conflict(name, expected=expected, current=current[name])
            return step
        if row.kind == CREATED:
            after = recorded(row.after)
            if soft is not None:
                marker = to_json(soft_delete_marker(soft))
                step = RowStep(audit_id, row.model, key, SOFT_DELETE, None, {soft.name: marker})
            else:
                step = RowStep(audit_id, row.model, key, DELETE, None, None)
            if current is None:
                step.conflict(None, problem=GONE)
                step.skip_when_forced = True
                return step
            step.current = {soft.name: current.get(soft.name)} if soft is not None else current
            for name, expected in after.items():
                if current.get(name) != expected:
                    step.conflict(name, expected=expected, current=current.get(name))
            return step
        before = recorded(row.before)
        step = RowStep(audit_id, row.model, key, RECREATE, current, before)
        if current is not None:
            step.current = {n: current.get(n) for n in before}
            step.conflict(None, problem=BACK)
        return step

    def check_deletes(self, steps: list[RowStep]) -> None:
        """A created row that other rows have come to depend on since is a conflict: deleting
        it would cascade into them (a forced rollback deletes them too, and records them)."""
        removing: dict[type[models.Model], list[RowStep]] = {}
        for step in steps:
            if step.action == DELETE and step.current is not None:
                removing.setdefault(step.model, []).append(step)
        gone = {(s.model, s.pk) for group in removing.values() for s in group}
        gone |= {key for key, values in self.overlay.items() if values is None}
        for model, group in removing.items():
            pk_codec = FieldCodec(model._meta.pk, group[0].audit_id)
            pks = [pk_codec.python(s.pk) for s in group]
            try:
                collected = collect_delete(model, pks, self.using)
            except (ProtectedError, RestrictedError) as exc:
                blockers = sorted({o._meta.label for o in exc.args[1]})
                for step in group:
                    step.conflict(
                        None,
                        problem=f"rows of {', '.join(blockers)} protect it",
                        blocking=True,
                    )
                continue
            reached = collected.reached(model, {s.pk for s in group})
            beyond = {
                label: pks
                for label, pks in (
                    (m._meta.label, [pk for pk in pks if (m, pk) not in gone])
                    for m, pks in reached.items()
                )
                if pks
            }
            if beyond:
                summary = ", ".join(f"{len(pks)} {label}" for label, pks in beyond.items())
                for step in group:
                    step.conflict(
                        None,
                        problem=f"deleting the created rows would also delete or change {summary}",
                        reaches=beyond,
                    )

    def remember(self, step: RowStep) -> None:
        key = (step.model, step.pk)
        if step.action == DELETE:
            if step.current is not None:
                self.overlay[key] = None
        elif step.action == RECREATE:
            self.overlay[key] = dict(step.restored or {})
        elif step.current is not None:
            self.overlay[key] = {**(self.overlay.get(key) or {}), **(step.restored or {})}
