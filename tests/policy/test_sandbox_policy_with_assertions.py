"""The sandbox's policy, tested the way a project tests its own: with ormai_django.testing.

Each assertion runs the call through the real pipeline and undoes it, so the tests read as
the policy's spec: who may write what, what is refused and why, what waits for people.
"""

import pytest

from ormai_django import ToolContext
from ormai_django.testing import assert_allows, assert_denies, assert_held
from ormai_django.testing.pytest_plugin import ormai_policy_assert  # noqa: F401 (the fixture)
from tests.factories import CustomerFactory, OrderFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

SUPPORT_BOT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-1")


def update(model, pk, data, reason="the customer asked on the phone"):
    arguments = {"model": model, "id": pk, "data": data}
    if reason is not None:
        arguments["reason"] = reason
    return {"name": "db.update", "arguments": arguments}


def test_the_support_bot_may_set_a_customers_preferred_name():
    customer = CustomerFactory(tenant_id=7)
    assert_allows(update("Customer", customer.pk, {"preferred_name": "Annie"}), SUPPORT_BOT)


def test_a_write_without_a_reason_is_refused():
    customer = CustomerFactory(tenant_id=7)
    assert_denies(
        update("Customer", customer.pk, {"preferred_name": "Annie"}, reason=None),
        SUPPORT_BOT,
        code="REASON_REQUIRED",
        rule="reason:shop.Customer",
    )


def test_the_vip_flag_and_the_email_are_not_writable():
    customer = CustomerFactory(tenant_id=7)
    assert_denies(
        update("Customer", customer.pk, {"is_vip": True}), SUPPORT_BOT, code="FIELD_NOT_WRITABLE"
    )
    assert_denies(
        update("Customer", customer.pk, {"email": "x@example.com"}),
        SUPPORT_BOT,
        code="FIELD_NOT_WRITABLE",
    )


def test_secrets_can_not_even_be_filtered_on():
    call = {"name": "db.query", "arguments": {"model": "Customer", "where": {"api_token": "x"}}}
    assert_denies(call, SUPPORT_BOT, code="FIELD_DENIED")


def test_another_tenants_customer_is_not_found_rather_than_changed():
    stranger = CustomerFactory(tenant_id=8)
    result = assert_allows(
        {"name": "db.query", "arguments": {"model": "Customer", "where": {"id": stranger.pk}}},
        SUPPORT_BOT,
    )
    assert result["rows"] == []


def test_a_plan_change_waits_for_one_human():
    subscription = SubscriptionFactory(customer=CustomerFactory(tenant_id=7))
    assert_held(update("Subscription", subscription.pk, {"plan": "pro"}), SUPPORT_BOT, approvers=1)


def test_deleting_a_customer_waits_for_two_humans():
    customer = CustomerFactory(tenant_id=7)
    call = {
        "name": "db.delete",
        "arguments": {"model": "Customer", "id": customer.pk, "reason": "duplicate account"},
    }
    assert_held(call, SUPPORT_BOT, approvers=2)


def test_a_refund_runs_within_what_is_left_to_refund():
    order = OrderFactory(customer=CustomerFactory(tenant_id=7), status="paid", total_cents=4200)
    refund = {
        "name": "shop.refund_order",
        "arguments": {"order_id": order.pk, "amount_cents": 500, "reason": "late"},
    }
    assert_allows(refund, SUPPORT_BOT)


def test_the_fixture_offers_the_same_assertions(ormai_policy_assert):  # noqa: F811
    customer = CustomerFactory(tenant_id=7)
    ormai_policy_assert.allows(
        update("Customer", customer.pk, {"preferred_language": "fr"}), SUPPORT_BOT
    )
    ormai_policy_assert.denies(
        update("Customer", customer.pk, {"name": "X"}), SUPPORT_BOT, code="FIELD_NOT_WRITABLE"
    )
