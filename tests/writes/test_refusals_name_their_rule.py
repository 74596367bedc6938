"""Every denied outcome names the policy element that said no (``error.rule``, a short stable
id), besides its code and a message that says what to do next."""

import pytest

from ormai_django import DEFAULT_PROD, PolicyBuilder, ToolContext, execute
from sandbox_project.shop.models import Customer, Order
from tests.factories import CustomerFactory, NoteFactory, OrderFactory, SubscriptionFactory
from tests.support import shop_writes

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:refused", tenant_id=7, run_id="run-refused")
NO_TENANT = ToolContext(principal="agent:refused")
REASON = "Because the user asked."


def policy():
    return shop_writes().max_writes_per_minute(1).require_preview(over_rows=50).build()


def cases():
    customer = CustomerFactory()
    order = OrderFactory(customer=customer)
    subscription = SubscriptionFactory(customer=customer)
    NoteFactory(customer=customer)
    strict = shop_writes(require_idempotency_key=True).build()
    read_only_orders = PolicyBuilder(DEFAULT_PROD).register_models([Customer, Order]).build()
    unregistered_relation = (
        PolicyBuilder(DEFAULT_PROD).register_models([Order]).tenant_scope("tenant_id").build()
    )
    return [
        (
            "db.update",
            {"model": "Subscription", "id": subscription.id, "data": {"seats": 2}},
            AGENT,
            None,
            "WRITE_NOT_ALLOWED",
            "writes:shop.Subscription",
        ),
        (
            "db.update",
            {"model": "Order", "id": order.id, "data": {"status": "paid"}, "reason": ""},
            AGENT,
            None,
            "REASON_REQUIRED",
            "reason:shop.Order",
        ),
        (
            "db.update",
            {"model": "Order", "id": order.id, "data": {"total_cents": 1}},
            AGENT,
            None,
            "FIELD_NOT_WRITABLE",
            "field:shop.Order.total_cents",
        ),
        (
            "db.update",
            {"model": "Order", "id": order.id, "data": {"status": "paid"}},
            AGENT,
            strict,
            "IDEMPOTENCY_KEY_REQUIRED",
            "idempotency_key:shop.Order",
        ),
        (
            "db.query",
            {"model": "Order"},
            NO_TENANT,
            None,
            "TENANT_REQUIRED",
            "tenant:shop.Order",
        ),
        (
            "db.query",
            {"model": "Customer", "fields": ["password_hash"]},
            AGENT,
            None,
            "FIELD_DENIED",
            "field:shop.Customer.password_hash",
        ),
        (
            "db.query",
            {"model": "Customer", "where": {"email": "a@b.c"}},
            AGENT,
            masking(),
            "FIELD_DENIED",
            "mask:shop.Customer.email",
        ),
        (
            "db.query",
            {"model": "Order", "where": {"customer__name": "Ann"}},
            AGENT,
            unregistered_relation,
            "RELATION_DENIED",
            "relation:shop.Order.customer",
        ),
        (
            "db.query",
            {"model": "Order", "where": {"status__regex": ".*"}},
            AGENT,
            None,
            "LOOKUP_NOT_ALLOWED",
            "lookups",
        ),
        (
            "db.update",
            {"model": "Order", "id": order.id, "data": {"status": "paid"}},
            AGENT,
            read_only_orders.narrowed(tools=["db.query"]),
            "TOOL_NOT_ALLOWED",
            "tool:db.update",
        ),
        (
            "db.delete",
            {"model": "Customer", "id": customer.id},
            AGENT,
            None,
            "CASCADE_NOT_ALLOWED",
            "cascade:shop.Customer",
        ),
    ]


def masking():
    return shop_writes().mask_fields(["customer.email"]).build()


def test_every_policy_refusal_names_its_rule():
    for tool, arguments, ctx, chosen, code, rule in cases():
        if tool.startswith("db.") and tool not in ("db.query", "db.get"):
            arguments = {"reason": REASON, **arguments}
        result = execute({"name": tool, "arguments": arguments}, ctx, policy=chosen or policy())

        assert result["outcome"] == "denied", (code, result)
        assert (result["error"]["code"], result["error"]["rule"]) == (code, rule), result
        assert result["error"]["message"]


def test_budget_refusals_name_the_budget():
    customers = CustomerFactory.create_batch(2)
    rename = {"model": "Customer", "data": {"preferred_name": "A"}, "reason": REASON}
    execute({"name": "db.update", "arguments": {**rename, "id": customers[0].id}}, AGENT, policy())

    limited = execute(
        {"name": "db.update", "arguments": {**rename, "id": customers[1].id}}, AGENT, policy()
    )

    assert limited["error"]["code"] == "RATE_LIMITED"
    assert limited["error"]["rule"] == "rate:principal:calls=1/1m"
    assert limited["error"]["budget"]["id"] == limited["error"]["rule"]


def test_a_preview_refusal_names_the_preview_rule():
    customer = CustomerFactory()
    OrderFactory.create_batch(51, customer=customer)
    where = {"model": "Order", "where": {"customer": customer.id}, "data": {"status": "paid"}}
    big = shop_writes(max_affected_rows=1000).require_preview(over_rows=50).build()

    result = execute({"name": "db.update", "arguments": {**where, "reason": REASON}}, AGENT, big)

    assert (result["error"]["code"], result["error"]["rule"]) == (
        "PREVIEW_REQUIRED",
        "preview:over_rows=50",
    )
    assert not Order.objects.filter(status="paid").exists()
