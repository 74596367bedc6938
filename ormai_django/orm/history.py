"""django-simple-history rows for every row a write touches, in bulk.

``QuerySet.update()`` fires no signals, so django-simple-history never sees a bulk
write; the executor writes the history rows itself: one ``INSERT ... SELECT`` that
copies the rows the write selects, with the values it sets substituted (the
after-state), the time, the type and the reason as the change reason. One
statement, however many rows.
"""

from __future__ import annotations

import datetime as dt
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


def history_model(model: type[models.Model]) -> type[models.Model] | None:
    """The historical model django-simple-history keeps for ``model``, if any."""
    manager = getattr(model._meta, "simple_history_manager_attribute", None)
    return getattr(model, manager).model if manager else None


def write_history(
    rows: models.QuerySet,
    history_type: str,
    reason: str,
    when: dt.datetime,
    setting: Mapping[str, Any] | None = None,
) -> int | None:
    """Copy ``rows`` into their model's history table, as they are or with ``setting``
    (``{attname: value}``) applied; returns how many rows were copied (None: no history)."""
    model = rows.model
    historical = history_model(model)
    if historical is None:
        return None
    setting = setting or {}
    source = {f.attname: f for f in model._meta.concrete_fields}
    columns, selected = [], []
    for f in historical._meta.concrete_fields:
        if f.name == "history_id":
            continue
        if f.attname in source:
            value = (
                Value(setting[f.attname], output_field=source[f.attname])
                if f.attname in setting
                else F(f.attname)
            )
        elif f.attname == "history_date":
            value = Value(when, output_field=f)
        elif f.attname == "history_type":
            value = Value(history_type, output_field=f)
        elif f.attname == "history_user_id" and _history_user.get() is not None:
            value = Value(_history_user.get(), output_field=f)
        elif f.attname == "history_change_reason":
            value = Value(reason[: f.max_length] if f.max_length else reason, output_field=f)
        elif f.has_default():
            value = Value(f.get_default(), output_field=f)
        elif f.null:
            value = Value(None, output_field=f)
        else:
            raise ImproperlyConfigured(
                f"{historical._meta.label}.{f.name} has no value ormai_django can fill in"
            )
        columns.append(f.column)
        selected.append(value)
    connection = connections[rows.db]
    quote = connection.ops.quote_name
    copy = rows.order_by().values_list(*selected)
    select_sql, params = copy.query.get_compiler(rows.db).as_sql()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(historical._meta.db_table)} "
            f"({', '.join(quote(c) for c in columns)}) {select_sql}",
            params,
        )
        return cursor.rowcount
