"""The approver's desk, looked at in a real Chromium at a desktop's and a phone's width: the
queue and the request page scroll only downwards, the Approve and Deny buttons lie inside
the viewport, axe-core finds no serious violation; the bulk confirmation and the rollback
preview are drawn too. Every page is saved as a screenshot (test-artifacts/screenshots)."""

import json

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth.models import User
from django.urls import reverse

from ormai_django import DEFAULT_PROD, PolicyBuilder, ToolContext, execute
from ormai_django.approvals import approve
from ormai_django.models import ApprovalRequest
from sandbox_project.shop.models import Order, Subscription
from tests.admin.browser import (
    WIDTHS,
    admin_browser,
    assert_fits,
    assert_in_viewport,
    browser_marks,
    screenshot,
    serious_axe_violations,
)
from tests.factories import CustomerFactory, OrderFactory, SubscriptionFactory
from tests.support import cancel_customer_orders

pytestmark = browser_marks
__all__ = ["admin_browser"]  # the fixture, imported for the tests below

AGENT = ToolContext(
    principal="agent:support-bot", tenant_id=7, on_behalf_of="user:42", run_id="run-desk-7"
)
POLICY = (
    PolicyBuilder(DEFAULT_PROD)
    .register_models(["shop.Customer", "shop.Subscription", "shop.Order"])
    .tenant_scope("tenant_id")
    .enable_writes(
        models=["Subscription", "Order"],
        writable_fields={"Subscription": ["plan", "seats"], "Order": ["status"]},
    )
    .require_approval(tool="db.update", model="Subscription", approvers=1)
    .require_approval(
        tool="db.update",
        model="Subscription",
        approvers=2,
        when=lambda call: call.data.get("seats", 0) >= 100,
    )
    .require_approval(tool="db.update", model="Order", approvers=1)
    .build()
)
PASSWORD = "approve-me"


def held(target, model, data, reason):
    arguments = {"model": model, **target, "data": data, "reason": reason}
    result = execute({"name": "db.update", "arguments": arguments}, AGENT, POLICY)
    assert result["outcome"] == "pending_approval", result
    return ApprovalRequest.objects.get(pk=result["approval_id"])


@pytest.fixture
def desk(settings):
    """A queue as an approver finds it: a plan change, a two-person seats change (one row
    changed since it was held, one approval given), a 60-row bulk cancel; and lee."""
    settings.ORMAI = {**settings.ORMAI, "POLICY": POLICY}
    customer = CustomerFactory(name="Acme Corporation")
    plan = held(
        {"id": SubscriptionFactory(customer=customer, plan="basic").id},
        "Subscription",
        {"plan": "pro"},
        "The customer asked to upgrade to Pro in ticket #4411",
    )
    seats = SubscriptionFactory.create_batch(3, customer=customer, seats=12)
    two_person = held(
        {"where": {"id__in": [s.id for s in seats]}},
        "Subscription",
        {"seats": 150},
        "Acme is rolling out to its whole support team next week; their admin asked for 150 "
        "seats on every workspace subscription.",
    )
    Subscription.objects.filter(pk=seats[0].pk).update(seats=20)  # changed since it was held
    approve(two_person.pk, "kim", note="Sales confirmed the order")
    OrderFactory.create_batch(60, customer=customer, status="pending")
    bulk = held(
        {"where": {"customer": customer.pk, "status": "pending"}},
        "Order",
        {"status": "cancelled"},
        "Acme cancelled the whole backlog",
    )
    User.objects.create_superuser("lee", "lee@example.com", PASSWORD)
    return {"plan": plan, "two_person": two_person, "bulk": bulk}


def change_url(live_server, approval):
    return live_server.url + reverse(
        "admin:ormai_django_approvalrequest_change", args=[quote(approval.pk)]
    )


@pytest.mark.parametrize("kind", list(WIDTHS))
def test_the_queue_fits_the_screen_and_has_no_serious_axe_violation(
    live_server, admin_browser, desk, kind
):
    width = WIDTHS[kind][0]
    page = admin_browser.login(live_server, "lee", PASSWORD, width=width)
    page.goto(live_server.url + reverse("admin:ormai_django_approvalrequest_changelist"))

    assert "Subscription: 3 rows, seats -> 150" in page.inner_text("#result_list")
    assert_in_viewport(page, "a.ormai-summary")
    assert_fits(page, f"approval-queue-{width}")
    violations = serious_axe_violations(page)
    assert not violations, json.dumps(violations)


@pytest.mark.parametrize("kind", list(WIDTHS))
def test_on_the_request_page_approve_and_deny_are_in_view_and_nothing_scrolls_sideways(
    live_server, admin_browser, desk, kind
):
    width = WIDTHS[kind][0]
    page = admin_browser.login(live_server, "lee", PASSWORD, width=width)
    page.goto(change_url(live_server, desk["two_person"]))

    text = page.inner_text("#content")
    assert "Subscription: 3 rows, seats -> 150" in text
    assert "2-person rule" in text
    assert "changed since: now 20" in text
    for button in ("#ormai-approve-form input[type=submit]", "#ormai-deny-form input[type=submit]"):
        page.locator(button).scroll_into_view_if_needed()
        assert_in_viewport(page, button)
        box = page.locator(button).bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"]
    page.click("#ormai-with-changes summary")  # the edit form, opened: it must fit too
    assert_in_viewport(page, "#ormai-edit-form input[type=submit]")
    assert_fits(page, f"approval-request-{width}")
    violations = serious_axe_violations(page)
    assert not violations, json.dumps(violations)


def test_the_bulk_confirmation_shows_each_requests_diff(live_server, admin_browser, desk):
    page = admin_browser.login(live_server, "lee", PASSWORD, width=1400)
    page.goto(live_server.url + reverse("admin:ormai_django_approvalrequest_changelist"))
    page.check("#action-toggle")
    page.select_option("select[name=action]", "approve_selected")
    page.click("button[name=index]")
    page.wait_for_selector("#ormai-selected")

    text = page.inner_text("#ormai-selected")
    assert "Order: 60 rows, status -> cancelled" in text
    assert "and 55 more rows" in text
    assert_fits(page, "approval-bulk-confirmation-1400")
    violations = serious_axe_violations(page)
    assert not violations, json.dumps(violations)


@pytest.mark.parametrize("kind", list(WIDTHS))
def test_the_rollback_preview_shows_now_left_and_restored_and_fits(
    live_server, admin_browser, kind
):
    width = WIDTHS[kind][0]
    audit_id, orders = cancel_customer_orders(AGENT, count=4)
    Order.objects.filter(pk=orders[0].pk).update(status="pending")  # put back by hand
    Order.objects.filter(pk=orders[1].pk).update(status="refunded")  # changed since
    User.objects.create_superuser("lee", "lee@example.com", PASSWORD)
    page = admin_browser.login(live_server, "lee", PASSWORD, width=width)
    page.goto(
        live_server.url + reverse("admin:ormai_django_auditevent_rollback", args=[quote(audit_id)])
    )

    table = page.inner_text("#ormai-rollback-table")
    assert "already restored" in table and "conflict" in table
    assert_in_viewport(page, "#ormai-rollback-form input[type=submit]")
    assert_fits(page, f"rollback-preview-{width}")
    violations = serious_axe_violations(page)
    assert not violations, json.dumps(violations)
    screenshot(page, f"rollback-preview-{width}")
