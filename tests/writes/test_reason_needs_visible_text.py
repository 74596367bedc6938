"""A required reason must hold visible text: blank, invisible and filler characters alone
(U+200B, U+2800, U+3164, U+FEFF, a lone combining mark) are no reason at all, for db
writes and domain tools alike (issue 19, attack 4)."""

import pytest

from sandbox_project.shop.models import Customer
from tests.factories import CustomerFactory, OrderFactory
from tests.support import call_tool

pytestmark = pytest.mark.django_db

INVISIBLE = [
    "\u200b",
    "\u2800\u2800",
    "\u3164",
    "\ufeff",
    "\u200b\u2800\u3164",
    "\u0301",
    " \u00a0\u2003\t\n",
    "\u115f\u1160\uffa0",
]


@pytest.mark.parametrize("reason", INVISIBLE, ids=lambda r: "+".join(f"U{ord(c):04X}" for c in r))
def test_an_invisible_reason_is_no_reason_for_a_db_write(ctx, reason):
    ann = CustomerFactory(tenant_id=7, preferred_name="Ann")
    result = call_tool(
        "db.update",
        ctx,
        model="Customer",
        id=ann.pk,
        data={"preferred_name": "Annie"},
        reason=reason,
    )
    assert result["outcome"] == "denied"
    assert result["error"]["code"] == "REASON_REQUIRED"
    assert Customer.objects.get(pk=ann.pk).preferred_name == "Ann"


@pytest.mark.parametrize("reason", INVISIBLE[:4])
def test_an_invisible_reason_is_no_reason_for_a_domain_tool(ctx, reason):
    order = OrderFactory(tenant_id=7)
    result = call_tool("shop.send_receipt_email", ctx, order_id=order.pk, reason=reason)
    assert result["outcome"] == "denied"
    assert result["error"]["code"] == "REASON_REQUIRED"


@pytest.mark.parametrize("reason", ["ok", "Ж", "返金", "👍", "#42", "a\u200b"])
def test_short_visible_reasons_in_any_script_still_count(ctx, reason):
    ann = CustomerFactory(tenant_id=7, preferred_name="Ann")
    result = call_tool(
        "db.update",
        ctx,
        model="Customer",
        id=ann.pk,
        data={"preferred_name": "Annie"},
        reason=reason,
    )
    assert result["outcome"] == "ok", result
