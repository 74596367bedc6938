"""Domain tools under the write budgets and propose mode: they count as writes (a tool that
changes nothing doesn't), a budget may name them, and a policy may only propose them."""

from datetime import timedelta

import pytest

from ormai_django import DEFAULT_PROD, PolicyBuilder, ToolContext, execute
from ormai_django.models import ApprovalRequest
from sandbox_project.shop.models import Refund
from tests.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:billing", tenant_id=7, run_id="run-budget")


def billing(**options):
    builder = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Customer", "shop.Order", "shop.Refund"])
        .tenant_scope("tenant_id")
        .allow_tools(["shop.refund_order"], mode=options.pop("mode", "execute"))
    )
    if options:
        builder = builder.write_budget(**options)
    return builder.build()


def refund(order, policy, amount=100):
    return execute(
        {
            "name": "shop.refund_order",
            "arguments": {"order_id": order.id, "amount_cents": amount, "reason": "Damaged"},
        },
        AGENT,
        policy,
    )


def test_a_run_budget_naming_the_tool_stops_the_run_past_its_calls():
    policy = billing(scope="run", tool="shop_refund_order", max_calls=2)
    order = OrderFactory(customer=CustomerFactory(tenant_id=7), status="paid", total_cents=900)

    outcomes = [refund(order, policy)["outcome"] for _ in range(3)]
    third = refund(order, policy)

    assert outcomes == ["ok", "ok", "denied"]
    assert third["error"]["code"] == "BUDGET_EXCEEDED"
    assert Refund.objects.count() == 2


def test_a_principal_budget_counts_domain_tool_calls_like_any_write():
    policy = billing(scope="principal", max_calls=1, per=timedelta(minutes=5))
    order = OrderFactory(customer=CustomerFactory(tenant_id=7), status="paid", total_cents=900)

    assert refund(order, policy)["outcome"] == "ok"
    assert refund(order, policy)["error"]["code"] == "BUDGET_EXCEEDED"


def test_a_budget_naming_an_unknown_tool_is_a_configuration_error():
    from ormai_django import PolicyConfigurationError

    with pytest.raises(PolicyConfigurationError, match=r"shop\.refund_everything"):
        billing(scope="run", tool="shop.refund_everything", max_calls=2)


def test_a_tool_in_propose_mode_is_always_held():
    policy = billing(mode="propose")
    order = OrderFactory(customer=CustomerFactory(tenant_id=7), status="paid", total_cents=900)

    held = refund(order, policy)

    assert held["outcome"] == "pending_approval"
    assert "propose mode" in ApprovalRequest.objects.get(pk=held["approval_id"]).why_held
    assert not Refund.objects.exists()
