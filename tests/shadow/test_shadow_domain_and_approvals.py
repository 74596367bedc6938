"""Shadow mode with domain tools and held calls: the function never runs for the shadow, an
approved call is compared once (by its request)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import override_settings

from ormai_django import ToolContext, execute
from ormai_django.approvals import approve
from ormai_django.models import AuditEvent
from ormai_django.shadow import replay
from sandbox_project.shop.models import Refund
from tests.factories import CustomerFactory, OrderFactory
from tests.shadow import candidates

pytestmark = pytest.mark.django_db

BOT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-d")


def refund(order, cents):
    return {
        "name": "shop.refund_order",
        "arguments": {"order_id": order.pk, "amount_cents": cents, "reason": "late"},
    }


def test_a_domain_tool_is_shadowed_without_running_its_function_twice():
    order = OrderFactory(customer=CustomerFactory(tenant_id=7), status="paid", total_cents=5000)
    with override_settings(
        ORMAI={**settings.ORMAI, "SHADOW_POLICY": "tests.shadow.candidates.refunds_held"}
    ):
        big = execute(refund(order, 2000), BOT, policy=candidates.refunds_live())
        small = execute(refund(order, 500), BOT, policy=candidates.refunds_live())
    assert big["outcome"] == small["outcome"] == "ok"
    assert Refund.objects.count() == 2  # one refund per call: the shadow ran nothing
    assert AuditEvent.objects.get(id=big["audit_id"]).shadow_verdict["rule_ids"] == ["big-refunds"]
    assert AuditEvent.objects.get(id=small["audit_id"]).shadow_verdict["verdict"] == "allowed"

    report = replay(candidates.refunds_held(), since=timedelta(days=1)).as_dict()
    (change,) = report["changes"]
    assert (change["from"], change["to"], change["rule"], change["count"]) == (
        "allowed",
        "held",
        "big-refunds",
        1,
    )
    assert Refund.objects.count() == 2


def test_an_approved_call_is_compared_once_by_its_request():
    order = OrderFactory(customer=CustomerFactory(tenant_id=7), status="pending")
    call = {
        "name": "db.update",
        "arguments": {
            "model": "Order",
            "id": order.pk,
            "data": {"status": "paid"},
            "reason": "paid by transfer",
        },
    }
    held = execute(call, BOT, policy=candidates.refunds_live())
    assert held["outcome"] == "pending_approval"
    with override_settings(
        ORMAI={**settings.ORMAI, "POLICY": "tests.shadow.candidates.refunds_live"}
    ):
        decided = approve(approval_id=held["approval_id"], approver_user_id="lee@example.com")
    assert decided["result"]["outcome"] == "ok"

    report = replay(candidates.live(), since=timedelta(days=1)).as_dict()
    assert report["compared"] == 1  # the request; its execution is skipped
    (change,) = report["changes"]
    assert (change["from"], change["to"]) == ("held", "allowed")
    assert report["skipped"].get("approved calls (their request is compared)") == 1
