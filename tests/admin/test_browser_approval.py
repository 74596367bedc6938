"""The approve flow driven once in a real headless Chromium (Debian's package, through
Playwright): log in to the admin, open a held call, read its before/after preview, approve
it, and see the write land. In CI (CI=true) a missing browser fails; locally it skips."""

import os
import shutil

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from ormai_django import DEFAULT_PROD, PolicyBuilder, ToolContext, execute
from ormai_django.models import ApprovalRequest
from sandbox_project.shop.models import Subscription
from tests.factories import SubscriptionFactory

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        CHROMIUM is None and os.environ.get("CI") != "true",
        reason="Debian's chromium is not installed (.ci/run installs it)",
    ),
]

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, on_behalf_of="user:42")
POLICY = (
    PolicyBuilder(DEFAULT_PROD)
    .register_models(["shop.Customer", "shop.Subscription"])
    .tenant_scope("tenant_id")
    .enable_writes(models=["Subscription"], writable_fields={"Subscription": ["plan"]})
    .require_approval(tool="db.update", model="Subscription", approvers=1)
    .build()
)


def test_an_approver_approves_a_held_call_in_the_admin_with_a_real_browser(
    live_server, settings, monkeypatch
):
    from playwright.sync_api import sync_playwright

    settings.ORMAI = {**settings.ORMAI, "POLICY": POLICY}
    subscription = SubscriptionFactory(plan="basic")
    call = {
        "name": "db.update",
        "arguments": {
            "model": "Subscription",
            "id": subscription.id,
            "data": {"plan": "pro"},
            "reason": "The customer asked to upgrade to Pro",
        },
    }
    held = execute(call, AGENT, POLICY)
    assert held["outcome"] == "pending_approval", held
    lee = User.objects.create_user("lee", password="approve-me", is_staff=True)
    lee.user_permissions.add(
        Permission.objects.get(codename="view_approvalrequest"),
        Permission.objects.get(codename="approve_approvalrequest"),
    )
    page_url = live_server.url + reverse(
        "admin:ormai_django_approvalrequest_change", args=[quote(held["approval_id"])]
    )
    # Playwright's sync API runs an event loop in this thread; the ORM work is done above
    # and below it, and Django must not refuse the live server's own queries meanwhile.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page()
            page.goto(page_url)  # the admin sends the user to log in first
            page.fill("#id_username", "lee")
            page.fill("#id_password", "approve-me")
            page.click("input[type=submit]")
            page.wait_for_selector("#ormai-approve-form")
            preview = page.inner_text("#content")
            assert "The customer asked to upgrade to Pro" in preview
            assert "basic" in preview and "pro" in preview  # the before/after table
            page.fill("#ormai-approve-note", "OK per CSM")
            page.click("#ormai-approve-form input[type=submit]")
            page.wait_for_load_state()
            messages = page.inner_text("ul.messagelist")
        finally:
            browser.close()

    assert f"Approved {held['approval_id']}: the call ran and changed 1 row(s)" in messages
    approval = ApprovalRequest.objects.get(pk=held["approval_id"])
    assert approval.status == "executed"
    decision = approval.decisions.get()
    assert (decision.approver, decision.verdict, decision.note) == ("lee", "approve", "OK per CSM")
    assert Subscription.objects.get(pk=subscription.pk).plan == "pro"
