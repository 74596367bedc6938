"""The approval queue and the audit dashboard in Django admin.

Held calls are real: an agent's db.update goes through ``execute`` under a small policy that
holds updates of Subscription (two approvers when seats >= 100). A held call runs later
through the policy ``ORMAI["POLICY"]`` names, so each test makes that small policy the
project's policy (``use_policy``) before the agent calls.
"""

import datetime as dt
import html
import re

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ormai_django import DEFAULT_PROD, PolicyBuilder, ToolContext, execute
from ormai_django.approvals import approve
from ormai_django.models import ApprovalDecision, ApprovalRequest, AuditEvent
from sandbox_project.shop.models import Subscription
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

AGENT = ToolContext(
    principal="agent:support-bot", tenant_id=7, on_behalf_of="user:42", run_id="run-admin-7"
)
REASON = "The customer asked to move to the pro plan."


def held_updates_policy():
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Customer", "shop.Subscription"])
        .tenant_scope("tenant_id")
        .enable_writes(models=["Subscription"], writable_fields={"Subscription": ["plan", "seats"]})
        .require_approval(tool="db.update", model="Subscription", approvers=1)
        .require_approval(
            tool="db.update",
            model="Subscription",
            approvers=2,
            when=lambda call: call.data.get("seats", 0) >= 100,
        )
        .build()
    )


@pytest.fixture
def use_policy(settings):
    """Make the held-updates policy the project's policy for this test."""
    policy = held_updates_policy()
    settings.ORMAI = {**settings.ORMAI, "POLICY": policy}
    return policy


def hold_update(subscriptions, data, context=AGENT, reason=REASON):
    """The agent asks to update ``subscriptions``; the policy holds it. The held request."""
    ids = [s.id for s in subscriptions]
    target = {"id": ids[0]} if len(ids) == 1 else {"where": {"id__in": ids}}
    call = {
        "name": "db.update",
        "arguments": {"model": "Subscription", **target, "data": data, "reason": reason},
    }
    result = execute(call, context)
    assert result["outcome"] == "pending_approval", result
    return ApprovalRequest.objects.get(pk=result["approval_id"])


def staff_client(client, django_user_model, username, *codenames):
    # No password: force_login needs none, and hashing one costs a third of a second.
    user = django_user_model.objects.create_user(username, is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="ormai_django", codename__in=codenames)
    )
    client.force_login(user)
    return client


def approver(client, django_user_model, username="lee"):
    """A staff user who may view and decide held calls."""
    return staff_client(
        client,
        django_user_model,
        username,
        "view_approvalrequest",
        "approve_approvalrequest",
        "view_auditevent",
    )


def viewer(client, django_user_model, username="sam"):
    """A staff user who may look at the queue and the ledger, not decide."""
    return staff_client(
        client, django_user_model, username, "view_approvalrequest", "view_auditevent"
    )


def url(name, *args):
    """An admin URL, its ids quoted as the admin quotes them in its own links."""
    return reverse(f"admin:ormai_django_approvalrequest_{name}", args=[quote(a) for a in args])


def audit_url(name, *args):
    return reverse(f"admin:ormai_django_auditevent_{name}", args=[quote(a) for a in args])


def text_of(response):
    return html.unescape(response.content.decode())


def row_of(page, approval_id):
    """The changelist's table row of one request."""
    for row in re.findall(r"<tr.*?</tr>", page, flags=re.S):
        if approval_id in row:
            return row
    raise AssertionError(f"{approval_id} is not in the changelist")


def cell(row, column):
    match = re.search(rf'<td class="field-{column}[^"]*">(.*?)</td>', row, flags=re.S)
    assert match, f"no {column} cell in {row}"
    return match.group(1).strip()


def readonly_field(page, name):
    """The value shown for a read-only field on a change page."""
    match = re.search(rf'field-{name}\b.*?<div class="readonly">(.*?)</div>', page, flags=re.S)
    assert match, f"no {name} field on the page"
    return match.group(1).strip()


def section(page, element_id):
    match = re.search(rf'id="{element_id}".*?</(?:fieldset|section)>', page, flags=re.S)
    assert match, f"no #{element_id} on the page"
    return match.group(0)


# --- the queue ---------------------------------------------------------------------------


def test_queue_shows_requester_approvals_so_far_and_time_left(
    use_policy, client, django_user_model
):
    one = hold_update([SubscriptionFactory(plan="basic")], {"plan": "pro"})
    two = hold_update([SubscriptionFactory(seats=1)], {"seats": 150})
    approve(two.pk, "first-approver")
    overdue = hold_update([SubscriptionFactory(plan="basic")], {"plan": "enterprise"})
    ApprovalRequest.objects.filter(pk=overdue.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=5)
    )

    page = text_of(approver(client, django_user_model).get(url("changelist")))

    first, second, late = row_of(page, one.pk), row_of(page, two.pk), row_of(page, overdue.pk)
    summary = cell(first, "request_summary")
    assert f"Subscription #{one.call['arguments']['id']}: plan basic -> pro" in summary
    assert "agent:support-bot for user:42" in cell(first, "requester")
    assert cell(first, "approvals").endswith("0 of 1")
    assert cell(second, "approvals").endswith("1 of 2")
    assert "2-person rule" in cell(second, "request_summary")  # a risk badge
    assert cell(first, "short_reason").endswith(REASON)
    assert "hour" in cell(first, "time_left")  # the profile's 24 hours, minus a moment
    assert cell(late, "time_left") == "expired"
    # What waits comes first, soonest to expire first; the expired one after it.
    assert page.index(one.pk) < page.index(two.pk) < page.index(overdue.pk)


def test_queue_filters_by_status_tool_model_and_principal(use_policy, client, django_user_model):
    held = hold_update([SubscriptionFactory()], {"plan": "pro"})
    other_agent = ToolContext(principal="agent:billing-bot", tenant_id=7, run_id="run-billing")
    denied = hold_update([SubscriptionFactory()], {"plan": "enterprise"}, context=other_agent)
    ApprovalRequest.objects.filter(pk=denied.pk).update(status="denied")
    browser = approver(client, django_user_model)

    def listed(params):
        response = browser.get(url("changelist"), params)
        assert response.status_code == 200
        page = response.content.decode()
        return {pk for pk in (held.pk, denied.pk) if pk in page}

    assert listed({"status__exact": "pending"}) == {held.pk}
    assert listed({"status__exact": "denied"}) == {denied.pk}
    assert listed({"principal": "agent:billing-bot"}) == {denied.pk}
    assert listed({"tool": "db.update"}) == {held.pk, denied.pk}
    assert listed({"tool": "db.delete"}) == set()
    assert listed({"model": "shop.Subscription"}) == {held.pk, denied.pk}


def test_queue_search_finds_reason_principal_run_id_and_id(use_policy, client, django_user_model):
    held = hold_update([SubscriptionFactory()], {"plan": "pro"}, reason="Upgrade for ACME")
    other_agent = ToolContext(principal="agent:billing-bot", tenant_id=7, run_id="run-billing")
    other = hold_update([SubscriptionFactory()], {"plan": "pro"}, context=other_agent)
    browser = approver(client, django_user_model)

    def found(query):
        page = browser.get(url("changelist"), {"q": query}).content.decode()
        return {pk for pk in (held.pk, other.pk) if pk in page}

    assert found("acme") == {held.pk}
    assert found("billing-bot") == {other.pk}
    assert found("run-admin-7") == {held.pk}
    assert found(other.pk) == {other.pk}
    assert found("nothing-like-this") == set()


# --- the change page -----------------------------------------------------------------------


def test_change_page_shows_the_held_call_the_before_after_table_and_the_decisions(
    use_policy, client, django_user_model
):
    first = SubscriptionFactory(plan="basic", seats=3)
    second = SubscriptionFactory(plan="enterprise", seats=120)
    held = hold_update([first, second], {"plan": "pro", "seats": 100})
    approve(held.pk, "kim", note="Fine by finance")

    response = approver(client, django_user_model).get(url("change", held.pk))

    assert response.status_code == 200
    page = text_of(response)
    preview = section(page, "ormai-preview")
    rows = [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>.*?</t[hd]>", r)]
        for r in re.findall(r"<tr[^>]*>.*?</tr>", preview, flags=re.S)
    ]
    assert rows == [
        ["row", "field", "before", "after"],
        [str(first.id), "plan", "basic", "pro"],
        ["seats", "3", "100"],
        [str(second.id), "plan", "enterprise", "pro"],
        ["seats", "120", "100"],
    ]
    decisions = section(page, "ormai-decisions")
    assert "kim" in decisions
    assert "approve" in decisions
    assert "Fine by finance" in decisions
    assert '"name": "db.update"' in page  # the held call, as JSON
    assert "require_approval(tool=db.update, model=Subscription, when=...)" in page
    assert "1 of 2" in section(page, "ormai-summary-title")


def test_change_page_links_the_request_decision_and_executed_audit_rows(
    use_policy, client, django_user_model
):
    held = hold_update([SubscriptionFactory(plan="basic")], {"plan": "pro"})
    approve(held.pk, "kim")

    page = text_of(approver(client, django_user_model).get(url("change", held.pk)))

    trail = section(page, "ormai-audit-trail")
    events = {e.tool: e for e in AuditEvent.objects.filter(approval=held)}
    executed = AuditEvent.objects.get(approval=held, tool="db.update", outcome="ok")
    request = AuditEvent.objects.get(approval=held, outcome="pending_approval")
    decision = events["approval.approve"]
    for event, role in (
        (request, "request"),
        (decision, "decision (approve)"),
        (executed, "executed write"),
    ):
        link = audit_url("change", event.pk)
        assert re.search(rf'<a href="{link}">{event.pk}</a> {re.escape(role)} ', trail)


def test_no_one_adds_changes_or_deletes_approval_requests_in_the_admin(
    use_policy, client, admin_client
):
    held = hold_update([SubscriptionFactory(plan="basic")], {"plan": "pro"})
    before = ApprovalRequest.objects.filter(pk=held.pk).values().get()

    changed = admin_client.post(url("change", held.pk), {"status": "executed", "_save": "Save"})
    added = admin_client.post(url("add"), {"tool": "db.update", "model": "x"})
    deleted = admin_client.post(url("delete", held.pk), {"post": "yes"})
    page = admin_client.get(url("change", held.pk)).content.decode()
    listing = admin_client.get(url("changelist")).content.decode()

    assert (changed.status_code, added.status_code, deleted.status_code) == (403, 403, 403)
    assert ApprovalRequest.objects.filter(pk=held.pk).values().get() == before
    assert ApprovalRequest.objects.count() == 1
    assert 'name="_save"' not in page
    assert "delete_selected" not in listing
    assert url("add") not in listing


# --- deciding with the buttons -----------------------------------------------------------


def test_approve_button_runs_the_call_and_records_the_admin_username(
    use_policy, client, django_user_model
):
    subscription = SubscriptionFactory(plan="basic")
    held = hold_update([subscription], {"plan": "pro"})
    browser = approver(client, django_user_model, username="lee@example.com")

    page = browser.get(url("change", held.pk)).content.decode()
    assert f'action="{url("approve", held.pk)}"' in page
    assert f'action="{url("deny", held.pk)}"' in page
    response = browser.post(url("approve", held.pk), {"note": "OK per CSM"}, follow=True)

    assert response.redirect_chain[-1][0] == url("change", held.pk)
    assert "the call ran and changed 1 row(s)" in text_of(response)
    held.refresh_from_db()
    subscription.refresh_from_db()
    assert subscription.plan == "pro"
    assert held.status == "executed"
    decision = held.decisions.get()
    assert (decision.approver, decision.verdict, decision.note) == (
        "lee@example.com",
        "approve",
        "OK per CSM",
    )
    assert AuditEvent.objects.get(approval=held, tool="approval.approve").principal == (
        "lee@example.com"
    )
    executed = AuditEvent.objects.get(approval=held, tool="db.update", outcome="ok")
    assert executed.principal == "agent:support-bot"  # it ran as the requester
    assert f'action="{url("approve", held.pk)}"' not in text_of(response)  # decided: no buttons


def test_two_approvers_each_click_and_the_call_runs_on_the_second(
    use_policy, client, django_user_model
):
    subscription = SubscriptionFactory(seats=1)
    held = hold_update([subscription], {"seats": 150})

    first = approver(client, django_user_model, username="kim")
    after_first = text_of(first.post(url("approve", held.pk), follow=True))
    again = text_of(first.post(url("approve", held.pk), follow=True))
    subscription.refresh_from_db()
    assert "1 / 2 approvals" in after_first
    assert "DUPLICATE_APPROVER" in again
    assert subscription.seats == 1

    second = approver(client, django_user_model, username="lee")
    second.post(url("approve", held.pk))

    held.refresh_from_db()
    subscription.refresh_from_db()
    assert subscription.seats == 150
    assert held.status == "executed"
    assert sorted(held.decisions.values_list("approver", flat=True)) == ["kim", "lee"]


def test_deny_without_a_note_is_refused(use_policy, client, django_user_model):
    held = hold_update([SubscriptionFactory(plan="basic")], {"plan": "pro"})
    browser = approver(client, django_user_model)

    for note in ("", "   "):
        response = browser.post(url("deny", held.pk), {"note": note}, follow=True)
        assert "A denial needs a note" in text_of(response)

    held.refresh_from_db()
    assert held.status == "pending"
    assert not held.decisions.exists()


def test_deny_with_a_note_denies_and_nothing_runs(use_policy, client, django_user_model):
    subscription = SubscriptionFactory(plan="basic")
    held = hold_update([subscription], {"plan": "pro"})

    response = approver(client, django_user_model, username="lee").post(
        url("deny", held.pk), {"note": "Not in their contract"}, follow=True
    )

    assert f"Denied {held.pk}" in text_of(response)
    held.refresh_from_db()
    subscription.refresh_from_db()
    assert held.status == "denied"
    assert subscription.plan == "basic"
    assert list(held.decisions.values_list("approver", "verdict", "note")) == [
        ("lee", "deny", "Not in their contract")
    ]


def test_admin_whose_username_is_the_requester_gets_the_error_message(
    use_policy, client, django_user_model
):
    requester = ToolContext(principal="support-bot", tenant_id=7)
    subscription = SubscriptionFactory(plan="basic")
    held = hold_update([subscription], {"plan": "pro"}, context=requester)

    response = approver(client, django_user_model, username="support-bot").post(
        url("approve", held.pk), follow=True
    )

    assert "APPROVER_IS_REQUESTER: Whoever asked for a write can't approve" in text_of(response)
    held.refresh_from_db()
    subscription.refresh_from_db()
    assert held.status == "pending"
    assert not held.decisions.exists()
    assert subscription.plan == "basic"


def test_an_expired_request_shows_no_buttons_and_refuses_a_decision(
    use_policy, client, django_user_model
):
    held = hold_update([SubscriptionFactory(plan="basic")], {"plan": "pro"})
    ApprovalRequest.objects.filter(pk=held.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    browser = approver(client, django_user_model)

    page = text_of(browser.get(url("change", held.pk)))
    response = browser.post(url("approve", held.pk), follow=True)

    assert url("approve", held.pk) not in page
    assert "expired at" in section(page, "ormai-decide")
    assert "nobody can approve or deny it now" in page
    assert "APPROVAL_EXPIRED" in text_of(response)
    assert not ApprovalDecision.objects.filter(approval_id=held.pk).exists()


def test_a_call_that_fails_when_approved_is_reported(use_policy, client, django_user_model):
    subscription = SubscriptionFactory(plan="basic")
    held = hold_update([subscription], {"plan": "pro"})
    Subscription.objects.filter(pk=subscription.pk).delete()  # gone since it was held

    response = approver(client, django_user_model).post(url("approve", held.pk), follow=True)

    assert "but the call failed when it ran: NOT_FOUND" in text_of(response)
    held.refresh_from_db()
    assert held.status == "failed"
    assert held.failure.startswith("NOT_FOUND")


def test_the_decision_views_only_take_posts(use_policy, client, django_user_model):
    held = hold_update([SubscriptionFactory(plan="basic")], {"plan": "pro"})
    browser = approver(client, django_user_model)

    assert browser.get(url("approve", held.pk)).status_code == 405
    assert browser.get(url("deny", held.pk)).status_code == 405
    held.refresh_from_db()
    assert held.status == "pending"


def test_a_user_without_the_permission_sees_no_buttons_and_gets_403(
    use_policy, client, django_user_model
):
    subscription = SubscriptionFactory(plan="basic")
    held = hold_update([subscription], {"plan": "pro"})
    browser = viewer(client, django_user_model)

    page = browser.get(url("change", held.pk))
    listing = browser.get(url("changelist")).content.decode()
    approved = browser.post(url("approve", held.pk), {"note": "sure"})
    denied = browser.post(url("deny", held.pk), {"note": "no"})
    bulk = browser.post(
        url("changelist"),
        {"action": "approve_selected", "_selected_action": [held.pk], "post": "yes"},
    )

    assert page.status_code == 200
    assert held.pk in page.content.decode()
    assert url("approve", held.pk) not in page.content.decode()
    assert url("deny", held.pk) not in page.content.decode()
    assert "approve_selected" not in listing
    assert "deny_selected" not in listing
    assert (approved.status_code, denied.status_code) == (403, 403)
    assert bulk.status_code in (200, 302)
    held.refresh_from_db()
    subscription.refresh_from_db()
    assert held.status == "pending"
    assert not held.decisions.exists()
    assert subscription.plan == "basic"


# --- bulk actions --------------------------------------------------------------------------


def test_bulk_approve_asks_first_then_approves_each_and_reports_refusals(
    use_policy, client, django_user_model
):
    subscriptions = [SubscriptionFactory(plan="basic") for _ in range(3)]
    mine = ToolContext(principal="agent:support-bot", tenant_id=7, on_behalf_of="lee")
    first = hold_update([subscriptions[0]], {"plan": "pro"})
    second = hold_update([subscriptions[1]], {"plan": "pro"})
    asked_by_lee = hold_update([subscriptions[2]], {"plan": "pro"}, context=mine)
    selected = [first.pk, second.pk, asked_by_lee.pk]
    browser = approver(client, django_user_model, username="lee")

    confirmation = browser.post(
        url("changelist"), {"action": "approve_selected", "_selected_action": selected}
    )

    assert confirmation.status_code == 200
    page = confirmation.content.decode()
    assert all(pk in page for pk in selected)
    assert 'name="post" value="yes"' in page
    assert not ApprovalDecision.objects.exists()  # asking decides nothing

    response = browser.post(
        url("changelist"),
        {"action": "approve_selected", "_selected_action": selected, "post": "yes", "note": ""},
        follow=True,
    )

    text = text_of(response)
    assert "Approved 2 of 3" in text
    assert f"Refused {asked_by_lee.pk}: APPROVER_IS_REQUESTER" in text
    statuses = dict(ApprovalRequest.objects.values_list("pk", "status"))
    assert statuses == {first.pk: "executed", second.pk: "executed", asked_by_lee.pk: "pending"}
    assert [s.plan for s in Subscription.objects.order_by("pk")] == ["pro", "pro", "basic"]
    assert set(ApprovalDecision.objects.values_list("approver", flat=True)) == {"lee"}


def test_bulk_deny_needs_a_note_on_the_confirmation_page(use_policy, client, django_user_model):
    subscriptions = [SubscriptionFactory(plan="basic") for _ in range(2)]
    held = [hold_update([s], {"plan": "pro"}) for s in subscriptions]
    selected = [h.pk for h in held]
    browser = approver(client, django_user_model, username="lee")
    action = {"action": "deny_selected", "_selected_action": selected}

    confirmation = browser.post(url("changelist"), action)
    no_note = browser.post(url("changelist"), {**action, "post": "yes", "note": "  "})

    assert confirmation.status_code == 200
    assert 'name="note"' in confirmation.content.decode()
    assert no_note.status_code == 200
    assert "A denial needs a note" in text_of(no_note)
    assert not ApprovalDecision.objects.exists()

    response = browser.post(
        url("changelist"), {**action, "post": "yes", "note": "Duplicate requests"}, follow=True
    )

    assert "Denied 2 of 2" in text_of(response)
    assert set(ApprovalRequest.objects.values_list("status", flat=True)) == {"denied"}
    assert set(ApprovalDecision.objects.values_list("approval", "approver", "verdict", "note")) == {
        (pk, "lee", "deny", "Duplicate requests") for pk in selected
    }
    assert set(Subscription.objects.values_list("plan", flat=True)) == {"basic"}


# --- the audit dashboard -------------------------------------------------------------------


def test_audit_pages_link_the_approval_what_an_event_follows_from_and_what_follows(
    use_policy, client, django_user_model
):
    held = hold_update([SubscriptionFactory(plan="basic")], {"plan": "pro"})
    approve(held.pk, "kim")
    request = AuditEvent.objects.get(approval=held, outcome="pending_approval")
    decision = AuditEvent.objects.get(approval=held, tool="approval.approve")
    executed = AuditEvent.objects.get(approval=held, tool="db.update", outcome="ok")
    browser = approver(client, django_user_model)

    approval_link = f'<a href="{url("change", held.pk)}">{held.pk}</a>'
    listing = browser.get(audit_url("changelist")).content.decode()
    request_page = browser.get(audit_url("change", request.pk)).content.decode()
    executed_page = browser.get(audit_url("change", executed.pk)).content.decode()

    assert f'href="{url("change", held.pk)}"' in cell(
        row_of(listing, executed.pk), "outcome_and_code"
    )
    assert approval_link in request_page
    followed_by = readonly_field(request_page, "consequence_links")
    assert f'<a href="{audit_url("change", decision.pk)}">{decision.pk}</a>' in followed_by
    assert f'<a href="{audit_url("change", executed.pk)}">{executed.pk}</a>' in followed_by
    assert readonly_field(executed_page, "caused_by_link") == (
        f'<a href="{audit_url("change", request.pk)}">{request.pk}</a>'
    )
    assert readonly_field(executed_page, "approval_link") == approval_link


def test_audit_dashboard_filters_and_searches_approval_events(
    use_policy, client, django_user_model
):
    held = hold_update([SubscriptionFactory(plan="basic")], {"plan": "pro"})
    approve(held.pk, "kim", note="approved after the call with finance")
    decision = AuditEvent.objects.get(approval=held, tool="approval.approve")
    request = AuditEvent.objects.get(approval=held, outcome="pending_approval")
    browser = approver(client, django_user_model)
    changelist = audit_url("changelist")

    def listed(params):
        response = browser.get(changelist, params)
        assert response.status_code == 200
        page = response.content.decode()
        return {e.pk for e in (decision, request) if e.pk in page}

    assert listed({"outcome__exact": "pending_approval"}) == {request.pk}
    assert listed({"tool": "approval.approve"}) == {decision.pk}
    assert listed({"principal": "kim"}) == {decision.pk}
    # The search box matches an id, run id or principal exactly (an index lookup); a word
    # of the reason would need a scan of the whole log.
    assert listed({"q": "run-admin-7"}) == {decision.pk, request.pk}
    assert listed({"q": "run-admin"}) == set()
    since = (request.created_at - dt.timedelta(minutes=1)).isoformat()
    assert listed({"created_at__gte": since}) == {decision.pk, request.pk}


def test_the_queue_costs_the_same_queries_for_one_request_or_many(
    use_policy, client, django_user_model
):
    browser = approver(client, django_user_model)
    hold_update([SubscriptionFactory()], {"plan": "pro"})
    browser.get(url("changelist"))  # warm the session and the content types

    def queries_to_list():
        with CaptureQueriesContext(connection) as captured:
            assert browser.get(url("changelist")).status_code == 200
        return len(captured)

    one = queries_to_list()
    for _ in range(4):
        approve(hold_update([SubscriptionFactory()], {"seats": 150}).pk, "kim")

    assert queries_to_list() == one
