"""django-simple-history rows for every row a write touches, in bulk.

``QuerySet.update()`` fires no signals, so django-simple-history never sees a bulk
write; the executor writes the history rows itself: one ``INSERT ... SELECT`` that
copies the rows the write selects, with the values it sets substituted (the
after-state), the time, the type and the reason as the change reason. One
statement, however many rows.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models
from django.db.models import F, Value

# The Django user (primary key) a person's action runs as: the approver whose approval
# runs a held call, the operator who rolls back. django-simple-history's ``history_user``
# of the rows written meanwhile; None (an agent's own write) leaves it empty.
_history_user: ContextVar[Any] = ContextVar("ormai_history_user", default=None)


@contextmanager
def history_user(user: Any) -> Iterator[None]:
    """Write ``user`` (a Django user, or its primary key; None: nobody) as the
    ``history_user`` of the history rows written inside the block.

        with history_user(request.user):
            approve(approval_id, request.user.get_username())
    """
    pk = getattr(user, "pk", user)
    token = _history_user.set(pk)
    try:
        yield
    finally:
        _history_user.reset(token)


def current_history_user() -> Any:
    """The primary key ``history_user`` sets for the block running now, or None."""
    return _history_user.get()


def change_reason(principal: str | None, reason: str) -> str:
    """django-simple-history's change reason of a row an agent wrote: who, then why
    (``"agent:support-bot: The customer asked"``), so its history names the agent as
    ``history_user`` names a person; the who comes first and survives a cut to the column."""
    return f"{principal}: {reason}" if principal else reason


def history_model(model: type[models.Model]) -> type[models.Model] | None:
    """The historical model django-simple-history keeps for ``model``, if any."""
    manager = getattr(model._meta, "simple_history_manager_attribute", None)
    if not manager:
        return None
    # The descriptor itself: reading ``model.history`` builds a manager class every time
    # (HistoryDescriptor.__get__ calls from_queryset), a third of a millisecond a write.
    descriptor = inspect.getattr_static(model, manager)
    historical = getattr(descriptor, "model", None)
    return historical if historical is not None else getattr(model, manager).model


# In ``history_columns``: the history column copies the written row's own column.
FROM_ROW = object()


def history_columns(
    model: type[models.Model],
    history_type: str,
    reason: str,
    when: dt.datetime,
    setting: Mapping[str, Any] | None = None,
) -> list[tuple[models.Field, models.Field, Any]] | None:
    """What each column of ``model``'s history table gets for a copy of one of its rows:
    ``(history field, source field or None, value)`` where the value is ``FROM_ROW`` for a
    column copied from the row (unless ``setting`` gives it, ``{attname: value}``). None
    when the model keeps no history."""
    historical = history_model(model)
    if historical is None:
        return None
    setting = setting or {}
    source = {f.attname: f for f in model._meta.concrete_fields}
    columns: list[tuple[models.Field, models.Field, Any]] = []
    for f in historical._meta.concrete_fields:
        if f.name == "history_id":
            continue
        if f.attname in source:
            value = setting.get(f.attname, FROM_ROW)
        elif f.attname == "history_date":
            value = when
        elif f.attname == "history_type":
            value = history_type
        elif f.attname == "history_user_id" and _history_user.get() is not None:
            value = _history_user.get()
        elif f.attname == "history_change_reason":
            value = reason[: f.max_length] if f.max_length else reason
        elif f.has_default():
            value = f.get_default()
        elif f.null:
            value = None
        else:
            raise ImproperlyConfigured(
                f"{historical._meta.label}.{f.name} has no value ormai_django can fill in"
            )
        columns.append((f, source.get(f.attname), value))
    return columns


def history_insert_from(
    model: type[models.Model],
    source: str,
    row_column: Mapping[str, str],
    history_type: str,
    reason: str,
    when: dt.datetime,
    setting: Mapping[str, Any],
    connection: Any,
) -> tuple[str, list[Any]] | None:
    """``INSERT INTO <history table> (...) SELECT ... FROM <source>``: the history rows of
    the rows ``source`` (a CTE of the caller's statement) returns, its columns named by
    ``row_column`` (``{attname: column}``), with ``setting`` applied; None when the model
    keeps no history."""
    columns = history_columns(model, history_type, reason, when, setting)
    if columns is None:
        return None
    quote = connection.ops.quote_name
    selected, params = [], []
    for f, field, value in columns:
        if value is FROM_ROW:
            selected.append(f"{source}.{row_column[field.attname]}")
        else:
            selected.append("%s")
            params.append((field or f).get_db_prep_save(value, connection))
    sql = (
        f"INSERT INTO {quote(history_model(model)._meta.db_table)} "
        f"({', '.join(quote(f.column) for f, _, _ in columns)}) "
        f"SELECT {', '.join(selected)} FROM {source}"
    )
    return sql, params


def write_history(
    rows: models.QuerySet,
    history_type: str,
    reason: str,
    when: dt.datetime,
    setting: Mapping[str, Any] | None = None,
) -> int | None:
    """Copy ``rows`` into their model's history table, as they are or with ``setting``
    (``{attname: value}``) applied; returns how many rows were copied (None: no history)."""
    columns = history_columns(rows.model, history_type, reason, when, setting)
    if columns is None:
        return None
    selected = [
        F(source.attname)
        if value is FROM_ROW
        else Value(value, output_field=source if source is not None else f)
        for f, source, value in columns
    ]
    historical = history_model(rows.model)
    connection = connections[rows.db]
    quote = connection.ops.quote_name
    copy = rows.order_by().values_list(*selected)
    select_sql, params = copy.query.get_compiler(rows.db).as_sql()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(historical._meta.db_table)} "
            f"({', '.join(quote(f.column) for f, _, _ in columns)}) {select_sql}",
            params,
        )
        return cursor.rowcount
