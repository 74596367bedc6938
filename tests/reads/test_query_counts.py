"""Exact SQL statement counts of the read tools: the audit INSERT plus at most one data query.

The tests run outside a test transaction (``transaction=True``), so what is counted is
what a project in autocommit sees: no savepoints. Each test asserts the contract (at
most 3 statements for a ``db.get``) and the exact number, as a guard against an N+1
or an extra lookup creeping into the pipeline.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ormai_django import ToolContext, execute
from ormai_django.models import AuditEvent
from sandbox_project.shop.models import Customer
from tests.factories import CustomerFactory, NoteFactory, OrderFactory

pytestmark = pytest.mark.django_db(transaction=True)


def run_counted(call, ctx):
    with CaptureQueriesContext(connection) as captured:
        result = execute(call, ctx)
    return result, [q["sql"] for q in captured.captured_queries]


def audit_inserts(statements):
    table = AuditEvent._meta.db_table
    return [s for s in statements if s.lstrip().upper().startswith("INSERT") and table in s]


def test_get_is_one_select_and_the_audit_insert(ctx):
    customer = CustomerFactory()

    result, statements = run_counted(
        {"name": "db.get", "arguments": {"model": "Customer", "id": customer.id}}, ctx
    )

    assert result["outcome"] == "ok"
    assert len(statements) <= 3  # the contract
    assert len(statements) == 2
    assert statements[0].lstrip().upper().startswith("SELECT")
    assert len(audit_inserts(statements)) == 1


def test_get_of_a_missing_row_costs_the_same_as_a_found_one(ctx):
    other_tenants = CustomerFactory(tenant_id=8)

    result, statements = run_counted(
        {"name": "db.get", "arguments": {"model": "Customer", "id": other_tenants.id}}, ctx
    )

    assert result["outcome"] == "error"
    assert result["error"]["code"] == "NOT_FOUND"
    assert len(statements) == 2


def test_query_is_one_select_and_the_audit_insert(ctx):
    CustomerFactory.create_batch(3)

    result, statements = run_counted({"name": "db.query", "arguments": {"model": "Customer"}}, ctx)

    assert result["outcome"] == "ok"
    assert result["count"] == 3
    assert len(statements) == 2
    assert len(audit_inserts(statements)) == 1


def test_query_statement_count_does_not_grow_with_rows_returned(ctx):
    Customer.objects.bulk_create(CustomerFactory.build_batch(500))
    call = {"name": "db.query", "arguments": {"model": "Customer", "limit": 10}}

    small, small_statements = run_counted(call, ctx)
    call["arguments"]["limit"] = 500
    large, large_statements = run_counted(call, ctx)

    assert (small["count"], large["count"]) == (10, 500)
    assert len(small_statements) == len(large_statements) == 2


def test_query_through_a_relation_and_its_next_page_stay_one_select(ctx):
    ann = CustomerFactory(name="Ann Lee")
    OrderFactory.create_batch(3, customer=ann, status="paid")
    # Another customer's order; named so that "ann" can't match (a generated name can).
    OrderFactory(status="paid", customer=CustomerFactory(name="Bob Stone"))
    call = {
        "name": "db.query",
        "arguments": {
            "model": "Order",
            "where": {"customer__name__icontains": "ann", "status": "paid"},
            "limit": 2,
        },
    }

    first, first_statements = run_counted(call, ctx)
    call["arguments"]["cursor"] = first["next_cursor"]
    second, second_statements = run_counted(call, ctx)

    assert (first["count"], second["count"]) == (2, 1)
    assert len(first_statements) == len(second_statements) == 2


def test_query_of_a_soft_deletable_model_stays_one_select(ctx):
    NoteFactory.create_batch(2)
    NoteFactory(deleted_at=timezone.now())

    result, statements = run_counted({"name": "db.query", "arguments": {"model": "Note"}}, ctx)

    assert result["count"] == 2
    assert len(statements) == 2


def test_grouped_aggregate_is_one_select_and_the_audit_insert(ctx):
    OrderFactory.create_batch(2, status="paid")
    OrderFactory(status="pending")
    call = {
        "name": "db.aggregate",
        "arguments": {
            "model": "Order",
            "group_by": "status",
            "aggregations": {"n": {"count": "id"}, "total": {"sum": "total_cents"}},
        },
    }

    result, statements = run_counted(call, ctx)

    assert result["outcome"] == "ok"
    assert {g["status"]: g["n"] for g in result["groups"]} == {"paid": 2, "pending": 1}
    assert len(statements) == 2


def test_ungrouped_aggregate_is_one_select_and_the_audit_insert(ctx):
    OrderFactory.create_batch(2, total_cents=100)

    result, statements = run_counted(
        {
            "name": "db.aggregate",
            "arguments": {"model": "Order", "aggregations": {"total": {"sum": "total_cents"}}},
        },
        ctx,
    )

    assert result["result"] == {"total": 200}
    assert len(statements) == 2


def test_describe_reads_no_data_only_writes_its_audit_row(ctx):
    result, statements = run_counted({"name": "db.describe", "arguments": {}}, ctx)

    assert result["outcome"] == "ok"
    assert len(statements) == 1
    assert len(audit_inserts(statements)) == 1


def test_denied_filter_on_a_masked_field_runs_no_data_query(ctx):
    CustomerFactory(email="ann@acme.io")

    result, statements = run_counted(
        {
            "name": "db.query",
            "arguments": {"model": "Customer", "where": {"email": "ann@acme.io"}},
        },
        ctx,
    )

    assert result["outcome"] == "denied"
    assert len(statements) == 1
    assert len(audit_inserts(statements)) == 1


def test_call_without_a_tenant_is_denied_without_a_data_query():
    CustomerFactory()
    no_tenant = ToolContext(principal="agent:support-bot")

    result, statements = run_counted(
        {"name": "db.query", "arguments": {"model": "Customer"}}, no_tenant
    )

    assert result["outcome"] == "denied"
    assert result["error"]["code"] == "TENANT_REQUIRED"
    assert len(statements) == 1
    assert len(audit_inserts(statements)) == 1


def test_unknown_tool_costs_only_its_audit_row(ctx):
    result, statements = run_counted(
        {"name": "db.drop_table", "arguments": {"model": "Customer"}}, ctx
    )

    assert result["outcome"] == "error"
    assert result["error"]["code"] == "UNKNOWN_TOOL"
    assert len(statements) == 1
    assert len(audit_inserts(statements)) == 1


def test_malformed_json_call_costs_only_its_audit_row(ctx):
    result, statements = run_counted('{"name": "db.get", "arguments": ', ctx)

    assert result["outcome"] == "error"
    assert result["error"]["code"] == "INVALID_JSON"
    assert len(statements) == 1
