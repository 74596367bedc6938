"""No one waits forever, nobody gets missed: a rule's remind_after reminds the approvers of
a request still pending, escalate_after tells a second group (usernames, Django groups),
each once; Slack and the webhooks hear of both, and of the expiry."""

from datetime import timedelta

import pytest
from celery import current_app
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from ormai_django import PolicyBuilder, PolicyConfigurationError, ToolContext, execute, signals
from ormai_django.approvals import approve, expire_approvals, remind_and_escalate
from ormai_django.models import ApprovalRequest
from ormai_django.tasks import remind_approvals
from sandbox_project.shop.models import Customer, Subscription
from tests.approvals.fake_slack import fake_slack, slack_settings
from tests.factories import SubscriptionFactory, UserFactory

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7)
HOUR = timedelta(hours=1)


def escalating_policy(**rule):
    options = {
        "remind_after": timedelta(minutes=30),
        "escalate_after": 2 * HOUR,
        "escalate_to": ["nina", "group:billing-leads"],
        "expires_in": 4 * HOUR,
        **rule,
    }
    return (
        PolicyBuilder()
        .register_models([Customer, Subscription])
        .tenant_scope("tenant_id")
        .enable_writes(models=[Subscription], writable_fields={"Subscription": ["seats"]})
        .require_approval(tool="db.update", model="Subscription", **options)
        .build()
    )


def hold(policy):
    subscription = SubscriptionFactory(seats=1)
    result = execute(
        {
            "name": "db.update",
            "arguments": {
                "model": "Subscription",
                "id": subscription.id,
                "data": {"seats": 4},
                "reason": "Four seats",
            },
        },
        AGENT,
        policy,
    )
    assert result["outcome"] == "pending_approval", result
    return ApprovalRequest.objects.get(pk=result["approval_id"])


# --- the rule ----------------------------------------------------------------------------


def test_the_rule_records_its_reminder_escalation_and_a_stable_id():
    first, again = escalating_policy(), escalating_policy()
    (rule,), (same,) = first.approval_rules, again.approval_rules

    assert (rule.remind_after, rule.escalate_after) == (timedelta(minutes=30), 2 * HOUR)
    assert rule.escalate_to == ("nina", "group:billing-leads")
    assert rule.id == same.id and rule.id.startswith("ar_")  # derived, the same every build
    assert escalating_policy(approvers=2).approval_rules[0].id != rule.id
    assert escalating_policy(id="subscriptions-seats").approval_rules[0].id == (
        "subscriptions-seats"
    )


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ({"escalate_to": []}, "escalate_after needs escalate_to"),
        ({"escalate_after": None}, "escalate_to needs escalate_after"),
        ({"remind_after": 5 * HOUR}, "remind_after"),
        ({"id": "has spaces"}, "id"),
        ({"escalate_to": ["group:"]}, "escalate_to"),
    ],
)
def test_a_rule_that_could_never_remind_or_escalate_is_refused(rule, words):
    with pytest.raises((ValueError, PolicyConfigurationError), match=words):
        escalating_policy(**rule)


def test_a_reminder_after_the_profiles_expiry_is_refused_at_build():
    with pytest.raises(PolicyConfigurationError, match="never happen"):
        escalating_policy(expires_in=None, remind_after=timedelta(days=2))


def test_two_different_rules_cannot_share_an_id():
    with pytest.raises(PolicyConfigurationError, match="two different rules have the id"):
        (
            PolicyBuilder()
            .register_models([Customer, Subscription])
            .enable_writes(models=[Subscription], writable_fields={"Subscription": ["seats"]})
            .require_approval(tool="db.update", model="Subscription", id="seats")
            .require_approval(tool="db.delete", model="Subscription", id="seats")
            .build()
        )


# --- the schedule ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_held_call_keeps_when_to_remind_and_escalate_and_whom():
    approval = hold(escalating_policy())

    assert approval.remind_at - approval.created_at == timedelta(minutes=30)
    assert approval.escalate_at - approval.created_at == 2 * HOUR
    assert approval.escalate_to == ["nina", "group:billing-leads"]


@pytest.mark.django_db
def test_reminders_and_escalations_happen_once_each_when_their_time_comes(
    django_capture_on_commit_callbacks,
):
    approval = hold(escalating_policy())
    heard = []

    def listen(signal):
        def receiver(sender, approval, **kwargs):
            heard.append((signal, approval.pk, [u.username for u in kwargs.get("users", [])]))

        return receiver

    reminded, escalated = listen("reminded"), listen("escalated")
    signals.approval_reminded.connect(reminded)
    signals.approval_escalated.connect(escalated)
    nina = UserFactory(username="nina", approver=True)
    lead = UserFactory(username="omar", approver=True)
    UserFactory(username="pat").groups.add(group := Group.objects.create(name="billing-leads"))
    lead.groups.add(group)  # pat is in the group without the permission: not told
    try:
        with django_capture_on_commit_callbacks(execute=True):
            early = remind_and_escalate(now=approval.created_at + timedelta(minutes=29))
            at_31 = remind_and_escalate(now=approval.created_at + timedelta(minutes=31))
            again = remind_and_escalate(now=approval.created_at + timedelta(minutes=32))
            late = remind_and_escalate(now=approval.created_at + 2 * HOUR + timedelta(seconds=1))
    finally:
        signals.approval_reminded.disconnect(reminded)
        signals.approval_escalated.disconnect(escalated)

    assert early == {"reminded": 0, "escalated": 0}
    assert at_31 == {"reminded": 1, "escalated": 0}
    assert again == {"reminded": 0, "escalated": 0}
    assert late == {"reminded": 0, "escalated": 1}
    assert heard == [
        ("reminded", approval.pk, []),
        ("escalated", approval.pk, [nina.username, lead.username]),
    ]
    tools = list(approval.events.order_by("created_at").values_list("tool", "principal"))
    assert ("approval.remind", "ormai:reminder") in tools
    assert ("approval.escalate", "ormai:reminder") in tools
    told = approval.events.get(tool="approval.escalate").arguments["told"]
    assert told == ["nina", "omar"]


@pytest.mark.django_db
def test_a_decided_or_expired_request_is_neither_reminded_nor_escalated():
    policy = escalating_policy()
    decided, overdue = hold(policy), hold(policy)
    approve(decided.pk, "lee", policy=policy)
    ApprovalRequest.objects.filter(pk=overdue.pk).update(expires_at=timezone.now())

    done = remind_and_escalate(now=timezone.now() + 3 * HOUR)

    assert done == {"reminded": 0, "escalated": 0}


@pytest.mark.django_db
def test_the_celery_task_and_the_command_run_the_same_schedule(capsys):
    assert remind_approvals() == {"reminded": 0, "escalated": 0}
    call_command("ormai_remind_approvals")
    assert capsys.readouterr().out == "Reminded 0, escalated 0 approval request(s).\n"


# --- Slack hears of it -------------------------------------------------------------------


@pytest.fixture
def slack(monkeypatch):
    app = current_app._get_current_object()
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    monkeypatch.setitem(app.conf, "task_eager_propagates", True)
    with fake_slack() as fake:
        fake.add_user("U0NINA", "nina@shop.test")
        with override_settings(ORMAI={**settings.ORMAI, "SLACK": slack_settings(fake.url)}):
            yield fake


@pytest.mark.django_db(transaction=True)
def test_a_reminder_and_an_escalation_reach_the_thread_and_update_the_message(slack):
    approval = hold(escalating_policy(escalate_to=["nina"]))
    UserFactory(username="nina", approver=True)
    assert len(slack.of("chat.postMessage")) == 1  # the held call's message

    remind_and_escalate(now=approval.created_at + timedelta(minutes=31))
    remind_and_escalate(now=approval.created_at + 2 * HOUR + timedelta(seconds=1))

    _, reminder, escalation = slack.of("chat.postMessage")
    ts = approval.messages.get().ts
    assert reminder["thread_ts"] == ts and "Reminder" in reminder["text"]
    assert "1 more approval" in reminder["text"]
    assert escalation["thread_ts"] == ts and escalation["reply_broadcast"] in (True, "1", "true")
    assert "Escalated to <@U0NINA>" in escalation["text"]
    (update,) = slack.of("chat.update")
    assert "Escalated to* nina" in str(update["blocks"])


@pytest.mark.django_db(transaction=True)
def test_the_expiry_updates_the_message(slack):
    approval = hold(escalating_policy())
    ApprovalRequest.objects.filter(pk=approval.pk).update(expires_at=timezone.now())

    assert expire_approvals() == 1

    (update,) = slack.of("chat.update")
    assert "*Expired*: nobody decided in time" in str(update["blocks"])
    assert "ormai.approve" not in str(update["blocks"])
