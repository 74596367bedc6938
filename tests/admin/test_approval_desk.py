"""The approver's desk: "waiting for me", every held row a page at a time, who may decide
now, approve with changes, bulk confirmations that show the diffs, Django's own history
(LogEntry) and simple-history's history_user, the pending count on the admin index, and the
agent's history on a host object's page."""

import re

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.utils import quote
from django.urls import reverse

from ormai_django import ToolContext
from ormai_django.approvals import approve
from ormai_django.models import ApprovalDecision, ApprovalRequest, AuditEvent
from sandbox_project.shop.models import Subscription
from tests.admin.test_approval_admin import (
    approver,
    held_updates_policy,
    hold_update,
    section,
    text_of,
    url,
    viewer,
)
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def use_policy(settings):
    policy = held_updates_policy()
    settings.ORMAI = {**settings.ORMAI, "POLICY": policy}
    return policy


def listed(browser, params, *approvals):
    page = browser.get(url("changelist"), params).content.decode()
    return {a.pk for a in approvals if a.pk in page}


# --- the queue ---------------------------------------------------------------------------


def test_waiting_for_me_leaves_out_what_i_asked_for_decided_or_cant_decide(
    client, django_user_model
):
    waiting = hold_update([SubscriptionFactory()], {"plan": "pro"})
    decided_by_me = hold_update([SubscriptionFactory(seats=1)], {"seats": 150})
    approve(decided_by_me.pk, "lee")  # one of two approvals: still pending, not for me
    needs_others = hold_update([SubscriptionFactory(seats=1)], {"seats": 200})
    approve(needs_others.pk, "kim")  # kim's approval: still waiting for me
    mine = hold_update(
        [SubscriptionFactory()], {"plan": "pro"}, context=ToolContext(principal="lee", tenant_id=7)
    )
    denied = hold_update([SubscriptionFactory()], {"plan": "pro"})
    ApprovalRequest.objects.filter(pk=denied.pk).update(status="denied")
    browser = approver(client, django_user_model, "lee")
    every = (waiting, decided_by_me, needs_others, mine, denied)

    assert listed(browser, {"waiting": "me"}, *every) == {waiting.pk, needs_others.pk}
    assert listed(browser, {}, *every) == {a.pk for a in every}
    assert listed(browser, {"tenant_id": "7"}, *every) == {a.pk for a in every}
    assert listed(browser, {"tenant_id": "8"}, *every) == set()


def test_the_admin_index_shows_how_many_requests_wait(client, django_user_model):
    hold_update([SubscriptionFactory()], {"plan": "pro"})
    hold_update([SubscriptionFactory()], {"plan": "enterprise"})

    page = text_of(approver(client, django_user_model).get(reverse("admin:index")))

    notice = re.search(r'id="ormai-pending-approvals".*?</div>', page, flags=re.S).group(0)
    assert "2 approval requests are pending" in notice
    assert url("changelist") + "?waiting=me" in notice
    assert reverse("admin:ormai_django_auditevent_dashboard") in notice  # approvers see the log


# --- the request page --------------------------------------------------------------------


def test_every_held_row_is_listed_a_page_at_a_time_with_rows_changed_since_marked(
    client, django_user_model
):
    subscriptions = SubscriptionFactory.create_batch(60, plan="basic")
    held = hold_update(subscriptions, {"plan": "pro"})
    # Changed by someone after the call was held (the preview kept its before value).
    Subscription.objects.filter(pk=subscriptions[0].pk).update(plan="enterprise")
    browser = approver(client, django_user_model)

    first = text_of(browser.get(url("change", held.pk)))
    second = text_of(browser.get(url("change", held.pk), {"page": 2}))

    def row_ids(page):
        preview = section(page, "ormai-preview")
        return re.findall(
            r'<th scope="row" class="ormai-row-id"[^>]*><a href="[^"]+">(\d+)</a>', preview
        )

    ids = [str(s.pk) for s in subscriptions]
    assert row_ids(first) == ids[:50]
    assert row_ids(second) == ids[50:]
    assert "rows 1-50 of 60" in first and "rows 51-60 of 60" in second
    assert "changed since: now enterprise" in section(first, "ormai-preview")
    assert "1 row on this page changed since the call was held" in first
    subscription_url = reverse("admin:shop_subscription_change", args=[subscriptions[0].pk])
    assert f'<a href="{subscription_url}">' in first


def test_the_decision_block_is_for_those_who_may_decide_now(client, django_user_model):
    held = hold_update([SubscriptionFactory(seats=1)], {"seats": 150})  # two approvers

    as_viewer = text_of(viewer(client, django_user_model).get(url("change", held.pk)))
    assert 'id="ormai-approve-form"' not in as_viewer
    assert "deciding needs the" in as_viewer

    lee = approver(client, django_user_model, "lee")
    assert 'id="ormai-approve-form"' in text_of(lee.get(url("change", held.pk)))
    lee.post(url("approve", held.pk), {"note": "ok"})
    page = text_of(lee.get(url("change", held.pk)))
    assert 'id="ormai-approve-form"' not in page
    assert "You already decided this request (approve at " in page
    assert "1 of 2" in page


def test_approve_with_changes_through_the_admin_form_runs_the_edited_call(
    client, django_user_model
):
    subscription = SubscriptionFactory(plan="basic", seats=3)
    held = hold_update([subscription], {"plan": "enterprise"})
    browser = approver(client, django_user_model, "lee")

    page = text_of(browser.get(url("change", held.pk)))
    form = re.search(r'id="ormai-edit-form".*?</form>', page, flags=re.S).group(0)
    assert 'name="edit__plan"' in form and 'value="enterprise"' in form
    assert 'name="edit__seats"' in form  # writable, not set by the call
    response = browser.post(
        url("approve", held.pk),
        {"_with_changes": "1", "edit__plan": "pro", "edit__seats": "", "note": "Pro is enough"},
        follow=True,
    )

    assert "the call ran and changed 1 row" in text_of(response)
    subscription.refresh_from_db()
    assert (subscription.plan, subscription.seats) == ("pro", 3)
    held.refresh_from_db()
    assert held.edits == {"plan": "pro"}
    decision = ApprovalDecision.objects.get(approval=held)
    assert (decision.approver, decision.edits, decision.note) == (
        "lee",
        {"plan": "pro"},
        "Pro is enough",
    )


def test_approve_with_changes_without_a_change_decides_nothing(client, django_user_model):
    held = hold_update([SubscriptionFactory(plan="basic")], {"plan": "pro"})
    browser = approver(client, django_user_model)

    response = browser.post(
        url("approve", held.pk), {"_with_changes": "1", "edit__plan": "pro"}, follow=True
    )

    assert "No field was changed; nothing was decided" in text_of(response)
    assert not ApprovalDecision.objects.filter(approval=held).exists()


# --- Django's history and simple-history's ---------------------------------------------------


def test_approving_and_denying_write_log_entries_and_name_the_approver_in_history(
    client, django_user_model
):
    subscription = SubscriptionFactory(plan="basic")
    approved = hold_update([subscription], {"plan": "pro"})
    denied = hold_update([SubscriptionFactory()], {"plan": "enterprise"})
    browser = approver(client, django_user_model, "lee")

    browser.post(url("approve", approved.pk), {"note": "per the customer's email"})
    browser.post(url("deny", denied.pk), {"note": "not in the plan"})

    entries = LogEntry.objects.filter(user__username="lee", action_flag=CHANGE)
    on_approved = entries.get(object_id=approved.pk)
    assert on_approved.change_message.startswith("Approved (1 of 1)")
    assert "per the customer's email" in on_approved.change_message
    assert entries.get(object_id=denied.pk).change_message.startswith("Denied")
    on_subscription = entries.get(
        content_type__model="subscription", object_id=str(subscription.pk)
    )
    assert "agent:support-bot" in on_subscription.change_message
    assert approved.pk in on_subscription.change_message
    # simple-history: the approved write's row names the approving Django user.
    latest = Subscription.history.filter(id=subscription.pk).latest("history_date")
    assert latest.plan == "pro"
    assert latest.history_user.get_username() == "lee"


def test_an_approval_outside_the_admin_names_the_user_with_that_username(django_user_model):
    kim = django_user_model.objects.create_user("kim")
    subscription = SubscriptionFactory(plan="basic")
    held = hold_update([subscription], {"plan": "pro"})

    approve(held.pk, "kim")

    latest = Subscription.history.filter(id=subscription.pk).latest("history_date")
    assert latest.history_user == kim


# --- bulk decisions --------------------------------------------------------------------------


def test_the_bulk_confirmation_shows_each_requests_summary_and_diff(client, django_user_model):
    few = SubscriptionFactory.create_batch(2, plan="basic")
    many = SubscriptionFactory.create_batch(8, plan="basic", seats=4)
    small = hold_update(few, {"plan": "pro"})
    large = hold_update(many, {"seats": 10})
    browser = approver(client, django_user_model)

    response = browser.post(
        url("changelist"),
        {"action": "approve_selected", "_selected_action": [small.pk, large.pk]},
    )

    page = text_of(response)
    assert response.status_code == 200
    assert not ApprovalDecision.objects.exists()  # asked first
    small_block = re.search(rf'id="ormai-selected-{small.pk}".*?</section>', page, flags=re.S)
    large_block = re.search(rf'id="ormai-selected-{large.pk}".*?</section>', page, flags=re.S)
    assert "Subscription: 2 rows, plan -&gt; pro" in small_block.group(0) or (
        "Subscription: 2 rows, plan -> pro" in small_block.group(0)
    )
    for subscription in few:
        assert re.search(
            rf"<th[^>]*>{subscription.pk}</th><td>plan</td><td>basic</td><td>pro</td>",
            small_block.group(0),
        )
    large_rows = re.findall(r"<td>seats</td><td>4</td><td>10</td>", large_block.group(0))
    assert len(large_rows) == 5
    assert "and 3 more rows" in large_block.group(0)


# --- the agent's history on a host object's page ----------------------------------------------


def test_a_host_objects_page_links_to_what_the_agent_did_to_it(client, django_user_model):
    subscription = SubscriptionFactory(plan="basic")
    other = SubscriptionFactory(plan="basic")
    held = hold_update([subscription], {"plan": "pro"})
    approve(held.pk, "kim")
    hold_update([other], {"plan": "pro"})
    browser = approver(client, django_user_model)
    user = django_user_model.objects.get(username="lee")
    user.is_superuser = True  # the host model's own view permission, and rollback
    user.save()

    change = text_of(browser.get(reverse("admin:shop_subscription_change", args=[subscription.pk])))
    history_url = reverse("admin:shop_subscription_agent_history", args=[quote(subscription.pk)])
    assert history_url in change
    page = text_of(browser.get(history_url))

    executed = AuditEvent.objects.get(approval=held, tool="db.update", outcome="ok")
    requested = AuditEvent.objects.get(approval=held, outcome="pending_approval")
    events = re.search(r'id="ormai-agent-events".*?</table>', page, flags=re.S).group(0)
    assert reverse("admin:ormai_django_auditevent_change", args=[quote(executed.pk)]) in page
    assert reverse("admin:ormai_django_auditevent_change", args=[quote(requested.pk)]) in page
    assert "plan: basic -&gt; pro" in events or "plan: basic -> pro" in events
    assert reverse("admin:ormai_django_auditevent_rollback", args=[quote(executed.pk)]) in page
    assert url("change", held.pk) in page
    # Only this object's: the other subscription's request isn't listed.
    other_request = (
        AuditEvent.objects.filter(outcome="pending_approval").exclude(approval=held).get()
    )
    assert other_request.pk not in page
