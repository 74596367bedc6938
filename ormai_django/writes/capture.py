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
from typing import Any

import orjson
from django.db import connections, models
from django.db.models import F

from ormai_django.fields import dumps
from ormai_django.orm.rows import json_native

VENDORS = ("sqlite", "postgresql")


def captures_in_database(using: str, pk: models.Field, fields: Sequence[models.Field]) -> bool:
    """Whether the database can build the ledger of a write setting ``fields``."""
    return connections[using].vendor in VENDORS and all(
        json_native(f) and not hasattr(f, "from_db_value") for f in (pk, *fields)
    )


def locked_keys(rows: models.QuerySet) -> list[Any]:
    """The primary keys of ``rows`` in order, locked (``SELECT ... FOR UPDATE`` where the
    database locks rows); one statement, the keys come back as one JSON array."""
    inner = rows.order_by("pk").values(c0=F("pk")).select_for_update(of=("self",))
    sql, params = inner.query.get_compiler(rows.db).as_sql()
    if connections[rows.db].vendor == "postgresql":
        outer = f"SELECT COALESCE(json_agg(s.c0 ORDER BY s.c0), '[]')::text FROM ({sql}) s"
    else:
        outer = f"SELECT json_group_array(s.c0) FROM ({sql}) s"
    with connections[rows.db].cursor() as cursor:
        cursor.execute(outer, params)
        return orjson.loads(cursor.fetchone()[0])


def ledger_text(
    rows: models.QuerySet, fields: Sequence[models.Field], after: dict[str, Any]
) -> tuple[int, orjson.Fragment]:
    """How many rows ``rows`` selects, and their ledger as JSON text: each row's key, its
    current values of ``fields`` (the before) and ``after`` (``{name: JSON value}``)."""
    postgresql = connections[rows.db].vendor == "postgresql"
    names = [f"c{i}" for i in range(len(fields))]
    inner = rows.order_by("pk").values(
        pk_=F("pk"), **{n: F(f.attname) for n, f in zip(names, fields, strict=True)}
    )
    sql, params = inner.query.get_compiler(rows.db).as_sql()
    build, parsed = ("json_build_object", "%s::json") if postgresql else ("json_object", "json(%s)")
    before = ", ".join(
        f"'{f.name}', {f's.{n}' if postgresql else _sqlite_value(f, 's.' + n)}"
        for n, f in zip(names, fields, strict=True)
    )
    entry = f"{build}('pk', s.pk_, 'before', {build}({before}), 'after', {parsed})"
    if postgresql:
        total = f"COALESCE(json_agg({entry} ORDER BY s.pk_), '[]')::text"
    else:
        total = f"json_group_array({entry})"
    with connections[rows.db].cursor() as cursor:
        cursor.execute(f"SELECT count(*), {total} FROM ({sql}) s", [dumps(after), *params])
        count, text = cursor.fetchone()
    return count, orjson.Fragment(text)


def _sqlite_value(field: models.Field, column: str) -> str:
    # SQLite keeps booleans as 0 and 1; the ledger says true and false.
    if field.get_internal_type() in ("BooleanField", "NullBooleanField"):
        return (
            f"CASE WHEN {column} IS NULL THEN NULL WHEN {column} THEN json('true') "
            f"ELSE json('false') END"
        )
    return column
