"""The ledger of a write over many rows, built by the database.

A ``db.update`` over 10,000 rows records 10,000 before/after pairs. Reading them into
Python as tuples, turning each into a dict and encoding the list as JSON costs more than
the update itself; SQLite (``json_group_array``) and PostgreSQL (``json_agg``) build the
same JSON text from the locked rows in one statement, and it goes into the audit row as
it is (an ``orjson.Fragment``). The JSON is the one ``operations.ledger_changes`` builds:
``[{"pk": ..., "before": {field: value}, "after": {field: value}}, ...]`` in primary-key
order.

Only values that are JSON as the database returns them qualify (integers, text, booleans,
with no ``from_db_value`` conversion, and an integer or text primary key); any other write
takes the Python path.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from django.db import connections, models
from django.db.models import F

from ormai_django.fields import dumps
from ormai_django.orm.history import history_insert_from
from ormai_django.orm.inserts import insert_statement, mark_inserted
from ormai_django.orm.rows import json_native, to_json

VENDORS = ("sqlite", "postgresql")


def captures_in_database(using: str, pk: models.Field, fields: Sequence[models.Field]) -> bool:
    """Whether the database can build the ledger of a write setting ``fields``."""
    return connections[using].vendor in VENDORS and all(
        json_native(f) and not hasattr(f, "from_db_value") for f in (pk, *fields)
    )


def locked_keys(rows: models.QuerySet) -> list[Any]:
    """PostgreSQL: the primary keys of ``rows`` in order, locked (``SELECT ... FOR
    UPDATE``); one statement, the keys come back as one array (psycopg builds the list in
    C: as JSON, parsing added about twice the list's size in passing)."""
    inner = rows.order_by("pk").values(c0=F("pk")).select_for_update(of=("self",))
    sql, params = inner.query.get_compiler(rows.db).as_sql()
    outer = f"SELECT COALESCE(array_agg(s.c0 ORDER BY s.c0), '{{}}') FROM ({sql}) s"
    with connections[rows.db].cursor() as cursor:
        cursor.execute(outer, params)
        return cursor.fetchone()[0]


def keys_and_ledger(
    rows: models.QuerySet, fields: Sequence[models.Field], after: dict[str, Any]
) -> tuple[list[Any], orjson.Fragment]:
    """SQLite: the primary keys of ``rows`` in order and their ledger as JSON text (each
    row's key, its current values of ``fields``, the before, and ``after``, ``{name: JSON
    value}``), in one read. SQLite locks the database, not rows: once this transaction has
    read, no other connection commits a change before the write ends (with a rollback
    journal the read lock keeps them out; in WAL mode a commit in between makes the write
    fail instead of running on what was read), so the ledger read before the write is the
    write's. PostgreSQL locks the rows with ``locked_keys`` and builds the ledger in the
    update's own statement."""
    names = [f"c{i}" for i in range(len(fields))]
    inner = rows.order_by("pk").values(
        pk_=F("pk"), **{n: F(f.attname) for n, f in zip(names, fields, strict=True)}
    )
    sql, params = inner.query.get_compiler(rows.db).as_sql()
    before = ", ".join(
        f"'{f.name}', {_sqlite_value(f, 's.' + n)}" for n, f in zip(names, fields, strict=True)
    )
    entry = f"json_object('pk', s.pk_, 'before', json_object({before}), 'after', json(%s))"
    with connections[rows.db].cursor() as cursor:
        cursor.execute(
            f"SELECT json_group_array(s.pk_), json_group_array({entry}) FROM ({sql}) s",
            [dumps(after), *params],
        )
        keys, text = cursor.fetchone()
    return orjson.loads(keys), orjson.Fragment(text)


def _sqlite_value(field: models.Field, column: str) -> str:
    # SQLite keeps booleans as 0 and 1; the ledger says true and false.
    if field.get_internal_type() in ("BooleanField", "NullBooleanField"):
        return (
            f"CASE WHEN {column} IS NULL THEN NULL WHEN {column} THEN json('true') "
            f"ELSE json('false') END"
        )
    return column


def update_in_one_statement(
    rows: models.QuerySet,
    fields: Sequence[models.Field],
    values: dict[str, Any],
    reason: str,
    when: datetime,
    *,
    ledger: bool = True,
    also: Sequence[tuple[str, Sequence[Any]]] = (),
    audit: models.Model | None = None,
    also_insert: Sequence[models.Model] = (),
) -> tuple[int, int | None, orjson.Fragment | None]:
    """PostgreSQL: update ``rows`` (locked already), copy them into their history table and
    build the ledger in one statement, so the rows are scanned once rather than three times.

    ``UPDATE ... FROM`` a snapshot of the rows returns each row's old values beside its new
    ones; a data-modifying CTE inserts the history rows from what the update returned; the
    outer query counts both and aggregates the ledger. ``values`` are ``{attname: value}``
    for ``fields``; the history rows get ``reason`` and ``when``. Returns (rows updated,
    history rows copied or None, the ledger as JSON text, or None with ``ledger=False``:
    for values the database can't write as the ledger does, read in Python beforehand).
    ``also``: statements of other tables, ``(sql, params)``, that run as data-modifying
    CTEs of the same statement (the budget windows the write spends), at no round trip.

    ``audit``: the write's ``AuditEvent``, unsaved; the statement inserts it too, its
    ``duration_ms`` running until the row is inserted, after the history rows
    (``clock_timestamp()``). With ``ledger`` its ``changes`` are aggregated (as ``jsonb``)
    from the update's own rows, so the ledger never passes through Python (flat memory at
    any row count), and the ledger returned is None; without, they are what the event
    holds. ``also_insert``: other unsaved rows the statement inserts as they are (the call's
    idempotency record). Every inserted row is marked saved."""
    connection = connections[rows.db]
    quote = connection.ops.quote_name
    model = rows.model
    table, pk = quote(model._meta.db_table), model._meta.pk
    names = [f"b{i}" for i in range(len(fields))]
    snapshot = rows.order_by().values(
        pk_=F("pk"), **{n: F(f.attname) for n, f in zip(names, fields, strict=True)}
    )
    snapshot_sql, params = snapshot.query.get_compiler(rows.db).as_sql()
    params = list(params)
    assignments = []
    for f in fields:
        assignments.append(f"{quote(f.column)} = %s")
        params.append(f.get_db_prep_save(values[f.attname], connection))
    returned = ", ".join(
        ["ormai_old.pk_ AS pk_", *(f"ormai_old.{n} AS {n}" for n in names)]
        + [f"{table}.{quote(f.column)} AS r{i}" for i, f in enumerate(model._meta.concrete_fields)]
    )
    row_column = {f.attname: f"r{i}" for i, f in enumerate(model._meta.concrete_fields)}
    sql = (
        f"WITH ormai_old AS ({snapshot_sql}), "
        f"ormai_upd AS (UPDATE {table} SET {', '.join(assignments)} FROM ormai_old "
        f"WHERE {table}.{quote(pk.column)} = ormai_old.pk_ RETURNING {returned})"
    )
    copied = "NULL"
    history = history_insert_from(
        model, "ormai_upd", row_column, "~", reason, when, values, connection
    )
    if history is not None:
        history_sql, history_params = history
        sql += f", ormai_hist AS ({history_sql} RETURNING 1)"
        params.extend(history_params)
        copied = "(SELECT count(*) FROM ormai_hist)"
    for index, (statement, statement_params) in enumerate(also):
        sql += f", ormai_also_{index} AS ({statement})"
        params.extend(statement_params)
    # The after values of the ledger the database aggregates (none: the caller's ledger).
    after = dumps({f.name: to_json(values[f.attname]) for f in fields}) if ledger else None
    aggregated, inserted = "NULL", "1"  # inserted: the audit row count, the keys inserted
    computed: dict[str, tuple[str, list[Any]]] = {}
    if audit is not None:
        if ledger:
            aggregate = _ledger_agg(names, fields, "jsonb")
            computed["changes"] = (f"(SELECT {aggregate} FROM ormai_upd)", [after])
        computed["duration_ms"] = (
            "round((%s + 1000 * extract(epoch FROM clock_timestamp() - "
            "statement_timestamp()))::numeric, 3)::float8",
            [audit.duration_ms or 0.0],
        )
        # The history rows first: the audit row's duration ends after them.
        source = f"WHERE {copied} >= 0" if history is not None else ""
        insert, insert_params = insert_statement(audit, connection, computed, source)
        sql += f", ormai_audit AS ({insert} RETURNING 1)"
        params.extend(insert_params)
        inserted = "(SELECT count(*) FROM ormai_audit)"
        for index, row in enumerate(also_insert):
            insert, insert_params = insert_statement(row, connection)
            key = quote(row._meta.pk.column)
            sql += f", ormai_insert_{index} AS ({insert} RETURNING {key})"
            params.extend(insert_params)
            inserted += f", (SELECT {key} FROM ormai_insert_{index})"
    elif ledger:
        aggregated = f"(SELECT {_ledger_agg(names, fields, 'json')}::text FROM ormai_upd)"
        params.append(after)
    sql += f" SELECT (SELECT count(*) FROM ormai_upd), {copied}, {aggregated}, {inserted}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        updated, copied_rows, text, audit_rows, *inserted_keys = cursor.fetchone()
    if audit is not None:
        if audit_rows != 1:
            raise RuntimeError("the audit row of the write was not inserted")
        mark_inserted(audit, rows.db, computed)
        for row, key in zip(also_insert, inserted_keys, strict=True):
            row.pk = key
            mark_inserted(row, rows.db)
        return updated, copied_rows, None
    return updated, copied_rows, orjson.Fragment(text) if ledger else None


def _ledger_agg(names: Sequence[str], fields: Sequence[models.Field], kind: str) -> str:
    """The ledger of the rows ``ormai_upd`` returned, aggregated as ``json`` or ``jsonb``
    (one parameter: the after values, as JSON text)."""
    before = ", ".join(f"'{f.name}', ormai_upd.{n}" for n, f in zip(names, fields, strict=True))
    entry = (
        f"{kind}_build_object('pk', ormai_upd.pk_, 'before', {kind}_build_object({before}), "
        f"'after', %s::{kind})"
    )
    return f"COALESCE({kind}_agg({entry} ORDER BY ormai_upd.pk_), '[]')"
