"""Budgets under racing writes, on PostgreSQL: exact counts, held calls included, one trip,
and no deadlock between budget windows and row locks.

Each test releases real threads together (a Barrier), each with its own connection, so the
BudgetWindow row locks are all that keeps the counts exact (see tests/test_write_races.py).
"""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection

from ormai_django import ToolContext, execute
from ormai_django.models import ApprovalRequest, BudgetWindow
from ormai_django.signals import budget_exceeded
from sandbox_project.shop.models import Customer, Note, Order
from tests.factories import CustomerFactory, OrderFactory
from tests.support import counted, shop_writes

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

REASON = "Racing to tidy up."


def run_together(calls, policy):
    """``[(call, context), ...]`` each in its own thread, released at once; their results."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)
    crashes = []

    def worker(index, call, context):
        try:
            barrier.wait(timeout=30)
            results[index] = execute(call, context, policy=policy)
        except BaseException as exc:  # a broken barrier; execute itself never raises
            crashes.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=worker, args=(i, call, context))
        for i, (call, context) in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a write hung (a lock never released?)"
    assert crashes == []
    return results


def outcomes(results):
    return Counter((r["outcome"], r.get("error", {}).get("code")) for r in results)


def rename(customer, i):
    arguments = {"model": "Customer", "id": customer.id, "data": {"preferred_name": f"N{i}"}}
    return {"name": "db.update", "arguments": {**arguments, "reason": REASON}}


def test_sixteen_racing_writes_of_one_run_against_a_budget_of_five_let_exactly_five_through():
    policy = shop_writes().write_budget(scope="run", max_calls=5).build()
    received = []
    budget_exceeded.connect(lambda sender, **kw: received.append(kw), weak=False, dispatch_uid="t")
    try:
        for attempt in range(3):  # a new run each round: its windows are new too
            ctx = ToolContext(principal="agent:racer", tenant_id=7, run_id=f"race-{attempt}")
            customers = CustomerFactory.create_batch(16, preferred_name="")
            calls = []
            for i, customer in enumerate(customers):
                if i % 2:
                    data = {"customer": customer.id, "body": f"note {i}"}
                    create = {"model": "Note", "data": data, "reason": REASON}
                    calls.append(({"name": "db.create", "arguments": create}, ctx))
                else:
                    calls.append((rename(customer, i), ctx))

            results = run_together(calls, policy)

            assert outcomes(results) == {("ok", None): 5, ("denied", "BUDGET_EXCEEDED"): 11}
            ids = [c.id for c in customers]
            renamed = Customer.objects.filter(id__in=ids).exclude(preferred_name="").count()
            assert renamed + Note.objects.filter(customer_id__in=ids).count() == 5
            assert counted("budget:run", run_id=f"race-{attempt}") == (5, 5)
            assert BudgetWindow.objects.get(run_id=f"race-{attempt}").stopped
        # One trip per run, however many calls were refused at once.
        assert sorted(kw["scope_key"] for kw in received) == [
            f'["7", "race-{attempt}"]' for attempt in range(3)
        ]
    finally:
        budget_exceeded.disconnect(dispatch_uid="t")


def test_racing_where_writes_against_a_rows_budget_stay_within_it_exactly():
    policy = shop_writes().write_budget(scope="tenant", max_rows=10, per=timedelta(hours=1)).build()
    customer = CustomerFactory()
    orders = OrderFactory.create_batch(48, customer=customer, status="pending")
    ctx = ToolContext(principal="agent:bulk", tenant_id=7)
    calls = []
    for i in range(16):  # 16 writes of 3 rows each, no two on the same rows
        where = {"id__in": [o.id for o in orders[3 * i : 3 * i + 3]]}
        arguments = {"model": "Order", "where": where, "data": {"status": "paid"}}
        calls.append(({"name": "db.update", "arguments": {**arguments, "reason": REASON}}, ctx))

    results = run_together(calls, policy)

    assert outcomes(results) == {("ok", None): 3, ("denied", "BUDGET_EXCEEDED"): 13}
    assert Order.objects.filter(status="paid").count() == 9
    assert counted("budget:tenant") == (3, 9)


def test_racing_held_calls_are_counted_exactly_too():
    policy = (
        shop_writes()
        .max_writes_per_minute(5)
        .require_approval(tool="db.update", model="Customer")
        .build()
    )
    ctx = ToolContext(principal="agent:flooder", tenant_id=7)
    customers = CustomerFactory.create_batch(16)

    results = run_together([(rename(c, i), ctx) for i, c in enumerate(customers)], policy)

    assert outcomes(results) == {("pending_approval", None): 5, ("denied", "RATE_LIMITED"): 11}
    assert ApprovalRequest.objects.count() == 5
    assert counted("rate:", scope_key=ctx.principal) == (5, 5)


def test_row_budgets_and_run_budgets_on_overlapping_writes_never_deadlock():
    """By-id and where updates of the same rows, and creates pointing at them, all at once,
    under budgets of every scope: windows are locked in one order before the rows, row
    windows after their rows, so every call ends ok (nothing is near a bound)."""
    policy = (
        shop_writes()
        .max_writes_per_minute(1000)
        .write_budget(scope="run", max_calls=1000)
        .write_budget(scope="tenant", max_rows=10_000, per=timedelta(hours=1))
        .write_budget(scope="row", max_calls=1000, per=timedelta(hours=1))
        .build()
    )
    customer = CustomerFactory()
    orders = OrderFactory.create_batch(6, customer=customer)
    contexts = [ToolContext(principal=f"agent:{n}", tenant_id=7, run_id="shared") for n in "ab"]
    calls = []
    for i in range(16):
        ctx = contexts[i % 2]
        if i % 4 == 0:
            where = {"customer": customer.id}
            arguments = {"model": "Order", "where": where, "data": {"status": "paid"}}
        elif i % 4 == 1:
            arguments = {"model": "Order", "id": orders[i % 6].id, "data": {"status": "shipped"}}
        elif i % 4 == 2:
            arguments = {"model": "Note", "data": {"customer": customer.id, "body": "hi"}}
            calls.append(({"name": "db.create", "arguments": {**arguments, "reason": REASON}}, ctx))
            continue
        else:
            arguments = {"model": "Customer", "id": customer.id, "data": {"preferred_name": "X"}}
        calls.append(({"name": "db.update", "arguments": {**arguments, "reason": REASON}}, ctx))

    results = run_together(calls, policy)

    assert outcomes(results) == {("ok", None): 16}
    assert counted("budget:run") == (16, sum(r["affected_rows"] for r in results))
