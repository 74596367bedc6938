"""Slack, both ways: a held call is posted with Approve / Deny buttons, and a signed click
decides it, as the Django user the Slack user maps to.

Slack is a fake Web API on 127.0.0.1 (``fake_slack``) that the official ``WebClient`` talks
to over HTTP; interaction requests are signed here exactly as Slack signs them; Celery runs
eagerly, so the whole chain runs: hold -> signal -> task -> chat.postMessage, and click ->
verify -> receipt -> task -> approve -> signal -> task -> chat.update.
"""

import json
import time

import pytest
from celery import current_app
from django.conf import settings
from django.test import Client, override_settings

from ormai_django import ToolContext, execute
from ormai_django.models import ApprovalDecision, ApprovalMessage, ApprovalRequest, AuditEvent
from tests.approvals.fake_slack import (
    BOT_TOKEN,
    CHANNEL,
    click,
    fake_slack,
    signed,
    slack_settings,
    submit_note,
)
from tests.factories import SubscriptionFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, on_behalf_of="maria")
URL = "/ormai/slack/interactions/"


@pytest.fixture
def eager_celery(monkeypatch):
    app = current_app._get_current_object()
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    monkeypatch.setitem(app.conf, "task_eager_propagates", True)
    return app


@pytest.fixture
def slack(eager_celery):
    """The fake Slack, configured as ORMAI["SLACK"]; lee and kim approve, sam may not."""
    with fake_slack() as fake:
        fake.add_user("U0LEE", "lee@shop.test")
        fake.add_user("U0KIM", "kim@shop.test")
        fake.add_user("U0SAM", "sam@shop.test")
        fake.add_user("U0MARIA", "maria@shop.test")
        UserFactory(username="lee", approver=True)
        UserFactory(username="kim", approver=True)
        UserFactory(username="sam")
        UserFactory(username="maria", approver=True)
        ormai = {**settings.ORMAI, "SLACK": slack_settings(fake.url)}
        with override_settings(ORMAI=ormai):
            yield fake


def hold_upgrade(policy=None, seats=5):
    subscription = SubscriptionFactory(plan="basic", seats=1)
    result = execute(
        {
            "name": "db.update",
            "arguments": {
                "model": "Subscription",
                "id": subscription.id,
                "data": {"seats": seats},
                "reason": "Ann's team grew <!channel>",
            },
        },
        AGENT,
        policy,
    )
    assert result["outcome"] == "pending_approval", result
    return subscription, result["approval_id"]


def post(payload, retry=None, **sign_options):
    body, headers = signed(payload, **sign_options)
    if retry is not None:
        headers["HTTP_X_SLACK_RETRY_NUM"] = str(retry)
        headers["HTTP_X_SLACK_RETRY_REASON"] = "http_timeout"
    return Client().post(URL, body, content_type="application/x-www-form-urlencoded", **headers)


def as_json(value):
    """A Web API argument as sent: JSON bodies carry objects, form bodies JSON text."""
    return json.loads(value) if isinstance(value, str) else value


def texts(blocks):
    """Every piece of text in a message's blocks (as the fake received them), joined."""
    blocks = as_json(blocks)
    found = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return "\n".join(found)


def buttons(blocks):
    blocks = as_json(blocks)
    return [
        (element["action_id"], element["value"])
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def test_a_held_call_is_posted_with_what_who_why_the_rule_and_two_buttons(slack):
    subscription, approval_id = hold_upgrade()

    (posted,) = slack.of("chat.postMessage")
    assert slack.calls[0]["auth"] == f"Bearer {BOT_TOKEN}"
    assert posted["channel"] == CHANNEL
    assert buttons(posted["blocks"]) == [
        ("ormai.approve", approval_id),
        ("ormai.deny", approval_id),
    ]
    shown = texts(posted["blocks"])
    approval = ApprovalRequest.objects.get(pk=approval_id)
    assert "Approval needed: db.update on shop.Subscription" in shown
    assert "agent:support-bot for maria (tenant 7)" in shown
    assert "Ann's team grew &lt;!channel&gt;" in shown  # what the agent wrote is escaped
    assert approval.why_held in shown and f"[rule {approval.rule_ids[0]}]" in shown
    assert "*Approvals*\n0 of 1" in shown
    assert f"#{subscription.id}: seats: 1 → 5" in shown
    assert f"<!date^{int(approval.expires_at.timestamp())}^" in shown
    message = ApprovalMessage.objects.get(approval_id=approval_id)
    assert (message.channel, message.service) == (CHANNEL, "slack")


def test_a_signed_approve_click_executes_the_call_once_and_updates_the_message(slack):
    subscription, approval_id = hold_upgrade()
    ts = ApprovalMessage.objects.get(approval_id=approval_id).ts

    answer = post(click("ormai.approve", approval_id, "U0LEE", ts))

    assert answer.status_code == 200
    subscription.refresh_from_db()
    assert subscription.seats == 5
    approval = ApprovalRequest.objects.get(pk=approval_id)
    assert approval.status == "executed"
    assert approval.decisions.get().approver == "lee"  # the Django username
    executed = AuditEvent.objects.filter(approval=approval, tool="db.update", outcome="ok")
    assert executed.count() == 1
    (update,) = slack.of("chat.update")
    assert (update["channel"], update["ts"]) == (CHANNEL, ts)
    shown = texts(update["blocks"])
    assert "*Executed*" in shown and "lee approved" in shown and "1 row changed" in shown
    assert buttons(update["blocks"]) == []  # nothing left to click
    assert slack.of("chat.postEphemeral") == []


@pytest.mark.parametrize(
    "how",
    ["no signature", "wrong secret", "six minutes old", "a timestamp that isn't a number"],
)
def test_a_bad_or_stale_signature_is_refused_401_and_changes_nothing(slack, how):
    subscription, approval_id = hold_upgrade()
    payload = click("ormai.approve", approval_id, "U0LEE")
    body, headers = signed(payload)
    if how == "no signature":
        headers = {}
    elif how == "wrong secret":
        body, headers = signed(payload, secret="not-the-signing-secret")
    elif how == "six minutes old":
        body, headers = signed(payload, timestamp=int(time.time()) - 6 * 60)
    else:
        headers["HTTP_X_SLACK_REQUEST_TIMESTAMP"] = "yesterday"
    calls_before = len(slack.calls)

    answer = Client().post(URL, body, content_type="application/x-www-form-urlencoded", **headers)

    assert answer.status_code == 401
    assert ApprovalRequest.objects.get(pk=approval_id).status == "pending"
    assert not ApprovalDecision.objects.exists()
    subscription.refresh_from_db()
    assert subscription.seats == 1
    assert len(slack.calls) == calls_before  # not even users.info


def test_a_slack_user_without_the_approve_permission_is_told_why(slack):
    _, approval_id = hold_upgrade()

    assert post(click("ormai.approve", approval_id, "U0SAM")).status_code == 200

    (told,) = slack.of("chat.postEphemeral")
    assert (told["user"], told["channel"]) == ("U0SAM", CHANNEL)
    assert "sam doesn't hold the permission" in told["text"]
    assert ApprovalRequest.objects.get(pk=approval_id).status == "pending"
    assert slack.of("chat.update") == []


def test_a_slack_user_who_is_nobody_here_is_told_why(slack):
    _, approval_id = hold_upgrade()
    slack.add_user("U0GHOST", "ghost@elsewhere.test")

    post(click("ormai.approve", approval_id, "U0GHOST"))
    post(click("ormai.deny", approval_id, "U0NOSUCH"))

    ghost, nosuch = slack.of("chat.postEphemeral")
    assert "ghost@elsewhere.test" in ghost["text"] and "no active user" in ghost["text"]
    assert "user_not_found" in nosuch["text"]
    assert slack.of("views.open") == []
    assert not ApprovalDecision.objects.exists()


def test_the_users_setting_maps_a_slack_user_without_asking_slack(slack):
    _, approval_id = hold_upgrade()
    ormai = {**settings.ORMAI, "SLACK": slack_settings(slack.url, USERS={"U0OTHER": "kim"})}

    with override_settings(ORMAI=ormai):
        post(click("ormai.approve", approval_id, "U0OTHER"))

    assert ApprovalRequest.objects.get(pk=approval_id).decisions.get().approver == "kim"
    assert slack.of("users.info") == []


def test_the_requester_cannot_approve_their_own_call_from_slack(slack):
    _, approval_id = hold_upgrade()  # on behalf of maria, who may approve others' calls

    post(click("ormai.approve", approval_id, "U0MARIA"))

    (told,) = slack.of("chat.postEphemeral")
    assert told["user"] == "U0MARIA"
    assert "you are its requester" in told["text"]
    assert ApprovalRequest.objects.get(pk=approval_id).status == "pending"


def test_deny_opens_a_modal_and_its_note_reaches_the_agent(slack):
    subscription, approval_id = hold_upgrade()
    ts = ApprovalMessage.objects.get(approval_id=approval_id).ts

    assert post(click("ormai.deny", approval_id, "U0KIM", ts)).status_code == 200
    (opened,) = slack.of("views.open")
    view = as_json(opened["view"])
    assert view["callback_id"] == "ormai.deny" and opened["trigger_id"]
    assert ApprovalRequest.objects.get(pk=approval_id).status == "pending"  # not yet

    answer = post(submit_note(view, "U0KIM", "Five seats need the Team plan"))

    assert answer.status_code == 200 and answer.content == b""  # the modal closes
    status = execute({"name": "approval.status", "arguments": {"approval_id": approval_id}}, AGENT)
    assert status["status"] == "denied"
    assert [n["note"] for n in status["notes"]] == ["Five seats need the Team plan"]
    subscription.refresh_from_db()
    assert subscription.seats == 1
    (update,) = slack.of("chat.update")
    shown = texts(update["blocks"])
    assert "*Denied*" in shown and "kim denied: “Five seats need the Team plan”" in shown


def test_a_deny_without_a_note_keeps_the_modal_open_and_says_why(slack):
    _, approval_id = hold_upgrade()
    post(click("ormai.deny", approval_id, "U0KIM"))
    view = as_json(slack.of("views.open")[0]["view"])

    answer = post(submit_note(view, "U0KIM", "   "))

    assert answer.status_code == 200
    assert answer.json()["response_action"] == "errors"
    assert "note" in answer.json()["errors"]
    assert ApprovalRequest.objects.get(pk=approval_id).status == "pending"


def test_a_modal_that_could_not_open_in_time_is_told(slack):
    _, approval_id = hold_upgrade()
    slack.fail_views_open = True

    post(click("ormai.deny", approval_id, "U0KIM"))

    (told,) = slack.of("chat.postEphemeral")
    assert "click Deny again" in told["text"]


def test_slacks_retries_decide_nothing_twice(slack):
    policy = two_person_policy()
    _, approval_id = hold_upgrade(policy)
    payload = click("ormai.approve", approval_id, "U0LEE")

    with override_settings(ORMAI={**settings.ORMAI, "POLICY": policy}):
        first = post(payload)
        calls = len(slack.calls)
        retries = [post(payload, retry=n) for n in (1, 2)]

    assert first.status_code == 200 and all(r.status_code == 200 for r in retries)
    approval = ApprovalRequest.objects.get(pk=approval_id)
    assert approval.decisions.count() == 1 and approval.status == "pending"
    assert len(slack.calls) == calls  # a retry calls nobody: no "already decided" either
    told = slack.of("chat.postEphemeral")
    assert [t["text"] for t in told] == [
        "Your approval is recorded: 1 of 2; it runs when 1 more approve."
    ]


def test_a_two_person_rule_runs_on_the_second_click_and_shows_both(slack):
    policy = two_person_policy()
    subscription, approval_id = hold_upgrade(policy)

    with override_settings(ORMAI={**settings.ORMAI, "POLICY": policy}):
        post(click("ormai.approve", approval_id, "U0LEE"))
        middle = texts(slack.of("chat.update")[-1]["blocks"])
        post(click("ormai.approve", approval_id, "U0LEE"))  # a second, new click: refused
        post(click("ormai.approve", approval_id, "U0KIM"))

    assert "*Approvals*\n1 of 2 (lee)" in middle
    subscription.refresh_from_db()
    assert subscription.seats == 5
    assert "DUPLICATE_APPROVER" in slack.of("chat.postEphemeral")[-1]["text"]
    final = texts(slack.of("chat.update")[-1]["blocks"])
    assert "lee approved" in final and "kim approved" in final and "*Executed*" in final


def two_person_policy():
    from tests.support import shop_writes

    return (
        shop_writes()
        .enable_writes(models=["Subscription"], writable_fields={"Subscription": ["seats"]})
        .require_approval(tool="db.update", model="Subscription", approvers=2)
        .build()
    )


def test_nothing_is_posted_while_slack_is_not_configured(eager_celery):
    with fake_slack() as fake:
        hold_upgrade()
    assert fake.calls == []
    assert not ApprovalMessage.objects.exists()


def test_the_endpoint_refuses_everything_while_slack_is_not_configured():
    _, approval_id = hold_upgrade()
    assert post(click("ormai.approve", approval_id, "U0LEE")).status_code == 401
    assert Client().get(URL).status_code == 405


def test_a_call_that_fails_when_it_runs_is_shown_failed(slack):
    subscription, approval_id = hold_upgrade()
    subscription.delete()  # gone before anyone decides

    post(click("ormai.approve", approval_id, "U0LEE"))

    assert ApprovalRequest.objects.get(pk=approval_id).status == "failed"
    shown = texts(slack.of("chat.update")[-1]["blocks"])
    assert "*Failed when it ran*" in shown and "Nothing was changed: NOT_FOUND" in shown
