"""Applying a planned rollback: a constant number of statements per batch of rows.

Recreated rows are inserted parents first (``bulk_create``); restored fields are set
with one ``UPDATE`` per batch (a ``CASE`` per field when rows go back to different
values); created rows are deleted with Django's collector, as ``db.delete`` does. Each
batch's history rows are copied in one ``INSERT ... SELECT`` of the rows as the rollback
leaves them, with the rollback's reason as the change reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import models
from django.db.models import Case, F, Value, When

from ormai_django.codes import ROLLBACK_CONFLICT
from ormai_django.errors import RollbackError
from ormai_django.orm.batches import batch_size, batches, with_pks
from ormai_django.orm.history import write_history
from ormai_django.rollback.bulk import BulkRestore, apply_bulk
from ormai_django.rollback.compensation import CompensationStep
from ormai_django.rollback.ledger import FieldCodec, value_key
from ormai_django.rollback.steps import DELETE, RECREATE, RowStep
from ormai_django.writes.deletes import collect_delete


def parents_first(models_: Iterable[type[models.Model]]) -> list[type[models.Model]]:
    """The models ordered so that a model comes after every model its foreign keys point at
    (within the set); a cycle is left in any order (foreign keys are checked at commit)."""
    pending = list(dict.fromkeys(models_))
    ordered: list[type[models.Model]] = []
    while pending:
        ready = [
            m
            for m in pending
            if not any(
                f.is_relation
                and f.many_to_one
                and f.related_model in pending
                and f.related_model is not m
                for f in m._meta.concrete_fields
            )
        ]
        chosen = ready or pending[:1]
        ordered += chosen
        pending = [m for m in pending if m not in chosen]
    return ordered


def by_model(steps: Iterable[RowStep]) -> dict[type[models.Model], list[RowStep]]:
    grouped: dict[type[models.Model], list[RowStep]] = {}
    for step in steps:
        grouped.setdefault(step.model, []).append(step)
    return grouped


def apply_steps(
    steps: list[Any], force: bool, reason: str, using: str, now: dt.datetime
) -> list[dict[str, Any]]:
    """Run the inverse of one write; returns its ledger (the same shape a write records).
    ``force``: rows that are gone since the write are passed over."""
    # A compensation ran when it was planned: its ledger is what it did.
    changes: list[dict[str, Any]] = [
        entry for s in steps if isinstance(s, CompensationStep) for entry in s.ledger
    ]
    steps = [s for s in steps if not isinstance(s, CompensationStep)]
    bulk = [s for s in steps if isinstance(s, BulkRestore)]
    steps = [s for s in steps if not isinstance(s, BulkRestore) and s.acting_count(force)]
    recreating = by_model(s for s in steps if s.action == RECREATE)
    for model in parents_first(recreating):
        fresh = [s for s in recreating[model] if s.current is None]
        back = [s for s in recreating[model] if s.current is not None]  # forced over a new row
        changes += insert_rows(model, fresh, using, reason, now)
        changes += restore_rows(model, back, using, reason, now)
    for item in bulk:
        restored = apply_bulk(item, force, reason, using, now)
        if restored is None:  # many distinct before values: a CASE per batch
            restored = restore_rows(item.model, item.row_steps(force), using, reason, now)
        changes += restored
    for model, group in by_model(s for s in steps if s.action not in (RECREATE, DELETE)).items():
        changes += restore_rows(model, group, using, reason, now)
    for model, group in by_model(s for s in steps if s.action == DELETE).items():
        pk_codec = FieldCodec(model._meta.pk, group[0].audit_id)
        pks = [pk_codec.python(s.pk) for s in group]
        changes += collect_delete(model, pks, using).delete(reason)
    return changes


def insert_rows(
    model: type[models.Model], steps: list[RowStep], using: str, reason: str, now: dt.datetime
) -> list[dict[str, Any]]:
    """Re-create deleted rows with their primary keys, and their history rows ("+")."""
    if not steps:
        return []
    manager = model._base_manager.db_manager(using)
    audit_id = steps[0].audit_id
    codecs = {f.name: FieldCodec(f, audit_id) for f in model._meta.concrete_fields}
    size = batch_size(using, params_per_row=len(codecs))
    for batch in batches(steps, size):
        instances = [
            model(
                **{
                    codecs[name].field.attname: codecs[name].python(value)
                    for name, value in (step.restored or {}).items()
                }
            )
            for step in batch
        ]
        manager.bulk_create(instances)
        write_history(with_pks(manager.all(), [i.pk for i in instances]), "+", reason, now)
    label = model._meta.label
    return [{"model": label, "pk": s.pk, "after": s.restored} for s in steps]


def restore_rows(
    model: type[models.Model], steps: list[RowStep], using: str, reason: str, now: dt.datetime
) -> list[dict[str, Any]]:
    """Set each row's fields to their restored values: one UPDATE and one history copy per
    batch, whatever the number of distinct values."""
    if not steps:
        return []
    manager = model._base_manager.db_manager(using)
    audit_id = steps[0].audit_id
    pk_codec = FieldCodec(model._meta.pk, audit_id)
    names = list(dict.fromkeys(n for s in steps for n in (s.restored or {})))
    codecs = {name: FieldCodec(model._meta.get_field(name), audit_id) for name in names}
    size = batch_size(using, params_per_row=2 * len(names) + 2)
    for batch in batches(steps, size):
        pks = [pk_codec.python(s.pk) for s in batch]
        assignments: dict[str, Any] = {}
        for name, codec in codecs.items():
            field = codec.field
            groups: dict[Any, tuple[Any, list[Any]]] = {}
            for step, pk in zip(batch, pks, strict=True):
                restored = step.restored or {}
                if name in restored:
                    value = restored[name]
                    key = value_key(value)
                    if key not in groups:
                        groups[key] = (codec.python(value), [])
                    groups[key][1].append(pk)
            if len(groups) == 1 and len(next(iter(groups.values()))[1]) == len(batch):
                ((value, _),) = groups.values()
                assignments[field.attname] = Value(value, output_field=field)
            else:
                assignments[field.attname] = Case(
                    *(
                        When(pk__in=members, then=Value(value, output_field=field))
                        for value, members in groups.values()
                    ),
                    default=F(field.attname),
                    output_field=field,
                )
        rows = with_pks(manager.all(), pks)
        if rows.update(**assignments) != len(batch):
            raise RollbackError(
                ROLLBACK_CONFLICT,
                f"Rows of {model._meta.label} changed while the rollback ran; nothing was "
                "changed. Run it again.",
            )
        write_history(rows, "~", reason, now)
    label = model._meta.label
    return [{"model": label, "pk": s.pk, "before": s.current, "after": s.restored} for s in steps]
