"""The approve flow driven once in a real headless Chromium (Debian's package, through
Playwright): log in to the admin, open a held call, read its before/after preview, approve
it, and see the write land. In CI (CI=true) a missing browser fails; locally it skips."""

from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from ormai_django import DEFAULT_PROD, PolicyBuilder, ToolContext, execute
from ormai_django.models import ApprovalRequest
from sandbox_project.shop.models import Subscription
from tests.admin.browser import admin_browser, assert_in_viewport, browser_marks, screenshot
from tests.factories import SubscriptionFactory

pytestmark = browser_marks
__all__ = ["admin_browser"]  # the fixture, imported for the tests below

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
    live_server, settings, admin_browser
):
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

    page = admin_browser.login(live_server, "lee", "approve-me", width=1400)
    page.goto(page_url)
    page.wait_for_selector("#ormai-approve-form")
    preview = page.inner_text("#content")
    assert "The customer asked to upgrade to Pro" in preview
    assert "basic" in preview and "pro" in preview  # the before/after table
    assert_in_viewport(page, "#ormai-approve-form input[type=submit]")
    page.fill("#ormai-approve-note", "OK per CSM")
    page.click("#ormai-approve-form input[type=submit]")
    page.wait_for_load_state()
    messages = page.inner_text("ul.messagelist")
    screenshot(page, "approved-1400")

    assert f"Approved {held['approval_id']}: the call ran and changed 1 row(s)" in messages
    approval = ApprovalRequest.objects.get(pk=held["approval_id"])
    assert approval.status == "executed"
    decision = approval.decisions.get()
    assert (decision.approver, decision.verdict, decision.note) == ("lee", "approve", "OK per CSM")
    assert Subscription.objects.get(pk=subscription.pk).plan == "pro"
