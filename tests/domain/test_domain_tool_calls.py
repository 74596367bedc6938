"""Domain tools through the one pipeline: the policy gate, input validation, the tenant
scope of call.get(), idempotency, dry runs, approval, the outcome shapes (DESIGN 11)."""

from decimal import Decimal

import pytest
from django.core import mail

from ormai_django import (
    DEFAULT_PROD,
    ApprovalError,
    PolicyBuilder,
    ToolContext,
    approve,
    execute,
    tool_definitions,
)
from ormai_django.models import ApprovalRequest, AuditEvent
from sandbox_project.shop.models import Order, Refund, Subscription
from tests.domain.tools import kit_policy
from tests.factories import CustomerFactory, OrderFactory, SubscriptionFactory
from tests.support import database_state

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-domain")


def refund(order, amount, policy=None, context=AGENT, **extra):
    arguments = {"order_id": order.id, "amount_cents": amount, "reason": "Arrived broken"}
    return execute(
        {"name": "shop.refund_order", "arguments": {**arguments, **extra}}, context, policy
    )


def paid_order(total=5000, tenant=7):
    return OrderFactory(
        customer=CustomerFactory(tenant_id=tenant), status="paid", total_cents=total
    )


def test_a_refund_runs_and_returns_the_functions_result():
    order = paid_order()

    result = refund(order, 1500)

    assert result == {
        "outcome": "ok",
        "result": {
            "refund_id": result["result"]["refund_id"],
            "refunded_cents": 1500,
            "left_to_refund_cents": 3500,
        },
        "affected_rows": 1,
        "audit_id": result["audit_id"],
    }
    assert Refund.objects.get().amount_cents == 1500
    event = AuditEvent.objects.get(id=result["audit_id"])
    assert (event.tool, event.outcome, event.reason) == (
        "shop.refund_order",
        "ok",
        "Arrived broken",
    )
    assert event.result == result["result"]
    assert event.arguments == {
        "order_id": order.id,
        "amount_cents": 1500,
        "reason": "Arrived broken",
    }


def test_the_provider_spelling_runs_the_same_tool():
    order = paid_order()

    assert refund.__name__  # (the helper uses the dotted name)
    result = execute(
        {
            "name": "shop_refund_order",
            "arguments": {"order_id": order.id, "amount_cents": 10, "reason": "goodwill"},
        },
        AGENT,
    )

    assert result["outcome"] == "ok"
    assert AuditEvent.objects.get(id=result["audit_id"]).tool == "shop.refund_order"


def test_a_tool_the_policy_does_not_name_is_not_allowed():
    policy = (
        PolicyBuilder(DEFAULT_PROD).register_models("shop.Order").tenant_scope("tenant_id").build()
    )
    order = paid_order()
    before = database_state()

    result = refund(order, 100, policy=policy)

    assert result["outcome"] == "denied"
    assert result["error"]["code"] == "TOOL_NOT_ALLOWED"
    assert database_state() == before
    assert "shop.refund_order" not in [d["name"] for d in tool_definitions(policy)]


def test_an_undeclared_tool_is_unknown_and_the_message_lists_the_tools():
    result = execute({"name": "shop.refund_everything", "arguments": {}}, AGENT)

    assert result["error"]["code"] == "UNKNOWN_TOOL"
    assert "shop_refund_order" in result["error"]["message"]


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"order_id": 0, "amount_cents": 10}, "order_id"),
        ({"order_id": "x", "amount_cents": 10}, "order_id"),
        ({"order_id": 1, "amount_cents": -5}, "amount_cents"),
    ],
)
def test_the_serializer_refuses_bad_input_and_nothing_changes(arguments, field):
    before = database_state()

    result = execute(
        {"name": "shop.refund_order", "arguments": {**arguments, "reason": "r"}}, AGENT
    )

    assert (result["outcome"], result["error"]["code"]) == ("error", "VALIDATION_FAILED")
    assert list(result["error"]["fields"]) == [field]
    assert database_state() == before


def test_a_missing_input_field_is_invalid_arguments():
    result = execute(
        {"name": "shop.refund_order", "arguments": {"order_id": 1, "reason": "r"}}, AGENT
    )

    assert result["error"]["code"] == "INVALID_ARGUMENTS"
    assert "'amount_cents'" in result["error"]["message"]


def test_the_functions_own_rule_refuses_with_per_field_messages_and_changes_nothing():
    order = paid_order(total=1000)
    refund(order, 600)
    before = database_state()

    result = refund(order, 500)

    assert result["error"]["code"] == "VALIDATION_FAILED"
    assert result["error"]["fields"] == {
        "amount_cents": ["only 400 of the order's 1000 cents are left to refund"]
    }
    assert "the tool's rules" in result["error"]["message"]
    assert database_state() == before


def test_a_tool_that_writes_needs_a_reason():
    order = paid_order()

    result = execute(
        {"name": "shop.refund_order", "arguments": {"order_id": order.id, "amount_cents": 1}}, AGENT
    )

    assert (result["outcome"], result["error"]["code"]) == ("denied", "REASON_REQUIRED")
    assert not Refund.objects.exists()


def test_another_tenants_order_is_not_found_for_the_tool_too():
    theirs = paid_order(tenant=8)
    before = database_state()

    result = refund(theirs, 100)

    assert (result["outcome"], result["error"]["code"]) == ("error", "NOT_FOUND")
    assert database_state() == before


def test_a_retry_with_the_same_key_replays_and_refunds_once():
    order = paid_order()

    first = refund(order, 700, idempotency_key="refund-77")
    again = refund(order, 700, idempotency_key="refund-77")

    assert again["idempotent_replay"] is True
    assert again["result"] == first["result"]
    assert Refund.objects.count() == 1
    other = refund(order, 800, idempotency_key="refund-77")
    assert other["error"]["code"] == "IDEMPOTENCY_KEY_CONFLICT"


def test_a_dry_run_runs_the_function_and_changes_nothing():
    order = paid_order(total=1000)
    before = database_state()

    preview = refund(order, 1000, dry_run=True)

    assert preview["outcome"] == "dry_run"
    assert preview["result"]["left_to_refund_cents"] == 0
    assert preview["would_require_approval"] is False
    lines = {line["model"]: line for line in preview["would_change"]}
    assert lines["Order"] == {
        "model": "Order",
        "id": order.id,
        "status_before": "paid",
        "status_after": "refunded",
    }
    assert lines["Refund"]["amount_cents_after"] == 1000
    assert preview["affected_rows"] == 2
    assert database_state() == before
    assert Order.objects.get(pk=order.id).status == "paid"


def test_a_plan_change_above_the_price_waits_for_a_person_then_runs():
    subscription = SubscriptionFactory(tenant_id=7, plan="basic", seats=2, seats_in_use=2)
    arguments = {
        "subscription_id": subscription.id,
        "plan": "enterprise",
        "seats": 50,
        "reason": "The team grew",
    }

    held = execute({"name": "shop.change_plan", "arguments": arguments}, AGENT)

    assert held["outcome"] == "pending_approval"
    approval = ApprovalRequest.objects.get(pk=held["approval_id"])
    assert approval.tool == "shop.change_plan"
    assert "tool=shop.change_plan" in approval.why_held
    # The approvers see the rows it would change.
    assert approval.preview["would_change"][0]["plan_after"] == "enterprise"
    subscription.refresh_from_db()
    assert subscription.plan == "basic"

    decided = approve(held["approval_id"], "lee@example.com")

    subscription.refresh_from_db()
    assert decided["status"] == "executed"
    assert decided["result"]["result"]["monthly_price"] == "600.00"
    assert (subscription.plan, subscription.seats, subscription.monthly_price) == (
        "enterprise",
        50,
        Decimal("600.00"),
    )


def test_a_small_plan_change_runs_without_approval_and_keeps_the_seats_in_use():
    subscription = SubscriptionFactory(tenant_id=7, plan="pro", seats=5, seats_in_use=4)

    too_few = execute(
        {
            "name": "shop.change_plan",
            "arguments": {
                "subscription_id": subscription.id,
                "plan": "basic",
                "seats": 3,
                "reason": "cheaper",
            },
        },
        AGENT,
    )
    enough = execute(
        {
            "name": "shop.change_plan",
            "arguments": {
                "subscription_id": subscription.id,
                "plan": "basic",
                "seats": 4,
                "reason": "cheaper",
            },
        },
        AGENT,
    )

    assert too_few["error"]["fields"] == {
        "seats": ["4 seats are in use; the plan must keep at least that many"]
    }
    assert enough["outcome"] == "ok"
    assert Subscription.objects.get(pk=subscription.id).monthly_price == Decimal("116.00")


def test_an_irreversible_tool_waits_for_one_person_and_sends_once_approved():
    order = paid_order()

    held = execute(
        {
            "name": "shop.send_receipt_email",
            "arguments": {"order_id": order.id, "reason": "asked for it"},
        },
        AGENT,
    )

    assert held["outcome"] == "pending_approval"
    assert held["approvers_required"] == 1
    assert mail.outbox == []
    approve(held["approval_id"], "lee@example.com")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [order.customer.email]


def test_an_approval_rule_naming_the_irreversible_tool_is_what_decides():
    policy = kit_policy(tool="shop.send_receipt_email", approvers=2)
    order = paid_order()

    held = execute(
        {"name": "shop.send_receipt_email", "arguments": {"order_id": order.id, "reason": "asked"}},
        AGENT,
        policy,
    )

    assert held["approvers_required"] == 2


def test_an_approver_may_correct_a_domain_tools_input():
    subscription = SubscriptionFactory(tenant_id=7, plan="basic", seats=2, seats_in_use=2)
    arguments = {
        "subscription_id": subscription.id,
        "plan": "pro",
        "seats": 40,
        "reason": "The team grew",
    }
    held = execute({"name": "shop.change_plan", "arguments": arguments}, AGENT)
    assert held["outcome"] == "pending_approval"  # 40 seats x 19 = 760 a month

    decided = approve(held["approval_id"], "lee@example.com", edits={"seats": 20})

    subscription.refresh_from_db()
    assert decided["status"] == "executed"
    assert (subscription.plan, subscription.seats) == ("pro", 20)
    assert decided["preview"]["would_change"][0]["seats_after"] == 20


def test_an_approver_may_not_edit_a_domain_tools_reason_or_key():
    subscription = SubscriptionFactory(tenant_id=7, plan="basic", seats=2, seats_in_use=2)
    arguments = {
        "subscription_id": subscription.id,
        "plan": "pro",
        "seats": 40,
        "reason": "The team grew",
    }
    held = execute({"name": "shop.change_plan", "arguments": arguments}, AGENT)

    with pytest.raises(ApprovalError) as refused:
        approve(held["approval_id"], "lee@example.com", edits={"reason": "mine now"})

    assert refused.value.code == "INVALID_EDITS"
    assert (
        "subscription_id, plan, seats" in refused.value.message or "plan" in refused.value.message
    )


def test_describe_lists_the_domain_tools_the_policy_offers():
    described = execute({"name": "db.describe", "arguments": {}}, AGENT)

    tools = {tool["name"]: tool for tool in described["tools"]}
    assert set(tools) == {"shop.refund_order", "shop.change_plan", "shop.send_receipt_email"}
    refund_tool = tools["shop.refund_order"]
    assert refund_tool["writes"] == ["shop.Order", "shop.Refund"]
    assert refund_tool["reversible"] is True
    assert tools["shop.send_receipt_email"]["reversible"] is False
    assert refund_tool["arguments"]["required"] == ["order_id", "amount_cents"]


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "json_schema"])
def test_tool_definitions_carry_the_serializers_schema(fmt):
    definitions = tool_definitions(format=fmt)

    by_name = {(d["function"]["name"] if fmt == "openai" else d["name"]): d for d in definitions}
    name = "shop_refund_order"  # provider-safe in every format
    definition = by_name[name]
    schema = definition["function"]["parameters"] if fmt == "openai" else definition["input_schema"]
    assert schema["properties"]["amount_cents"] == {
        "type": "integer",
        "minimum": 1,
        "description": "How much to give back, in cents; at most what is left to refund.",
    }
    assert schema["properties"]["reason"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert schema["required"] == ["order_id", "amount_cents"]
    assert schema["additionalProperties"] is False
    assert "shop.change_plan" in by_name or "shop_change_plan" in by_name
    plan = by_name.get("shop.change_plan") or by_name["shop_change_plan"]
    plan_schema = plan["function"]["parameters"] if fmt == "openai" else plan["input_schema"]
    assert plan_schema["properties"]["plan"] == {"enum": ["basic", "pro", "enterprise"]}
