"""The inverse of one ``db.update`` over many rows, planned and applied in bulk.

A ``db.update`` sets the same values on every row it changes, so its inverse checks every
row against one set of after values. Rather than reading 10,000 rows into Python to compare
them, the database returns only the rows whose values differ (a conflict) and the keys it
has (a missing row is a conflict too); the rows are then set back grouped by their before
values, one ``UPDATE`` per group and batch, and their history rows copied per batch. The
result is the same as row-by-row planning (``plan.RowStep``); it costs a few statements per
batch and little Python per row.

The check can also be left to the restore itself (``apply_bulk(unchecked=True)``):
each ``UPDATE`` then changes only rows that still hold the after values, so restoring every
row proves no row changed, and restoring fewer raises for the caller to undo and check.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, models
from django.db.models import Q

from ormai_django.codes import ROLLBACK_CONFLICT
from ormai_django.errors import RollbackError
from ormai_django.orm.batches import batches, key_batch_size, with_pks
from ormai_django.orm.history import write_history
from ormai_django.rollback.steps import GONE, RESTORE, RowStep

# More distinct before-values than this and the rows are restored with a CASE per batch.
MAX_GROUPS = 8


@dataclass(slots=True)
class BulkRestore:
    """Rows of one model that one write set to the same ``after`` values: put each back to
    its own before values."""

    audit_id: str
    model: type[models.Model]
    after: dict[str, Any]
    keys: list[Any]
    befores: list[dict[str, Any]]
    changed: dict[Any, dict[str, Any]] = field(default_factory=dict)  # key -> current values
    missing: set[Any] = field(default_factory=set)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    action: str = RESTORE

    def acting_count(self, force: bool) -> int:
        return len(self.keys) - (len(self.missing) if force else 0)

    def lines(self, limit: int | None = None) -> list[dict[str, Any]]:
        label, out = self.model._meta.label, []
        for key, before in zip(self.keys, self.befores, strict=True):
            gone = key in self.missing
            current = None if gone else self.changed.get(key, self.after)
            for name, expected in self.after.items():
                now = None if current is None else current.get(name)
                out.append(
                    {
                        "audit_id": self.audit_id,
                        "model": label,
                        "pk": key,
                        "action": RESTORE,
                        "field": name,
                        "current": now,
                        "restored": before.get(name),
                        "conflict": gone or now not in (expected, before.get(name)),
                    }
                )
            if limit is not None and len(out) >= limit:
                break
        return out

    def row_steps(self, force: bool) -> list[RowStep]:
        """The same inverse as one step per row (for restores with many distinct values)."""
        return [
            RowStep(self.audit_id, self.model, key, RESTORE, self.changed.get(key, self.after), b)
            for key, b in zip(self.keys, self.befores, strict=True)
            if not (force and key in self.missing)
        ]


def check_bulk(item: BulkRestore, using: str, lock: bool) -> BulkRestore:
    """Check every row against the after values in the database (the rows that differ and
    the rows gone go to ``changed`` and ``missing``); two statements per batch."""
    audit_id, model, after = item.audit_id, item.model, item.after
    manager = model._base_manager.db_manager(using)
    names = list(after)
    attnames = [model._meta.get_field(n).attname for n in names]
    same = _holds(model, after)
    # Where the database locks rows, they are locked before they are compared, so none
    # changes between the check and the restore; elsewhere counting them finds a gone row.
    lock = lock and connections[using].features.has_select_for_update
    for batch in batches(item.keys, key_batch_size(model, using, item.keys)):
        rows = with_pks(manager.all(), batch).order_by()
        if lock:
            item.missing.update(
                set(batch).difference(rows.select_for_update().values_list("pk", flat=True))
            )
        elif rows.count() != len(batch):
            item.missing.update(set(batch).difference(rows.values_list("pk", flat=True)))
        for pk, *values in rows.exclude(same).values_list("pk", *attnames):
            item.changed[pk] = dict(zip(names, values, strict=True))
    if not (item.missing or item.changed):
        return item
    label = model._meta.label
    for key, before in zip(item.keys, item.befores, strict=True):
        if key in item.missing:
            item.conflicts.append(
                {"audit_id": audit_id, "model": label, "pk": key, "field": None, "problem": GONE}
            )
        elif key in item.changed:
            current = item.changed[key]
            item.conflicts += [
                {
                    "audit_id": audit_id,
                    "model": label,
                    "pk": key,
                    "field": name,
                    "expected": expected,
                    "current": current[name],
                }
                for name, expected in after.items()
                # Back at its before value already (put back by hand): not a conflict.
                if current[name] != expected and current[name] != before.get(name)
            ]
    return item


def _holds(model: type[models.Model], after: dict[str, Any]) -> Q:
    """Rows that hold the ``after`` values."""
    return Q(**{model._meta.get_field(n).attname: v for n, v in after.items()})


def apply_bulk(
    item: BulkRestore,
    force: bool,
    reason: str,
    using: str,
    now: dt.datetime,
    unchecked: bool = False,
) -> list[dict[str, Any]] | None:
    """Restore the rows grouped by their before values; None when there are too many
    distinct values for that (the caller restores them row by row, a CASE per batch).

    ``unchecked``: the rows were not checked (``check_bulk``); each ``UPDATE`` changes only
    rows that still hold the after values, and ``ROLLBACK_CONFLICT`` is raised when one
    doesn't (the caller undoes what ran, and checks the rows).
    """
    skip = item.missing if force else set()
    names = list(item.after)
    groups = _groups(item, names, skip)
    if groups is None:
        return None
    model = item.model
    manager = model._base_manager.db_manager(using)
    attnames = [model._meta.get_field(n).attname for n in names]
    holding = _holds(model, item.after) if unchecked else Q()
    for values, keys in groups.items():
        assignments = dict(zip(attnames, values, strict=True))
        for batch in batches(keys, key_batch_size(model, using, keys)):
            rows = with_pks(manager.all(), batch)
            if rows.filter(holding).update(**assignments) != len(batch):
                raise RollbackError(
                    ROLLBACK_CONFLICT,
                    f"Rows of {model._meta.label} changed while the rollback ran; nothing was "
                    "changed. Run it again.",
                )
            write_history(rows, "~", reason, now)
    label = model._meta.label
    if not (skip or item.changed):
        # Every row held the after values (10,000 entries: the shortest loop).
        after = item.after
        return [
            {"model": label, "pk": key, "before": after, "after": before}
            for key, before in zip(item.keys, item.befores, strict=True)
        ]
    return [
        {"model": label, "pk": key, "before": item.changed.get(key, item.after), "after": before}
        for key, before in zip(item.keys, item.befores, strict=True)
        if key not in skip
    ]


def _groups(
    item: BulkRestore, names: list[str], skip: set[Any]
) -> dict[tuple[Any, ...], list[Any]] | None:
    """The keys to restore by the before values they go back to; None past ``MAX_GROUPS``."""
    if len(names) == 1 and not skip:
        # One field (what most updates set): one group when every row goes back to one value.
        (name,) = names
        first = item.befores[0].get(name) if item.befores else None
        if item.befores and all(before.get(name) == first for before in item.befores):
            return {(first,): list(item.keys)}
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for key, before in zip(item.keys, item.befores, strict=True):
        if key not in skip:
            groups.setdefault(tuple(before.get(n) for n in names), []).append(key)
            if len(groups) > MAX_GROUPS:
                return None
    return groups
