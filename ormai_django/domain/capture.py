"""Every row a domain tool changes: seen, recorded per row, or refused.

While a domain tool's function runs, ``WriteCapture`` watches two things:

- the ORM's own per-row paths, through model signals on the tool's declared models:
  ``save()`` (and so ``objects.create()``, ``get_or_create()``...) and ``delete()``, whose
  before and after values it records (simple-history writes their history rows, with the
  call's reason);
- every SQL statement the connection runs (``connection.execute_wrapper``): a statement that
  writes a table is allowed only inside one of those paths, or inside the bulk ``update()``
  and ``delete()`` of the querysets the call hands out (``CapturedQuerySet``, which capture
  before and after in a constant number of statements per batch). Any other write is
  refused before it runs: to a model the tool didn't declare, ``UNDECLARED_WRITE``; to a
  declared model by a path nothing records (raw SQL, ``update()`` on another manager,
  ``bulk_create``), ``UNCAPTURED_WRITE``. So no change goes unrecorded.

The function can't roll back part of its own writes (a savepoint rolled back after rows
were captured is refused too): the call is all or nothing.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from django.apps import apps
from django.db import connections, models
from django.db.models import signals
from django.utils import timezone

from ormai_django import codes
from ormai_django.errors import ToolError
from ormai_django.orm.batches import batches, key_batch_size, with_pks
from ormai_django.orm.history import history_model, write_history
from ormai_django.orm.rows import to_json
from ormai_django.writes.deletes import collect_delete
from ormai_django.writes.operations import full_row

_active = threading.local()

# The first keyword of a statement (after comments), and what it writes.
_COMMENTS = re.compile(r"^\s*(?:(?:/\*.*?\*/|--[^\n]*\n)\s*)*", re.S)
_NAME = r'(?:"(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[A-Za-z_][\w$]*)'
_QUALIFIED = rf"({_NAME}(?:\s*\.\s*{_NAME})*)"
_TARGETS = (
    re.compile(rf"\bINSERT\s+(?:OR\s+\w+\s+)?INTO\s+{_QUALIFIED}", re.I),
    re.compile(rf"\bREPLACE\s+INTO\s+{_QUALIFIED}", re.I),
    re.compile(rf"\bUPDATE\s+(?:OR\s+\w+\s+)?(?:ONLY\s+)?{_QUALIFIED}", re.I),
    re.compile(rf"\bDELETE\s+FROM\s+(?:ONLY\s+)?{_QUALIFIED}", re.I),
)
_WRITES = {"INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE", "UPSERT", "TRUNCATE", "COPY"}
_SCHEMA = {"CREATE", "DROP", "ALTER", "GRANT", "REVOKE", "VACUUM", "REINDEX", "ATTACH"}


def classify(sql: str) -> tuple[str, str | None]:
    """``("write", table)``, ``("savepoint" | "release" | "rollback_to", name)`` or
    ``("read", None)``; ``table`` is None when the statement writes something unnamed."""
    text = _COMMENTS.sub("", sql, count=1)
    first = text[:12].split(None, 1)[0].upper() if text.strip() else ""
    if first == "SAVEPOINT":
        return "savepoint", _unquote(text.split(None, 1)[1])
    if first == "RELEASE":
        return "release", _unquote(text.split()[-1])
    if first == "ROLLBACK" and "SAVEPOINT" in text[:40].upper():
        return "rollback_to", _unquote(text.split()[-1])
    if first == "WITH":
        # A CTE writes when one of its parts does.
        for pattern in _TARGETS:
            if match := pattern.search(text):
                return "write", _table(match.group(1))
        return "read", None
    if first in _WRITES:
        for pattern in _TARGETS:
            if match := pattern.match(text):
                return "write", _table(match.group(1))
        return "write", None
    if first in _SCHEMA:
        return "write", None
    return "read", None


def _unquote(name: str) -> str:
    name = name.strip().rstrip(";")
    if name[:1] in '"`[' and len(name) > 1:
        return name[1:-1].replace('""', '"')
    return name


def _table(qualified: str) -> str:
    # "public"."shop_order" -> shop_order
    return _unquote(re.split(rf"\s*\.\s*(?={_NAME}\s*$)", qualified)[-1])


def active_capture() -> WriteCapture | None:
    return getattr(_active, "capture", None)


class CapturedWriteRefused(ToolError):
    """Raised where a write that can't be recorded was about to run (it never runs)."""


class WriteCapture:
    """The writes of one domain tool call; use as a context manager around the function."""

    def __init__(
        self, tool: str, declared: list[type[models.Model]], reason: str, using: str
    ) -> None:
        self.tool, self.reason, self.using = tool, reason, using
        self.declared: set[type[models.Model]] = set()
        for model in declared:
            self.declared.add(model)
            self.declared.update(model._meta.get_parent_list())  # multi-table inheritance
        self.problem: ToolError | None = None
        # (model, pk) -> {"model", "pk", "before": full row or None, "after": full row or None}
        self.rows: dict[tuple[type[models.Model], Any], dict[str, Any]] = {}
        self.open: Counter[type[models.Model]] = Counter()
        self.saving: dict[int, dict[str, Any] | None] = {}
        self.savepoints: list[tuple[str, int]] = []
        self.captured_at = timezone.now()

    # --- entering and leaving ---------------------------------------------------------

    def __enter__(self) -> WriteCapture:
        if active_capture() is not None:
            raise ToolError(
                codes.INTERNAL_ERROR, "A domain tool can't call another domain tool's pipeline."
            )
        for model in self.declared:
            _connect(model)
        self.stack = ExitStack()
        # Every connection open in this thread: a write elsewhere is seen (and refused) too.
        watched = [connections[self.using]]
        watched += [c for c in connections.all(initialized_only=True) if c not in watched]
        for connection in watched:
            self.stack.enter_context(connection.execute_wrapper(self.observe))
        _active.capture = self
        return self

    def __exit__(self, *exc: Any) -> None:
        _active.capture = None
        self.stack.close()

    # --- every statement --------------------------------------------------------------

    def observe(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        kind, name = classify(sql)
        if kind == "savepoint":
            self.savepoints.append((name or "", len(self.rows)))
        elif kind == "release":
            self._pop_savepoint(name)
        elif kind == "rollback_to":
            captured_since = self._pop_savepoint(name, keep=True)
            # A save interrupted by an error leaves its window open: refuse that too.
            if captured_since or self.saving or any(self.open.values()):
                self.refuse(
                    codes.UNCAPTURED_WRITE,
                    f"{self.tool} rolled back part of its own writes (a savepoint); a tool's "
                    "call is all or nothing, so the whole call was rolled back. Let database "
                    "errors fail the call instead of catching them inside the tool.",
                )
        elif kind == "write":
            self.check_write(name)
        return execute(sql, params, many, context)

    def _pop_savepoint(self, name: str | None, keep: bool = False) -> bool:
        """Forget the savepoint ``name`` (and those after it); whether rows were captured
        since it was taken."""
        for index in range(len(self.savepoints) - 1, -1, -1):
            if self.savepoints[index][0] == name:
                count = self.savepoints[index][1]
                del self.savepoints[index + (1 if keep else 0) :]
                return len(self.rows) > count
        return False

    def check_write(self, table: str | None) -> None:
        model = _model_of_table(table) if table else None
        if model is not None and model not in self.declared:
            self.refuse(
                codes.UNDECLARED_WRITE,
                f"{self.tool} tried to change {model._meta.label}, which it doesn't declare in "
                "writes=[...]; the call was rolled back and nothing changed. The tool's author "
                "must add the model to writes, or the tool must not change it.",
            )
        if model is None or not self.open[model]:
            what = model._meta.label if model is not None else f"table {table or '?'}"
            self.refuse(
                codes.UNCAPTURED_WRITE,
                f"{self.tool} wrote to {what} in a way that can't be recorded row by row (raw "
                "SQL, update() or bulk_create() on a manager the call didn't hand out); the "
                "call was rolled back and nothing changed. Use save(), delete(), or the "
                "querysets call.filter() returns.",
            )

    def refuse(self, code: str, message: str) -> None:
        """Stop the write about to run; the call fails with this even if the function
        catches it."""
        refusal = CapturedWriteRefused(code, message)
        if self.problem is None:
            self.problem = refusal
        raise refusal

    @contextmanager
    def window(self, model: type[models.Model]) -> Iterator[None]:
        """Writes to ``model`` (its table, its parents' and its history table) are expected."""
        opened = [model, *model._meta.get_parent_list()]
        for each in opened:
            self.open[each] += 1
        try:
            yield
        finally:
            for each in opened:
                self.open[each] -= 1

    # --- what changed -----------------------------------------------------------------

    def record(
        self, model: type[models.Model], pk: Any, before: dict | None, after: dict | None
    ) -> None:
        """One row's change; a row changed twice keeps its first before and last after."""
        key = (model, to_json(pk))
        entry = self.rows.get(key)
        if entry is None:
            self.rows[key] = {"model": model, "pk": key[1], "before": before, "after": after}
            return
        if entry["before"] is not None and before is not None:
            # A partial before (a bulk update's) completed by a later full one.
            entry["before"] = {**before, **entry["before"]}
        entry["after"] = after

    def ledger(self) -> list[dict[str, Any]]:
        """The audit row's ``changes``: per row, ``model``, ``pk``, and ``after`` (created),
        ``before`` (deleted) or both (changed: the fields that changed)."""
        out = []
        labels: dict[type[models.Model], str] = {}  # Options.label is computed at each read
        for entry in self.rows.values():
            model, before, after = entry["model"], entry["before"], entry["after"]
            label = labels.get(model) or labels.setdefault(model, model._meta.label)
            if before is None and after is None:
                continue  # created and deleted within the call
            if before is None:
                out.append({"model": label, "pk": entry["pk"], "after": after})
            elif after is None:
                out.append({"model": label, "pk": entry["pk"], "before": before})
            else:
                changed = [n for n in before if n in after and before[n] != after[n]]
                if changed:
                    out.append(
                        {
                            "model": label,
                            "pk": entry["pk"],
                            "before": {n: before[n] for n in changed},
                            "after": {n: after[n] for n in changed},
                        }
                    )
        return out

    def touched(self) -> list[dict[str, Any]]:
        """Every captured row with its model class (for the tenant check and the preview)."""
        return list(self.rows.values())


def _model_of_table(table: str) -> type[models.Model] | None:
    """The model whose table (or history table) ``table`` is."""
    tables = _tables()
    return tables.get(table) or tables.get(table.lower())


_TABLES: dict[str, type[models.Model]] = {}


def _tables() -> dict[str, type[models.Model]]:
    if not _TABLES:
        for model in apps.get_models(include_auto_created=True):
            _TABLES[model._meta.db_table] = model
        for model in apps.get_models():
            historical = history_model(model)
            if historical is not None:
                # A history row belongs to the row it records.
                _TABLES[historical._meta.db_table] = model
    return _TABLES


# --- the per-row paths: model signals ---------------------------------------------------

_CONNECTED: set[type[models.Model]] = set()


def _connect(model: type[models.Model]) -> None:
    """Listen to ``model``'s save and delete signals (once; they return at once when no
    capture runs in this thread)."""
    if model in _CONNECTED:
        return
    uid = f"ormai_django.domain.capture.{model._meta.label}"
    signals.pre_save.connect(_pre_save, sender=model, weak=False, dispatch_uid=uid)
    signals.post_save.connect(_post_save, sender=model, weak=False, dispatch_uid=uid)
    signals.pre_delete.connect(_pre_delete, sender=model, weak=False, dispatch_uid=uid)
    signals.post_delete.connect(_post_delete, sender=model, weak=False, dispatch_uid=uid)
    _CONNECTED.add(model)


def _capturing(sender: type[models.Model]) -> WriteCapture | None:
    capture = active_capture()
    return capture if capture is not None and sender in capture.declared else None


def _pre_save(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    capture = _capturing(sender)
    if capture is None or kwargs.get("raw"):
        return
    instance._change_reason = capture.reason  # django-simple-history's change reason
    before = None
    if instance.pk is not None:
        before = getattr(instance, "_ormai_locked_row", None)
        if before is None:
            found = (
                sender._base_manager.db_manager(capture.using)
                .select_for_update()
                .filter(pk=instance.pk)
                .first()
            )
            before = None if found is None else full_row(found)
    capture.saving[id(instance)] = before
    capture.open[sender] += 1
    for parent in sender._meta.get_parent_list():
        capture.open[parent] += 1


def _post_save(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    capture = _capturing(sender)
    if capture is None or id(instance) not in capture.saving:
        return
    before = capture.saving.pop(id(instance))
    for each in (sender, *sender._meta.get_parent_list()):
        capture.open[each] -= 1
    after = full_row(instance)
    update_fields = kwargs.get("update_fields")
    if update_fields and before is not None:
        saved = {sender._meta.get_field(name).name for name in update_fields}
        after = {**before, **{n: v for n, v in after.items() if n in saved}}
    capture.record(sender, instance.pk, before, after)
    instance._ormai_locked_row = after  # a second save of the same instance starts here


def _pre_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    capture = _capturing(sender)
    if capture is None:
        return
    instance._change_reason = capture.reason
    capture.record(sender, instance.pk, full_row(instance), None)
    capture.open[sender] += 1
    for parent in sender._meta.get_parent_list():
        capture.open[parent] += 1


def _post_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    capture = _capturing(sender)
    if capture is None:
        return
    for each in (sender, *sender._meta.get_parent_list()):
        capture.open[each] -= 1


# --- the bulk paths: the querysets the call hands out ------------------------------------


class CapturedQuerySetMixin:
    """``update()`` and ``delete()`` that record every row they change, in a constant number
    of statements per batch (only while the call that handed the queryset out runs)."""

    def update(self, **kwargs: Any) -> int:
        capture = active_capture()
        if capture is None or self.model not in capture.declared:
            return super().update(**kwargs)  # type: ignore[misc]  (refused when it runs)
        model, db = self.model, self.db
        attnames = [model._meta.get_field(name).attname for name in kwargs]
        names = [model._meta.get_field(name).name for name in kwargs]
        locked = self.select_for_update(of=("self",)).order_by("pk").values_list("pk", *attnames)
        before = {pk: dict(zip(names, map(to_json, values), strict=True)) for pk, *values in locked}
        if not before:
            return 0
        keys = list(before)
        manager = model._base_manager.db_manager(db)
        changed = 0
        with capture.window(model):
            for batch in batches(keys, key_batch_size(model, db, keys)):
                rows = with_pks(manager.all(), batch)
                changed += rows.update(**kwargs)
                write_history(rows, "~", capture.reason, timezone.now())
                # In key order, as the rows were locked: the model's own ordering (newest
                # first, say) would put the ledger out of primary-key order.
                for pk, *values in rows.order_by("pk").values_list("pk", *attnames):
                    after = dict(zip(names, map(to_json, values), strict=True))
                    capture.record(model, pk, before[pk], after)
        return changed

    def delete(self) -> tuple[int, dict[str, int]]:
        capture = active_capture()
        if capture is None or self.model not in capture.declared:
            return super().delete()  # type: ignore[misc]
        model, db = self.model, self.db
        ids = list(self.select_for_update(of=("self",)).order_by("pk").values_list("pk", flat=True))
        collected = collect_delete(model, ids, db)
        if collected.reached(model, {to_json(pk) for pk in ids}):
            # A cascade: Django's collector deletes it, per row, signals and all (each
            # cascaded row is recorded, or refused when its model isn't declared).
            collected.delete(capture.reason)
            return len(ids), {model._meta.label: len(ids)}
        manager = model._base_manager.db_manager(db)
        with capture.window(model):
            for batch in batches(ids, key_batch_size(model, db, ids)):
                rows = with_pks(manager.all(), batch)
                write_history(rows, "-", capture.reason, timezone.now())
                rows._raw_delete(db)
        for removed_model, row in collected.removed:
            capture.record(removed_model, row[removed_model._meta.pk.name], row, None)
        return len(ids), {model._meta.label: len(ids)}


_QUERYSET_CLASSES: dict[type, type] = {}


def captured(queryset: models.QuerySet) -> models.QuerySet:
    """``queryset`` as a queryset whose ``update()``/``delete()`` are recorded (its class
    keeps the model's own queryset methods)."""
    base = type(queryset)
    cls = _QUERYSET_CLASSES.get(base)
    if cls is None:
        cls = type(f"Captured{base.__name__}", (CapturedQuerySetMixin, base), {})
        _QUERYSET_CLASSES[base] = cls
    clone = queryset._chain()
    clone.__class__ = cls
    return clone
