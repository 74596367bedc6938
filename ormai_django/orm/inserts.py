"""A row inserted by a statement of the caller's, not by ``Model.save()``.

A write on PostgreSQL inserts its audit row and its idempotency record inside its own
statement, as data-modifying CTEs (``writes/capture.py``), rather than in two more round
trips; the audit row's ledger and duration can then be SQL expressions the database
computes. These rows' ``pre_save``/``post_save`` signals are not sent (ormai_django
connects none to its own models).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import models


def insert_statement(
    instance: models.Model,
    connection: Any,
    computed: Mapping[str, tuple[str, list[Any]]] | None = None,
    source: str = "",
) -> tuple[str, list[Any]]:
    """``INSERT INTO <table> (...) SELECT ...`` of the unsaved ``instance`` (every concrete
    field, its value prepared as ``save()`` would), with SQL expressions in place of some
    values: ``computed`` is ``{field name: (sql, params)}``, selected last and in order;
    ``source`` is what follows the selected values (``FROM ...``, ``WHERE ...``). An
    automatic primary key not set is left to the database (append ``RETURNING`` to read
    it). Mark the instance saved once the statement ran (``mark_inserted``)."""
    computed = computed or {}
    quote = connection.ops.quote_name
    columns, values, params = [], [], []
    # As save() does: an automatic key not set is the database's to choose.
    auto = instance._meta.auto_field if instance.pk is None else None
    for f in instance._meta.concrete_fields:
        if f is not auto and f.name not in computed:
            columns.append(quote(f.column))
            values.append("%s")
            params.append(f.get_db_prep_save(f.pre_save(instance, add=True), connection))
    for name, (sql, expression_params) in computed.items():
        columns.append(quote(instance._meta.get_field(name).column))
        values.append(sql)
        params.extend(expression_params)
    table = quote(instance._meta.db_table)
    statement = f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} {source}"
    return statement.rstrip(), params


def mark_inserted(instance: models.Model, using: str, computed: Iterable[str] = ()) -> None:
    """Mark ``instance`` as the row ``insert_statement`` inserted: saved, the ``computed``
    fields deferred, so reading one loads what the database wrote."""
    instance._state.adding, instance._state.db = False, using
    for name in computed:
        instance.__dict__.pop(instance._meta.get_field(name).attname, None)
