"""The issue's floor for ``db.update``, written by hand: what the records alone cost.

Issue 20 names the floor of an audited update over many rows: one scan of the rows, one
update, one history insert, one audit row. This case does exactly that and nothing else,
in SQL, to the same rows ``db.update`` changes and against the same ``QuerySet.update()``:
no policy, no lock before the write, no budget, no idempotency, no validation. What it
writes is what ``db.update`` writes (a django-simple-history row per row, with the reason;
one ``AuditEvent`` whose ledger has each row's pk, before and after), so the distance
between the two rows of the table is the pipeline's own cost, and a target below this row
is below what the records cost on this machine.

- SQLite, four statements: the ledger read in one scan (``json_group_array``), the history
  rows copied with the new value (``INSERT ... SELECT``), the ``UPDATE``, the audit row.
- PostgreSQL, one statement: ``UPDATE ... FROM`` a snapshot of the rows, returning the old
  value beside the new row; the history ``INSERT ... SELECT`` and the audit ``INSERT``
  (its ledger built by ``jsonb_agg``) are data-modifying CTEs of the same statement.

The history and audit ``INSERT`` statements are spelled by ormai_django's own builders
(``orm.history.history_insert_from``, ``orm.inserts.insert_statement``): they only name
the columns and prepare the values, the same SQL a hand-written statement would hold.
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from django.db import connection, models, transaction
from django.db.models import F
from django.utils import timezone

from ormai_django.models import AuditEvent
from ormai_django.orm.history import history_insert_from, write_history
from ormai_django.orm.inserts import insert_statement
from sandbox_project.shop.bench.tier_data import EVERY_ORDER, TierBench
from sandbox_project.shop.bench.tiers import Side, TierCase

LIBRARY = "the floor, by hand"
REASON = "agent:ormai-bench: bench"


def floor_update(rows: models.QuerySet, field: str, value: Any, principal: str) -> int:
    """Set ``field`` to ``value`` on ``rows`` with a history row per row and one audit row
    holding the ledger, in the fewest statements the database allows; returns the rows
    changed."""
    with transaction.atomic(using=rows.db):
        if connection.vendor == "postgresql":
            return _postgresql(rows, field, value, principal)
        return _sqlite(rows, field, value, principal)


def _event(rows: models.QuerySet, field: str, value: Any, principal: str) -> AuditEvent:
    return AuditEvent(
        tool="db.update",
        model=rows.model._meta.label,
        principal=principal,
        reason="bench",
        arguments={"model": rows.model.__name__, "data": {field: value}},
        outcome=AuditEvent.Outcome.OK,
    )


def _sqlite(rows: models.QuerySet, field: str, value: Any, principal: str) -> int:
    column = rows.model._meta.get_field(field).attname
    snapshot = rows.order_by("pk").values(pk_=F("pk"), b0=F(column))
    sql, params = snapshot.query.get_compiler(rows.db).as_sql()
    entry = f"json_object('pk', s.pk_, 'before', json_object('{field}', s.b0), 'after', json(%s))"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), json_group_array({entry}) FROM ({sql}) s",
            [orjson.dumps({field: value}).decode(), *params],
        )
        count, ledger = cursor.fetchone()
    write_history(rows, "~", REASON, timezone.now(), setting={column: value})
    updated = rows.update(**{column: value})
    event = _event(rows, field, value, principal)
    event.affected_rows, event.changes = updated, orjson.Fragment(ledger)
    event.save(force_insert=True)
    return updated if updated == count else -1


def _postgresql(rows: models.QuerySet, field: str, value: Any, principal: str) -> int:
    model, quote = rows.model, connection.ops.quote_name
    target = model._meta.get_field(field)
    table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
    snapshot = rows.order_by().values(pk_=F("pk"), b0=F(target.attname))
    snapshot_sql, params = snapshot.query.get_compiler(rows.db).as_sql()
    params = [*params, target.get_db_prep_save(value, connection)]
    concrete = model._meta.concrete_fields
    returned = ", ".join(
        ["old.pk_ AS pk_", "old.b0 AS b0"]
        + [f"{table}.{quote(f.column)} AS r{i}" for i, f in enumerate(concrete)]
    )
    row_column = {f.attname: f"r{i}" for i, f in enumerate(concrete)}
    sql = (
        f"WITH old AS ({snapshot_sql}), "
        f"upd AS (UPDATE {table} SET {quote(target.column)} = %s FROM old "
        f"WHERE {table}.{pk} = old.pk_ RETURNING {returned})"
    )
    history_sql, history_params = history_insert_from(
        model, "upd", row_column, "~", REASON, timezone.now(), {target.attname: value}, connection
    )
    sql += f", hist AS ({history_sql} RETURNING 1)"
    params.extend(history_params)
    entry = (
        f"jsonb_build_object('pk', upd.pk_, 'before', jsonb_build_object('{field}', upd.b0), "
        "'after', %s::jsonb)"
    )
    computed = {
        "changes": (
            f"(SELECT COALESCE(jsonb_agg({entry} ORDER BY upd.pk_), '[]') FROM upd)",
            [orjson.dumps({field: value}).decode()],
        ),
        "affected_rows": ("(SELECT count(*) FROM upd)", []),
    }
    audit_sql, audit_params = insert_statement(
        _event(rows, field, value, principal), connection, computed
    )
    sql += (
        f", audit AS ({audit_sql} RETURNING 1) "
        "SELECT (SELECT count(*) FROM upd), (SELECT count(*) FROM hist), "
        "(SELECT count(*) FROM audit)"
    )
    params.extend(audit_params)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        updated, copied, audited = cursor.fetchone()
    return updated if (copied, audited) == (updated, 1) else -1


def floor_cases(t: TierBench, reset: Any, bare: Side) -> list[TierCase]:
    """The floor by hand at this tier, against the same bare side as ``db.update``."""
    status = itertools.cycle(("cancelled", "refunded"))

    def update() -> int:
        rows = t.orders().filter(**EVERY_ORDER)
        return floor_update(rows, "status", next(status), "agent:ormai-bench")

    return [
        TierCase(
            "db.update", LIBRARY, "QuerySet.update()", t.rows, bare, Side(update, cleanup=reset)
        )
    ]
