"""Undoing a domain tool's call: the captured rows restored (with the same conflict check as
db.update), or the project's own compensation run and audited as the rollback, or a refusal
for an irreversible tool."""

from decimal import Decimal

import pytest
from django.core import mail

from ormai_django import RollbackError, ToolContext, approve, execute, rollback_audit_id
from ormai_django.models import AuditEvent
from ormai_django.rollback import rollback_run
from sandbox_project.shop.models import Order, Refund, Subscription
from tests.domain.tools import kit_policy
from tests.factories import CustomerFactory, OrderFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-undo")


def change_plan(subscription, plan="pro", seats=3):
    return execute(
        {
            "name": "shop.change_plan",
            "arguments": {
                "subscription_id": subscription.id,
                "plan": plan,
                "seats": seats,
                "reason": "Asked for it",
            },
        },
        AGENT,
    )


def refund(order, amount):
    return execute(
        {
            "name": "shop.refund_order",
            "arguments": {"order_id": order.id, "amount_cents": amount, "reason": "Arrived broken"},
        },
        AGENT,
    )


def test_rolling_back_a_tool_without_compensation_restores_the_captured_rows():
    subscription = SubscriptionFactory(
        tenant_id=7, plan="basic", seats=2, seats_in_use=2, monthly_price=Decimal("58.00")
    )
    done = change_plan(subscription, "pro", 3)
    assert done["outcome"] == "ok"

    undone = rollback_audit_id(done["audit_id"], actor="ops:lee", reason="Wrong customer")

    subscription.refresh_from_db()
    assert undone["outcome"] == "ok" and undone["restored_rows"] == 1
    assert (subscription.plan, subscription.seats, subscription.monthly_price) == (
        "basic",
        2,
        Decimal("58.00"),
    )
    event = AuditEvent.objects.get(id=undone["audit_id"])
    assert (event.tool, event.caused_by_id, event.principal) == (
        "rollback",
        done["audit_id"],
        "ops:lee",
    )
    assert subscription.history.latest("history_date").history_change_reason == "Wrong customer"


def test_a_row_changed_since_is_a_conflict_as_for_db_update():
    subscription = SubscriptionFactory(tenant_id=7, plan="basic", seats=2, seats_in_use=2)
    done = change_plan(subscription, "pro", 3)
    Subscription.objects.filter(pk=subscription.id).update(seats=9)

    with pytest.raises(RollbackError) as refused:
        rollback_audit_id(done["audit_id"], actor="ops:lee")

    assert refused.value.code == "ROLLBACK_CONFLICT"
    assert {c["field"] for c in refused.value.conflicts} == {"seats"}
    assert Subscription.objects.get(pk=subscription.id).seats == 9


def test_rolling_back_a_refund_runs_its_compensation_a_reversal():
    order = OrderFactory(customer=CustomerFactory(tenant_id=7), status="paid", total_cents=800)
    done = refund(order, 800)
    assert Order.objects.get(pk=order.id).status == "refunded"

    preview = rollback_audit_id(done["audit_id"], actor="ops:lee", dry_run=True)
    assert preview["outcome"] == "dry_run"
    assert {line["action"] for line in preview["rows"]} == {"compensate"}
    assert Refund.objects.get().reversed_at is None  # the preview changed nothing

    undone = rollback_audit_id(done["audit_id"], actor="ops:lee", reason="Refund was a mistake")

    refund_row = Refund.objects.get()
    assert refund_row.reversed_at is not None  # kept, and marked reversed: not deleted
    assert Order.objects.get(pk=order.id).status == "paid"
    event = AuditEvent.objects.get(id=undone["audit_id"])
    assert (event.tool, event.caused_by_id, event.reason) == (
        "rollback",
        done["audit_id"],
        "Refund was a mistake",
    )
    models_changed = {entry["model"] for entry in event.changes}
    assert models_changed == {"shop.Refund", "shop.Order"}
    with pytest.raises(RollbackError) as again:
        rollback_audit_id(done["audit_id"], actor="ops:lee")
    assert again.value.code == "ALREADY_ROLLED_BACK"


def test_a_compensation_that_refuses_is_a_rollback_error_and_changes_nothing():
    order = OrderFactory(customer=CustomerFactory(tenant_id=7), status="paid", total_cents=800)
    done = refund(order, 300)
    Refund.objects.update(reversed_at="2026-01-01T00:00:00Z")  # reversed by hand already

    with pytest.raises(RollbackError) as refused:
        rollback_audit_id(done["audit_id"], actor="ops:lee")

    assert refused.value.code == "COMPENSATION_FAILED"
    assert refused.value.details["error"]["code"] == "NOT_FOUND"
    assert not AuditEvent.objects.filter(tool="rollback", outcome="ok").exists()


def test_an_irreversible_tools_call_cannot_be_rolled_back():
    order = OrderFactory(customer=CustomerFactory(tenant_id=7), status="paid")
    held = execute(
        {"name": "shop.send_receipt_email", "arguments": {"order_id": order.id, "reason": "asked"}},
        AGENT,
    )
    sent = approve(held["approval_id"], "lee@example.com")["result"]
    assert len(mail.outbox) == 1

    with pytest.raises(RollbackError) as refused:
        rollback_audit_id(sent["audit_id"], actor="ops:lee")

    assert refused.value.code == "NOT_REVERSIBLE"
    assert "can't be undone" in refused.value.message


def test_a_run_with_domain_tools_and_db_writes_is_rolled_back_newest_first():
    context = ToolContext(principal="agent:kit", tenant_id=7, run_id="run-mixed")
    customer = CustomerFactory(tenant_id=7, preferred_name="Ann")
    order = OrderFactory(customer=customer, status="paid", total_cents=500)
    policy = kit_policy()
    execute(
        {
            "name": "testkit.rename_customer",
            "arguments": {"customer_id": customer.id, "preferred_name": "Annie", "reason": "r"},
        },
        context,
        policy,
    )
    execute(
        {
            "name": "shop.refund_order",
            "arguments": {"order_id": order.id, "amount_cents": 500, "reason": "r"},
        },
        context,
        policy,
    )

    undone = rollback_run("run-mixed", actor="ops:lee", policy=policy)

    assert undone["outcome"] == "ok" and len(undone["audit_ids"]) == 2
    customer.refresh_from_db()
    assert customer.preferred_name == "Ann"
    assert Order.objects.get(pk=order.id).status == "paid"
    assert Refund.objects.get().reversed_at is not None


def test_a_run_holding_an_irreversible_call_is_refused_whole():
    context = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-mail")
    customer = CustomerFactory(tenant_id=7, preferred_name="Ann")
    order = OrderFactory(customer=customer, status="paid")
    execute(
        {
            "name": "db.update",
            "arguments": {
                "model": "Customer",
                "id": customer.id,
                "data": {"preferred_name": "Annie"},
                "reason": "r",
            },
        },
        context,
    )
    held = execute(
        {"name": "shop.send_receipt_email", "arguments": {"order_id": order.id, "reason": "asked"}},
        context,
    )
    approve(held["approval_id"], "lee@example.com")

    with pytest.raises(RollbackError) as refused:
        rollback_run("run-mail", actor="ops:lee")

    assert refused.value.code == "NOT_REVERSIBLE"
    customer.refresh_from_db()
    assert customer.preferred_name == "Annie"
