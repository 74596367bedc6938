"""An audit row can't be rewritten by an upsert or raw SQL, on SQLite as on PostgreSQL
(issue 19, attack 6): the queryset refuses bulk_create(update_conflicts=True), and the
database itself refuses an UPDATE of the table."""

import pytest
from django.db import DatabaseError, connection, transaction

from ormai_django.models import AppendOnlyError, AuditEvent
from tests.factories import CustomerFactory
from tests.support import call_tool

pytestmark = pytest.mark.django_db


def an_audit_row(ctx):
    CustomerFactory(tenant_id=7)
    result = call_tool("db.query", ctx, model="Customer")
    return AuditEvent.objects.get(pk=result["audit_id"])


def test_an_upsert_of_an_audit_row_is_refused_and_changes_nothing(ctx):
    row = an_audit_row(ctx)
    forged = AuditEvent(
        id=row.id,
        tool="db.delete",
        principal="agent:someone-else",
        outcome="ok",
        created_at=row.created_at,
    )
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.bulk_create(
            [forged],
            update_conflicts=True,
            unique_fields=["id"],
            update_fields=["tool", "principal"],
        )
    row.refresh_from_db()
    assert (row.tool, row.principal) == ("db.query", "agent:support-bot")


def test_the_database_refuses_an_update_of_the_ledger(ctx):
    row = an_audit_row(ctx)
    table = AuditEvent._meta.db_table
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"UPDATE {table} SET principal = %s WHERE id = %s", ["x", row.id])
    row.refresh_from_db()
    assert row.principal == "agent:support-bot"
