"""Soft launch: writes and domain tools open to one tenant or a few principals first."""

import pytest

from ormai_django import DEFAULT_PROD, PolicyBuilder, ToolContext, tool_definitions
from ormai_django.models import AuditEvent
from sandbox_project.shop.models import Customer, Note, Order, Refund
from tests.factories import CustomerFactory, OrderFactory
from tests.support import call_tool

pytestmark = pytest.mark.django_db

TENANT_7 = ToolContext(principal="agent:support-bot", tenant_id=7)
TENANT_8 = ToolContext(principal="agent:support-bot", tenant_id=8)
INTERNAL_8 = ToolContext(principal="agent:internal", tenant_id=8)


def launched_policy(**group):
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models([Customer, Order, Note, Refund])
        .tenant_scope("tenant_id")
        .enable_writes(writable_fields={"Customer": ["preferred_name"]}, **group)
        .enable_writes(writable_fields={"Note": ["customer", "body"]})
        .allow_tools(["shop.refund_order"], **group)
        .build()
    )


def rename(ctx, policy, customer):
    return call_tool(
        "db.update",
        ctx,
        policy,
        model="Customer",
        id=customer.pk,
        data={"preferred_name": "Annie"},
        reason="the customer asked",
    )


def test_writes_open_to_the_launch_tenant_only():
    policy = launched_policy(tenants=[7])
    inside = CustomerFactory(tenant_id=7)
    outside = CustomerFactory(tenant_id=8)

    assert rename(TENANT_7, policy, inside)["outcome"] == "ok"
    refused = rename(TENANT_8, policy, outside)

    assert refused["outcome"] == "denied"
    assert refused["error"]["code"] == "NOT_LAUNCHED"
    assert refused["error"]["rule"] == "launch:shop.Customer"
    assert "Soft launch" in refused["error"]["message"]
    assert "tenants 7" in refused["error"]["launch_group"]
    outside.refresh_from_db()
    assert outside.preferred_name == ""
    assert AuditEvent.objects.get(id=refused["audit_id"]).error_code == "NOT_LAUNCHED"


def test_models_outside_the_launch_stay_open_to_everyone():
    policy = launched_policy(tenants=[7])
    customer = CustomerFactory(tenant_id=8)
    result = call_tool(
        "db.create",
        TENANT_8,
        policy,
        model="Note",
        data={"customer": customer.pk, "body": "called back"},
        reason="log the call",
    )
    assert result["outcome"] == "ok", result


def test_principals_and_a_callable_admit_too():
    by_name = launched_policy(principals=["agent:internal"])
    by_rule = launched_policy(open_to=lambda ctx: ctx.principal.startswith("agent:int"))
    customer = CustomerFactory(tenant_id=8)
    for policy in (by_name, by_rule):
        assert rename(INTERNAL_8, policy, customer)["outcome"] == "ok"
        assert rename(TENANT_8, policy, customer)["error"]["code"] == "NOT_LAUNCHED"


def test_an_open_to_that_raises_admits_no_one():
    policy = launched_policy(open_to=lambda ctx: 1 / 0)
    customer = CustomerFactory(tenant_id=7)
    assert rename(TENANT_7, policy, customer)["error"]["code"] == "NOT_LAUNCHED"


def test_a_dry_run_outside_the_launch_is_refused_as_well():
    policy = launched_policy(tenants=["7"])
    customer = CustomerFactory(tenant_id=8)
    result = call_tool(
        "db.update",
        TENANT_8,
        policy,
        model="Customer",
        id=customer.pk,
        data={"preferred_name": "Annie"},
        reason="r",
        dry_run=True,
    )
    assert result["error"]["code"] == "NOT_LAUNCHED"


def test_domain_tools_follow_their_launch_group():
    policy = launched_policy(tenants=[7])
    order = OrderFactory(customer=CustomerFactory(tenant_id=8), status="paid")
    refused = call_tool(
        "shop.refund_order",
        TENANT_8,
        policy,
        order_id=order.pk,
        amount_cents=100,
        reason="damaged",
    )
    assert refused["outcome"] == "denied"
    assert refused["error"]["code"] == "NOT_LAUNCHED"
    assert refused["error"]["rule"] == "launch:shop.refund_order"
    inside = OrderFactory(customer=CustomerFactory(tenant_id=7), status="paid")
    allowed = call_tool(
        "shop.refund_order", TENANT_7, policy, order_id=inside.pk, amount_cents=100, reason="x"
    )
    assert allowed["outcome"] == "ok", allowed


def test_a_caller_outside_the_launch_is_not_offered_its_writes():
    policy = launched_policy(tenants=[7])
    inside = {d["name"] for d in tool_definitions(policy, context=TENANT_7)}
    outside = {d["name"] for d in tool_definitions(policy, context=TENANT_8)}
    assert "shop_refund_order" in inside
    assert "shop_refund_order" not in outside
    assert "db_update" in outside  # Note is still open to everyone
    described = call_tool("db.describe", TENANT_8, policy)
    customer = next(m for m in described["models"] if m["name"] == "Customer")
    assert customer["writes"]["enabled"] is False
    assert policy.for_context(TENANT_7) is policy


def test_only_launched_writes_hide_the_write_tools():
    policy = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models([Customer])
        .tenant_scope("tenant_id")
        .enable_writes(writable_fields={"Customer": ["preferred_name"]}, tenants=[7])
        .build()
    )
    outside = {d["name"] for d in tool_definitions(policy, context=TENANT_8)}
    assert not outside & {"db_create", "db_update", "db_delete", "approval_status"}
    assert "db_update" in {d["name"] for d in tool_definitions(policy, context=TENANT_7)}


def test_the_launch_group_is_an_option_that_adds_and_never_silently_changes():
    # A call that gives no group keeps the one another call gave (not given is not "everyone").
    policy = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models([Customer])
        .tenant_scope("tenant_id")
        .enable_writes(models=[Customer])
        .enable_writes(writable_fields={"Customer": ["preferred_name"]}, tenants=[7])
        .build()
    )
    assert policy.find_model("Customer").writes.launch.tenants == {"7"}
    builder = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models([Customer])
        .tenant_scope("tenant_id")
        .enable_writes(writable_fields={"Customer": ["preferred_name"]}, tenants=[7])
        .enable_writes(writable_fields={"Customer": ["preferred_language"]}, tenants=[8])
    )
    assert len(builder.spec.writes) == 2
    from ormai_django.errors import PolicyConfigurationError

    with pytest.raises(PolicyConfigurationError, match="launch"):
        builder.build()


@pytest.mark.parametrize(
    "group",
    [{"tenants": 7}, {"principals": "agent:x"}, {"open_to": "yes"}, {"tenants": [True]}],
)
def test_a_malformed_launch_group_fails_where_it_is_written(group):
    with pytest.raises(ValueError):
        PolicyBuilder(DEFAULT_PROD).enable_writes(models=["Customer"], **group)
