"""Rollbacks racing on PostgreSQL: a write is rolled back exactly once, however many operators
click at the same moment; a rollback racing an agent's write to the same rows sees it.

Real threads, each with its own connection, started together (a Barrier). SQLite
serialises writers, so these run in the PostgreSQL pass (``ORMAI_DB=postgres``).
"""

import threading
from collections import Counter

import pytest
from django.db import connection

from ormai_django import DEFAULT_PROD, PolicyBuilder, ToolContext, execute
from ormai_django.models import AuditEvent
from ormai_django.rollback import RollbackError, rollback_audit_id
from sandbox_project.shop.models import Customer, Order
from tests.factories import CustomerFactory, OrderFactory
from tests.support import cancel_customer_orders

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-rollback-races")


def order_policy():
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models([Customer, Order])
        .tenant_scope("tenant_id")
        .enable_writes(models=[Order], writable_fields={"Order": ["status"]})
        .build()
    )


def together(count, work):
    barrier = threading.Barrier(count)
    outcomes = []

    def worker(i):
        try:
            barrier.wait()
            outcomes.append(work(i))
        except RollbackError as error:
            outcomes.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_eight_operators_rolling_back_one_write_at_once_roll_it_back_once():
    policy = order_policy()
    audit_id, orders = cancel_customer_orders(AGENT, 20, policy=policy)
    write = {"audit_id": audit_id}

    outcomes = together(
        8,
        lambda i: rollback_audit_id(write["audit_id"], actor=f"ops:{i}", policy=policy)["outcome"],
    )

    assert Counter(outcomes) == {"ok": 1, "ALREADY_ROLLED_BACK": 7}
    assert (
        AuditEvent.objects.filter(
            caused_by=write["audit_id"], tool="rollback", outcome="ok"
        ).count()
        == 1
    )
    assert set(
        Order.objects.filter(pk__in=[o.pk for o in orders]).values_list("status", flat=True)
    ) == {"pending"}
    history = Order.history.filter(id=orders[0].pk, history_change_reason__startswith="Rollback")
    assert history.count() == 1


def test_a_rollback_racing_an_agent_write_either_sees_it_as_a_conflict_or_precedes_it():
    policy = order_policy()
    order = OrderFactory(customer=CustomerFactory(tenant_id=7), status="pending")
    call = {"model": "Order", "id": order.pk, "reason": "status"}
    write = execute(
        {"name": "db.update", "arguments": {**call, "data": {"status": "paid"}}},
        AGENT,
        policy=policy,
    )

    def work(i):
        if i == 0:
            return rollback_audit_id(write["audit_id"], actor="ops:lee", policy=policy)["outcome"]
        arguments = {**call, "data": {"status": "shipped"}}
        return execute({"name": "db.update", "arguments": arguments}, AGENT, policy=policy)[
            "outcome"
        ]

    outcomes = together(2, work)

    final = Order.objects.get(pk=order.pk).status
    if "ROLLBACK_CONFLICT" in outcomes:
        assert final == "shipped"  # the agent's write landed first; the rollback refused
    else:
        assert Counter(outcomes) == {"ok": 2}
        assert final == "shipped"  # the rollback ran first, then the agent's write
        rollback = AuditEvent.objects.get(caused_by=write["audit_id"], tool="rollback")
        assert rollback.changes[0]["after"] == {"status": "pending"}
