"""What budgets cost in SQL statements: every budget of a call is locked and read by one
statement and spent by one, a principal's first write costs what its later ones do, and
nothing is spent on a call no budget counts (see tests/test_query_counts.py)."""

from datetime import timedelta

import pytest

from ormai_django import ToolContext, execute
from ormai_django.models import BudgetWindow
from tests.factories import CustomerFactory, OrderFactory
from tests.support import (
    AUDIT_JOINED_ON_POSTGRESQL,
    JOINED_ON_POSTGRESQL,
    ONE_ROW_JOINED_ON_POSTGRESQL,
    SPEND_JOINED_ON_POSTGRESQL,
    data_statements,
    shop_writes,
)

pytestmark = pytest.mark.django_db(transaction=True)

AGENT = ToolContext(principal="agent:counted", tenant_id=7, run_id="run-counted")


ONE_ROW_UPDATE = 6 - ONE_ROW_JOINED_ON_POSTGRESQL


def three_budgets():
    return (
        shop_writes()
        .max_writes_per_minute(100)
        .write_budget(scope="run", max_calls=100, max_rows=1000)
        .write_budget(scope="tenant", max_rows=10_000, per=timedelta(days=1))
        .build()
    )


def rename(customer, name):
    arguments = {"model": "Customer", "id": customer.id, "data": {"preferred_name": name}}
    return {"name": "db.update", "arguments": {**arguments, "reason": "Counting statements."}}


def budget_statements(statements):
    table = BudgetWindow._meta.db_table
    return [s for s in statements if table in s]


def test_a_single_row_update_under_three_budgets_is_six_statements():
    customer = CustomerFactory()
    policy = three_budgets()
    assert execute(rename(customer, "Warm"), AGENT, policy=policy)["outcome"] == "ok"

    result, statements = data_statements(rename(customer, "Al"), AGENT, policy)

    assert result["outcome"] == "ok", result
    # The budgets' upsert, the row lock and read, the history INSERT ... SELECT, the UPDATE,
    # the budgets' spend, the audit INSERT (the last four one statement on PostgreSQL).
    assert len(statements) == ONE_ROW_UPDATE, "\n".join(statements)
    lock, spend = budget_statements(statements)
    assert lock.lstrip().upper().startswith("INSERT") and "ON CONFLICT" in lock.upper()
    if SPEND_JOINED_ON_POSTGRESQL:
        assert spend.lstrip().upper().startswith("WITH") and "shop_historicalcustomer" in spend
    else:
        assert spend.lstrip().upper().startswith("UPDATE")


def test_a_principals_first_write_costs_what_its_later_ones_do():
    customer = CustomerFactory()
    policy = three_budgets()
    newcomer = ToolContext(principal="agent:new", tenant_id=7, run_id="run-new")

    result, statements = data_statements(rename(customer, "Al"), newcomer, policy)

    assert result["outcome"] == "ok", result
    assert len(statements) == ONE_ROW_UPDATE, "\n".join(statements)
    assert BudgetWindow.objects.count() == 3


def test_a_refusal_by_a_budget_costs_no_row_lock():
    customers = CustomerFactory.create_batch(2)
    policy = shop_writes().write_budget(scope="principal", max_calls=1).build()
    execute(rename(customers[0], "A"), AGENT, policy=policy)

    result, statements = data_statements(rename(customers[1], "B"), AGENT, policy)

    assert result["error"]["code"] == "BUDGET_EXCEEDED"
    # The budgets' upsert; then, once rolled back, the trip (its window locked, marked
    # tripped) in a transaction of its own; the audit INSERT. No row of Customer is read.
    assert not any("shop_customer" in s for s in statements), "\n".join(statements)
    assert len(statements) == 4, "\n".join(statements)


def test_a_row_budget_adds_one_statement_its_windows_locked_after_the_rows():
    customer = CustomerFactory()
    policy = shop_writes().write_budget(scope="row", max_calls=100).build()
    execute(rename(customer, "Warm"), AGENT, policy=policy)

    result, statements = data_statements(rename(customer, "Al"), AGENT, policy)

    assert result["outcome"] == "ok", result
    # The row lock and read, the row budget's upsert, history, UPDATE, spend, audit.
    assert len(statements) == ONE_ROW_UPDATE, "\n".join(statements)
    assert "shop_customer" in statements[0]


def test_a_write_no_budget_counts_touches_no_budget_table():
    order = OrderFactory()
    policy = shop_writes().write_budget(scope="principal", model="Note", max_calls=1).build()
    call = {
        "name": "db.update",
        "arguments": {"model": "Order", "id": order.id, "data": {"status": "paid"}, "reason": "r"},
    }

    result, statements = data_statements(call, AGENT, policy)

    assert result["outcome"] == "ok", result
    assert budget_statements(statements) == []
    assert len(statements) == 4 - JOINED_ON_POSTGRESQL - AUDIT_JOINED_ON_POSTGRESQL
