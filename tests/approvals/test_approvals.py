"""Held writes and the people who decide them: holding, approving, denying, expiring.

A held call runs later, when the last approval it needs lands, through the policy that
``ORMAI["POLICY"]`` names at that moment; so tests that build their own policy configure
it there (``configure``), and the agent's calls go through the same configured policy.
"""

import datetime as dt
import re
from io import StringIO

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone

from ormai_django import DEFAULT_PROD, PolicyBuilder, ToolContext, agent_model, execute
from ormai_django import signals as ormai_signals
from ormai_django.approvals import (
    ApprovalError,
    aapprove,
    adeny,
    approve,
    deny,
    expire_approvals,
)
from ormai_django.models import (
    ApprovalDecision,
    ApprovalRequest,
    AuditEvent,
    IdempotencyRecord,
)
from ormai_django.tasks import expire_approvals as expire_approvals_task
from sandbox_project.shop.models import Customer, Note, Order, Subscription
from tests.factories import CustomerFactory, NoteFactory, OrderFactory, SubscriptionFactory
from tests.support import counted, database_state, event_of

pytestmark = pytest.mark.django_db

AGENT = ToolContext(
    principal="agent:support-bot", tenant_id=7, on_behalf_of="user:42", run_id="run-approvals"
)
REASON = "The customer asked for five seats on the phone."
APPROVAL_ID = re.compile(r"^appr_[0-9A-HJKMNP-TV-Z]{26}$")  # "appr_" + a ULID


def shop_policy(approvals=(), validators=(), limit=None, writable=None, **write_options):
    """Every sandbox model writable (Subscription plan/seats, Order status, Customer
    preferred_name, Note customer/body), plus ``approvals`` rules and ``validators``."""
    builder = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models([Customer, Subscription, Order, Note])
        .tenant_scope("tenant_id")
        .enable_writes(
            models=[Customer, Subscription, Order, Note],
            writable_fields=writable
            or {
                "Customer": ["preferred_name"],
                "Subscription": ["plan", "seats"],
                "Order": ["status"],
                "Note": ["customer", "body"],
            },
            require_reason=True,
            **write_options,
        )
    )
    for rule in approvals:
        builder.require_approval(**rule)
    for model, validator in validators:
        builder.validate(model, validator)
    if limit is not None:
        builder.max_writes_per_minute(limit)
    return builder.build()


SEATS_NEED_ONE = {"tool": "db.update", "model": "Subscription", "approvers": 1}
SEATS_NEED_TWO = {"tool": "db.update", "model": "Subscription", "approvers": 2}


@pytest.fixture
def configure(settings):
    """Make ``policy`` the project's policy (ORMAI["POLICY"]) for this test."""

    def use(policy):
        settings.ORMAI = {**settings.ORMAI, "POLICY": policy}
        return policy

    return use


@pytest.fixture
def received():
    """Every approval signal sent, as (signal name, approval id, status, decision)."""
    sent = []
    receivers = {}
    for name in ("approval_requested", "approval_decided", "approval_expired"):

        def receiver(sender, approval, name=name, **kwargs):
            decision = kwargs.get("decision")
            sent.append(
                (
                    name,
                    approval.id,
                    approval.status,
                    None if decision is None else (decision.approver, decision.verdict),
                )
            )

        receivers[name] = receiver
        getattr(ormai_signals, name).connect(receiver, weak=False)
    yield sent
    for name, receiver in receivers.items():
        getattr(ormai_signals, name).disconnect(receiver)


def set_seats(subscription, seats, ctx=AGENT, **extra):
    """The agent asks for ``seats`` on ``subscription`` (through the configured policy)."""
    arguments = {
        "model": "Subscription",
        "id": subscription.id,
        "data": {"seats": seats},
        "reason": REASON,
        **extra,
    }
    return execute({"name": "db.update", "arguments": arguments}, ctx)


def held(result):
    assert result["outcome"] == "pending_approval", result
    return ApprovalRequest.objects.get(pk=result["approval_id"])


def refused(code, decide, *args, **kwargs):
    with pytest.raises(ApprovalError) as caught:
        decide(*args, **kwargs)
    assert caught.value.code == code, caught.value.message
    return caught.value


def overdue(approval, by=dt.timedelta(minutes=1)):
    """Time passes: nobody decided ``approval`` before its expires_at."""
    ApprovalRequest.objects.filter(pk=approval.pk).update(expires_at=timezone.now() - by)


def seat_history(subscription):
    return Subscription.history.filter(id=subscription.id, history_type="~")


def executed_events(approval):
    """Audit rows of the held call's runs (not of the request that held it)."""
    return AuditEvent.objects.filter(approval=approval, tool=approval.tool).exclude(
        outcome="pending_approval"
    )


def assert_untouched(approval, before):
    """Still pending, no decision recorded, nothing written."""
    approval.refresh_from_db()
    assert approval.status == "pending"
    assert approval.decided_at is None
    assert not approval.decisions.exists()
    assert not AuditEvent.objects.filter(tool__startswith="approval.").exists()
    assert database_state() == before


# --- holding a call ----------------------------------------------------------------------


def test_a_held_update_answers_pending_approval_and_changes_nothing():
    subscription = SubscriptionFactory(seats=1)
    before = database_state()
    asked_at = timezone.now()

    result = set_seats(subscription, 5)

    assert set(result) == {
        "outcome",
        "approval_id",
        "expires_at",
        "approvers_required",
        "audit_id",
    }
    assert result["outcome"] == "pending_approval"
    assert APPROVAL_ID.match(result["approval_id"])
    assert result["approvers_required"] == 1
    assert database_state() == before
    # A held call counts against the rate limit as an executed one does (it is one call,
    # of one row), so held requests can't flood the approval queue.
    assert counted("rate:") == (1, 1)

    approval = ApprovalRequest.objects.get()
    assert approval.id == result["approval_id"]
    # expires_at: ISO 8601 in UTC with a Z, the sandbox profile's 24 hours from now.
    assert result["expires_at"].endswith("Z")
    expires_at = dt.datetime.fromisoformat(result["expires_at"])
    assert expires_at == approval.expires_at
    assert dt.timedelta(hours=24) <= expires_at - asked_at < dt.timedelta(hours=24, minutes=1)
    assert approval.status == "pending"
    assert (approval.tool, approval.model) == ("db.update", "shop.Subscription")
    assert approval.call == {
        "name": "db.update",
        "arguments": {
            "model": "Subscription",
            "id": subscription.id,
            "data": {"seats": 5},
            "reason": REASON,
        },
    }
    assert approval.preview == {
        "would_change": [{"id": subscription.id, "seats_before": 1, "seats_after": 5}],
        "truncated": False,
    }
    assert approval.affected_rows == 1
    assert approval.reason == REASON
    assert "Subscription" in approval.why_held
    assert (approval.principal, approval.on_behalf_of, approval.tenant_id, approval.run_id) == (
        "agent:support-bot",
        "user:42",
        "7",
        "run-approvals",
    )
    assert approval.approvers_required == 1
    assert (approval.decided_at, approval.result, approval.failure) == (None, None, "")
    assert not approval.decisions.exists()

    event = event_of(result)
    assert (event.tool, event.outcome, event.approval_id) == (
        "db.update",
        "pending_approval",
        approval.id,
    )
    assert (event.principal, event.on_behalf_of, event.tenant_id, event.reason) == (
        "agent:support-bot",
        "user:42",
        "7",
        REASON,
    )
    assert event.changes is None
    assert list(approval.events.all()) == [event]


def test_a_rule_with_expires_in_sets_how_long_the_request_waits(configure):
    configure(shop_policy([{**SEATS_NEED_ONE, "expires_in": dt.timedelta(minutes=5)}]))
    subscription = SubscriptionFactory()
    asked_at = timezone.now()

    approval = held(set_seats(subscription, 5))

    assert dt.timedelta(minutes=5) <= approval.expires_at - asked_at < dt.timedelta(minutes=6)


def decorate_note_as_approval_class(monkeypatch):
    """The sandbox's Note declared ``writes="approval"``, as a project's models.py would."""
    monkeypatch.setattr(Note, "_ormai_rules", Note._ormai_rules)
    agent_model(
        writes="approval",
        writable_fields=["customer", "body"],
        soft_delete_field="deleted_at",
        mask_fields=["author_email"],
    )(Note)
    return PolicyBuilder(DEFAULT_PROD).register_models([Customer, Note]).tenant_scope("tenant_id")


def broken_rule(call):
    raise KeyError("the rule looks up something that isn't there")


HOLDS = {
    # name: (policy maker, tool, arguments maker, approvers, words why_held must contain)
    "rule": (
        lambda mp: shop_policy([{"tool": "db.update", "model": "Note", "approvers": 2}]),
        "db.update",
        lambda note: {"model": "Note", "id": note.id, "data": {"body": "changed"}},
        2,
        ["require_approval", "db.update", "Note"],
    ),
    "approval class": (
        lambda mp: decorate_note_as_approval_class(mp).build(),
        "db.update",
        lambda note: {"model": "Note", "id": note.id, "data": {"body": "changed"}},
        1,
        ["Note"],
    ),
    "max_affected_rows": (
        lambda mp: shop_policy(max_affected_rows=2),
        "db.update",
        lambda note: {"model": "Note", "where": {"body": "original"}, "data": {"body": "changed"}},
        1,
        ["3", "2"],
    ),
    "when raises": (
        lambda mp: shop_policy([{"model": "Note", "when": broken_rule, "approvers": 2}]),
        "db.update",
        lambda note: {"model": "Note", "id": note.id, "data": {"body": "changed"}},
        2,
        ["require_approval", "Note"],
    ),
}


@pytest.mark.parametrize("kind", list(HOLDS))
def test_each_kind_of_approval_rule_holds_the_call_and_says_why(kind, configure, monkeypatch):
    make_policy, tool, make_arguments, approvers, words = HOLDS[kind]
    configure(make_policy(monkeypatch))
    customer = CustomerFactory()
    notes = NoteFactory.create_batch(3, customer=customer, body="original")
    arguments = {**make_arguments(notes[0]), "reason": REASON}
    before = database_state()

    result = execute({"name": tool, "arguments": arguments}, AGENT)

    assert result["outcome"] == "pending_approval", result
    assert result["approvers_required"] == approvers
    assert database_state() == before
    approval = ApprovalRequest.objects.get(pk=result["approval_id"])
    assert approval.approvers_required == approvers
    assert approval.call == {"name": tool, "arguments": arguments}
    for word in words:
        assert word in approval.why_held, approval.why_held
    rows = approval.preview["would_change"]
    assert approval.affected_rows == len(rows) == (3 if "where" in arguments else 1)
    assert {row["body_before"] for row in rows} == {"original"}
    assert {row["body_after"] for row in rows} == {"changed"}
    event = event_of(result)
    assert (event.outcome, event.approval_id) == ("pending_approval", approval.id)

    # Once enough people approve, the held call runs, whatever held it.
    for approver in ("lee@example.com", "sam@example.com")[:approvers]:
        decided = approve(approval.id, approver)

    assert decided["status"] == "executed", decided
    assert decided["result"]["outcome"] == "ok"
    changed = Note.objects.filter(body="changed")
    assert changed.count() == approval.affected_rows


def test_a_retry_with_the_same_idempotency_key_returns_the_same_approval():
    subscription = SubscriptionFactory(seats=1)

    first = set_seats(subscription, 5, idempotency_key="seats-5")
    retry = set_seats(subscription, 5, idempotency_key="seats-5", reason="Retrying, same ask.")

    assert first["outcome"] == "pending_approval"
    assert retry == {**first, "idempotent_replay": True}
    assert ApprovalRequest.objects.count() == 1
    approval = ApprovalRequest.objects.get()
    retry_event = AuditEvent.objects.exclude(id=first["audit_id"]).get()
    assert retry_event.caused_by_id == first["audit_id"]

    decided = approve(approval.id, "lee@example.com")

    assert decided["status"] == "executed"
    # Once it ran, the same retry gets what ran, and runs nothing again.
    after = set_seats(subscription, 5, idempotency_key="seats-5")
    assert after == {**decided["result"], "idempotent_replay": True}
    assert ApprovalRequest.objects.count() == 1
    assert seat_history(subscription).count() == 1
    assert IdempotencyRecord.objects.get().result == decided["result"]


@pytest.mark.parametrize("ending", ["denied", "expired"])
def test_once_a_held_call_is_denied_or_expired_its_retry_says_so(ending):
    subscription = SubscriptionFactory(seats=1)
    first = set_seats(subscription, 5, idempotency_key="seats-5")
    approval = held(first)
    if ending == "denied":
        deny(approval.id, "lee@example.com", note="not in the plan")
    else:
        overdue(approval)
        expire_approvals()

    retry = set_seats(subscription, 5, idempotency_key="seats-5")

    code = "APPROVAL_DENIED" if ending == "denied" else "APPROVAL_EXPIRED"
    assert retry["outcome"] == "denied" and retry["idempotent_replay"] is True
    assert retry["error"]["code"] == code and retry["approval_id"] == approval.id
    assert ApprovalRequest.objects.count() == 1  # not held a second time
    assert seat_history(subscription).count() == 0


# --- who may decide ----------------------------------------------------------------------


@pytest.mark.parametrize("decide", [approve, deny], ids=["approve", "deny"])
@pytest.mark.parametrize("requester", ["agent:support-bot", "user:42", " user:42 "])
def test_the_requester_can_neither_approve_nor_deny(decide, requester):
    approval = held(set_seats(SubscriptionFactory(seats=1), 5))
    before = database_state()

    refused("APPROVER_IS_REQUESTER", decide, approval.id, requester)

    assert_untouched(approval, before)


@pytest.mark.parametrize("decide", [approve, deny], ids=["approve", "deny"])
@pytest.mark.parametrize("approver", ["", "   ", None, "x" * 201])
def test_an_approver_must_be_named(decide, approver):
    approval = held(set_seats(SubscriptionFactory(seats=1), 5))
    before = database_state()

    refused("INVALID_APPROVER", decide, approval.id, approver)

    assert_untouched(approval, before)


@pytest.mark.parametrize("decide", [approve, deny], ids=["approve", "deny"])
def test_deciding_an_unknown_approval_is_refused(decide):
    refused("UNKNOWN_APPROVAL", decide, "appr_01JAAAAAAAAAAAAAAAAAAAAAAA", "lee@example.com")

    assert not ApprovalDecision.objects.exists()
    assert not AuditEvent.objects.exists()


def test_the_same_approver_twice_is_refused_and_not_counted(configure):
    configure(shop_policy([SEATS_NEED_TWO]))
    subscription = SubscriptionFactory(seats=1)
    approval = held(set_seats(subscription, 5))
    first = approve(approval.id, "lee@example.com", note="fine by me")
    before = database_state()

    refused("DUPLICATE_APPROVER", approve, approval.id, "lee@example.com")
    refused("DUPLICATE_APPROVER", deny, approval.id, "lee@example.com")

    assert first == {"status": "pending", "approvals": 1, "approvers_required": 2, "result": None}
    approval.refresh_from_db()
    assert approval.status == "pending"
    assert list(approval.decisions.values_list("approver", "verdict")) == [
        ("lee@example.com", "approve")
    ]
    assert AuditEvent.objects.filter(tool__startswith="approval.").count() == 1
    assert database_state() == before

    second = approve(approval.id, "sam@example.com")

    assert (second["status"], second["approvals"]) == ("executed", 2)


# --- approving -----------------------------------------------------------------------------


def test_two_person_approval_runs_the_call_once_on_the_second_distinct_approval(configure):
    configure(shop_policy([SEATS_NEED_TWO]))
    subscription = SubscriptionFactory(seats=1)
    requested = set_seats(subscription, 5)
    approval = held(requested)
    before = database_state()

    first = approve(approval.id, "lee@example.com", note="OK per CSM")

    assert first == {"status": "pending", "approvals": 1, "approvers_required": 2, "result": None}
    assert database_state() == before
    assert not executed_events(approval).exists()

    second = approve(approval.id, "sam@example.com", note="OK")

    assert (second["status"], second["approvals"], second["approvers_required"]) == (
        "executed",
        2,
        2,
    )
    result = second["result"]
    assert (result["outcome"], result["affected_rows"], result["ids"]) == (
        "ok",
        1,
        [subscription.id],
    )
    subscription.refresh_from_db()
    assert subscription.seats == 5
    history = seat_history(subscription)
    assert list(history.values_list("seats", "history_change_reason")) == [
        (5, f"{AGENT.principal}: {REASON}")
    ]

    executed = executed_events(approval).get(outcome="ok")
    assert executed.id == result["audit_id"]
    assert executed.caused_by_id == requested["audit_id"]
    assert (executed.principal, executed.on_behalf_of, executed.tenant_id, executed.run_id) == (
        "agent:support-bot",
        "user:42",
        "7",
        "run-approvals",
    )
    assert executed.reason == REASON
    assert executed.affected_rows == 1
    assert executed.changes == [
        {"pk": subscription.id, "before": {"seats": 1}, "after": {"seats": 5}}
    ]
    approval.refresh_from_db()
    assert approval.status == "executed"
    assert approval.decided_at is not None
    assert approval.result == result
    assert approval.failure == ""

    refused("APPROVAL_NOT_PENDING", approve, approval.id, "kim@example.com")
    assert seat_history(subscription).count() == 1


def test_the_sandbox_policy_holds_a_subscription_update_and_one_approval_runs_it():
    subscription = SubscriptionFactory(plan="basic", seats=1)
    approval = held(set_seats(subscription, 5))

    decided = approve(approval_id=approval.id, approver_user_id="lee@example.com", note="OK")

    assert (decided["status"], decided["approvals"], decided["approvers_required"]) == (
        "executed",
        1,
        1,
    )
    assert decided["result"]["outcome"] == "ok"
    subscription.refresh_from_db()
    assert subscription.seats == 5


def test_the_approved_call_runs_as_its_requester(configure):
    seen = []

    def record_context(check):
        seen.append(check.context)

    configure(shop_policy([SEATS_NEED_ONE], validators=[("Subscription", record_context)]))
    subscription = SubscriptionFactory(seats=1)
    held(set_seats(subscription, 5))
    assert seen == [AGENT]  # the preview was validated as the call would be

    decided = approve(ApprovalRequest.objects.get().id, "lee@example.com")

    assert decided["status"] == "executed", decided
    # Validators see the requester's context as the agent's host passed it, not the
    # approver's and not a copy with its values turned into text.
    assert seen == [AGENT, AGENT]


# --- denying, expiring -----------------------------------------------------------------------


def test_a_denial_ends_the_request_and_the_call_never_runs():
    subscription = SubscriptionFactory(seats=1)
    requested = set_seats(subscription, 5)
    approval = held(requested)
    before = database_state()

    decided = deny(approval.id, "lee@example.com", note="not in their plan")

    assert decided == {"status": "denied", "approvals": 0, "approvers_required": 1, "result": None}
    assert database_state() == before
    approval.refresh_from_db()
    assert approval.status == "denied"
    assert approval.decided_at is not None
    assert approval.result is None
    assert list(approval.decisions.values_list("approver", "verdict", "note")) == [
        ("lee@example.com", "deny", "not in their plan")
    ]
    denial = AuditEvent.objects.get(tool="approval.deny")
    assert (denial.principal, denial.approval_id, denial.caused_by_id, denial.outcome) == (
        "lee@example.com",
        approval.id,
        requested["audit_id"],
        "ok",
    )

    refused("APPROVAL_NOT_PENDING", approve, approval.id, "sam@example.com")
    refused("APPROVAL_NOT_PENDING", deny, approval.id, "sam@example.com")
    assert database_state() == before
    assert not executed_events(approval).exists()
    assert approval.decisions.count() == 1


def test_one_denial_ends_a_request_that_already_has_approvals(configure):
    configure(shop_policy([{**SEATS_NEED_ONE, "approvers": 3}]))
    subscription = SubscriptionFactory(seats=1)
    approval = held(set_seats(subscription, 5))
    approve(approval.id, "lee@example.com")
    approve(approval.id, "sam@example.com")
    before = database_state()

    decided = deny(approval.id, "kim@example.com")

    assert decided == {"status": "denied", "approvals": 2, "approvers_required": 3, "result": None}
    refused("APPROVAL_NOT_PENDING", approve, approval.id, "pat@example.com")
    assert database_state() == before


@pytest.mark.parametrize("decide", [approve, deny], ids=["approve", "deny"])
def test_an_overdue_request_cannot_be_decided(decide):
    approval = held(set_seats(SubscriptionFactory(seats=1), 5))
    overdue(approval)
    before = database_state()

    refused("APPROVAL_EXPIRED", decide, approval.id, "lee@example.com")

    assert_untouched(approval, before)


def run_expiry_function():
    return expire_approvals()


def run_expiry_command():
    out = StringIO()
    call_command("ormai_expire_approvals", stdout=out)
    return int(re.fullmatch(r"Expired (\d+) approval request\(s\)\.\n", out.getvalue())[1])


def run_expiry_celery_task():
    return expire_approvals_task.apply().get()


@pytest.mark.parametrize(
    "expire",
    [run_expiry_function, run_expiry_command, run_expiry_celery_task],
    ids=["function", "command", "celery"],
)
def test_expiry_marks_overdue_requests_expired_once_and_leaves_the_others(expire):
    late = SubscriptionFactory(seats=1)
    waiting = SubscriptionFactory(seats=1)
    late_request = set_seats(late, 5)
    late_approval, waiting_approval = held(late_request), held(set_seats(waiting, 6))
    decided = held(set_seats(SubscriptionFactory(seats=1), 7))
    deny(decided.id, "lee@example.com")
    overdue(late_approval)
    overdue(decided)  # denied before it was due: not expired
    before = database_state()

    assert expire() == 1

    late_approval.refresh_from_db()
    assert late_approval.status == "expired"
    assert late_approval.decided_at is not None
    expiry = AuditEvent.objects.get(tool="approval.expire")
    assert (expiry.principal, expiry.outcome, expiry.approval_id, expiry.caused_by_id) == (
        "ormai:expiry",
        "ok",
        late_approval.id,
        late_request["audit_id"],
    )
    assert expiry.tenant_id == "7"
    waiting_approval.refresh_from_db()
    assert (waiting_approval.status, waiting_approval.decided_at) == ("pending", None)
    decided.refresh_from_db()
    assert decided.status == "denied"
    assert database_state() == before

    # Safe to run twice: nothing more is due, nothing more is audited.
    assert expire() == 0
    assert AuditEvent.objects.filter(tool="approval.expire").count() == 1
    refused("APPROVAL_NOT_PENDING", approve, late_approval.id, "lee@example.com")
    assert approve(waiting_approval.id, "lee@example.com")["status"] == "executed"
    assert database_state() != before
    late.refresh_from_db()
    assert late.seats == 1


# --- the held call runs through the policy again -------------------------------------------


def refuse_cancelled_subscriptions(check):
    if check.instance is not None and check.instance.status == "cancelled":
        raise ValidationError("A cancelled subscription can't change.")


def assert_failed(decided, approval, requested, code):
    """The approved call was refused this time: failed, recorded, and nothing written."""
    assert decided["status"] == "failed", decided
    assert decided["approvals"] == 1
    result = decided["result"]
    assert result["outcome"] in ("error", "denied")
    assert result["error"]["code"] == code
    approval.refresh_from_db()
    assert approval.status == "failed"
    assert approval.decided_at is not None
    assert approval.failure.startswith(f"{code}: ")
    assert approval.failure == f"{code}: {result['error']['message']}"
    assert approval.result == result
    attempt = AuditEvent.objects.get(id=result["audit_id"])
    assert (attempt.tool, attempt.outcome, attempt.error_code) == (
        approval.tool,
        result["outcome"],
        code,
    )
    assert (attempt.approval_id, attempt.caused_by_id) == (approval.id, requested["audit_id"])
    assert attempt.changes is None
    refused("APPROVAL_NOT_PENDING", approve, approval.id, "sam@example.com")


def test_an_approved_call_that_now_fails_validation_is_marked_failed(configure):
    configure(
        shop_policy([SEATS_NEED_ONE], validators=[("Subscription", refuse_cancelled_subscriptions)])
    )
    subscription = SubscriptionFactory(seats=1, status="active")
    requested = set_seats(subscription, 5)
    approval = held(requested)
    # While it waits, staff cancel the subscription.
    Subscription.objects.filter(pk=subscription.pk).update(status="cancelled")
    before = database_state()

    decided = approve(approval.id, "lee@example.com")

    assert_failed(decided, approval, requested, "VALIDATION_FAILED")
    assert database_state() == before
    subscription.refresh_from_db()
    assert (subscription.seats, subscription.status) == (1, "cancelled")


def test_an_approved_call_whose_row_was_deleted_is_marked_failed():
    subscription = SubscriptionFactory(seats=1)
    requested = set_seats(subscription, 5)
    approval = held(requested)
    Subscription.objects.filter(pk=subscription.pk).delete()
    before = database_state()

    decided = approve(approval.id, "lee@example.com")

    assert_failed(decided, approval, requested, "NOT_FOUND")
    assert database_state() == before


def test_an_approved_call_the_policy_no_longer_allows_is_marked_failed(configure):
    configure(shop_policy([SEATS_NEED_ONE]))
    subscription = SubscriptionFactory(seats=1)
    requested = set_seats(subscription, 5)
    approval = held(requested)
    # The project changes its policy: seats are no longer the agent's to set.
    configure(shop_policy([SEATS_NEED_ONE], writable={"Subscription": ["plan"]}))
    before = database_state()

    decided = approve(approval.id, "lee@example.com")

    assert_failed(decided, approval, requested, "FIELD_NOT_WRITABLE")
    assert database_state() == before


def test_an_approved_delete_that_would_now_cascade_is_marked_failed():
    # The sandbox holds Customer deletes for two people; DEFAULT_PROD refuses cascades.
    customer = CustomerFactory()
    requested = execute(
        {
            "name": "db.delete",
            "arguments": {"model": "Customer", "id": customer.id, "reason": "GDPR erasure"},
        },
        AGENT,
    )
    approval = held(requested)
    assert approval.approvers_required == 2
    approve(approval.id, "lee@example.com")
    SubscriptionFactory(customer=customer)  # a subscription appears in the meantime
    before = database_state()

    decided = approve(approval.id, "sam@example.com")

    assert decided["status"] == "failed", decided
    assert decided["result"]["error"]["code"] == "CASCADE_NOT_ALLOWED"
    approval.refresh_from_db()
    assert approval.failure.startswith("CASCADE_NOT_ALLOWED: ")
    assert database_state() == before
    assert Customer.objects.filter(pk=customer.pk).exists()


def test_an_approved_where_update_runs_over_the_held_rows_that_still_match(configure):
    """What the approvers saw is what runs: a row that left the match is not touched, and
    neither is one that started matching after the hold."""
    configure(shop_policy(max_affected_rows=2))
    customer = CustomerFactory()
    orders = OrderFactory.create_batch(3, customer=customer, status="pending")
    requested = execute(
        {
            "name": "db.update",
            "arguments": {
                "model": "Order",
                "where": {"status": "pending"},
                "data": {"status": "cancelled"},
                "reason": "The shop is closing.",
            },
        },
        AGENT,
    )
    approval = held(requested)
    late = OrderFactory(customer=customer, status="pending")
    shipped = orders[0]
    Order.objects.filter(pk=shipped.pk).update(status="shipped")

    decided = approve(approval.id, "lee@example.com")

    assert decided["status"] == "executed", decided
    ran = {orders[1].id, orders[2].id}
    assert sorted(decided["result"]["ids"]) == sorted(ran)
    assert set(Order.objects.filter(status="cancelled").values_list("id", flat=True)) == ran
    # What ran is audited beside what was previewed.
    approval.refresh_from_db()
    assert approval.affected_rows == 3
    assert {row["id"] for row in approval.preview["would_change"]} == {o.id for o in orders}
    executed = AuditEvent.objects.get(id=decided["result"]["audit_id"])
    assert executed.affected_rows == 2
    late.refresh_from_db()
    assert late.status == "pending"
    assert {change["pk"] for change in executed.changes} == ran


def test_the_rate_limit_does_not_block_an_approved_call(configure):
    configure(shop_policy([SEATS_NEED_ONE], limit=2))
    subscription = SubscriptionFactory(seats=1)
    customer = CustomerFactory(preferred_name="")
    approval = held(set_seats(subscription, 5))
    rename = {
        "model": "Customer",
        "id": customer.id,
        "data": {"preferred_name": "Al"},
        "reason": REASON,
    }
    assert execute({"name": "db.update", "arguments": rename}, AGENT)["outcome"] == "ok"
    limited = execute({"name": "db.update", "arguments": rename}, AGENT)
    # The agent's minute is spent: the held call and the rename.
    assert limited["error"]["code"] == "RATE_LIMITED"

    decided = approve(approval.id, "lee@example.com")

    assert decided["status"] == "executed", decided
    subscription.refresh_from_db()
    assert subscription.seats == 5
    # The approved call spent nothing more: it counted once, when it was held.
    assert counted("rate:") == (2, 2)


# --- the chain and the signals ---------------------------------------------------------------


def test_the_chain_from_request_to_decisions_to_execution_is_explicit(configure):
    configure(shop_policy([SEATS_NEED_TWO]))
    subscription = SubscriptionFactory(seats=1)
    requested = set_seats(subscription, 5)
    approval = held(requested)

    approve(approval.id, "lee@example.com", note="OK per CSM")
    decided = approve(approval.id, "sam@example.com", note="OK")

    request_event = event_of(requested)
    assert request_event.approval == approval
    decisions = list(approval.decisions.order_by("created_at", "id"))
    assert [(d.approver, d.verdict, d.note) for d in decisions] == [
        ("lee@example.com", "approve", "OK per CSM"),
        ("sam@example.com", "approve", "OK"),
    ]
    decision_events = list(
        AuditEvent.objects.filter(tool="approval.approve").order_by("created_at", "id")
    )
    assert [(e.principal, e.reason) for e in decision_events] == [
        ("lee@example.com", "OK per CSM"),
        ("sam@example.com", "OK"),
    ]
    for event in decision_events:
        assert (event.approval_id, event.caused_by_id, event.outcome) == (
            approval.id,
            request_event.id,
            "ok",
        )
        assert event.arguments["approval_id"] == approval.id
    executed = AuditEvent.objects.get(id=decided["result"]["audit_id"])
    assert (executed.approval_id, executed.caused_by_id, executed.outcome) == (
        approval.id,
        request_event.id,
        "ok",
    )
    # From the request's audit row everything that followed is reachable, in order.
    assert list(approval.events.order_by("created_at", "id")) == [
        request_event,
        *decision_events,
        executed,
    ]
    assert set(request_event.consequences.all()) == {*decision_events, executed}


def test_signals_announce_each_request_decision_and_expiry(
    configure, received, django_capture_on_commit_callbacks
):
    configure(shop_policy([SEATS_NEED_TWO]))
    with django_capture_on_commit_callbacks(execute=True):
        approval = held(set_seats(SubscriptionFactory(seats=1), 5))
    assert received == [("approval_requested", approval.id, "pending", None)]

    with django_capture_on_commit_callbacks(execute=True):
        approve(approval.id, "lee@example.com")
        with pytest.raises(ApprovalError):
            approve(approval.id, "lee@example.com")  # refused: nothing to announce
        approve(approval.id, "sam@example.com")
    assert received[1:] == [
        ("approval_decided", approval.id, "pending", ("lee@example.com", "approve")),
        ("approval_decided", approval.id, "executed", ("sam@example.com", "approve")),
    ]

    denied = held(set_seats(SubscriptionFactory(seats=1), 6))
    late = held(set_seats(SubscriptionFactory(seats=1), 7))
    overdue(late)
    received.clear()
    with django_capture_on_commit_callbacks(execute=True):
        deny(denied.id, "lee@example.com")
        expire_approvals()
        expire_approvals()
    assert received == [
        ("approval_decided", denied.id, "denied", ("lee@example.com", "deny")),
        ("approval_expired", late.id, "expired", None),
    ]


@pytest.mark.django_db(transaction=True)
def test_signals_are_sent_once_the_decision_has_committed(received):
    seen_committed = []

    def check_committed(sender, approval, **kwargs):
        # Sent after commit: a fresh read sees what the receiver is told.
        seen_committed.append(ApprovalRequest.objects.get(pk=approval.pk).status)

    ormai_signals.approval_decided.connect(check_committed, weak=False)
    try:
        approval = held(set_seats(SubscriptionFactory(seats=1), 5))
        assert received == [("approval_requested", approval.id, "pending", None)]

        approve(approval.id, "lee@example.com")
    finally:
        ormai_signals.approval_decided.disconnect(check_committed)

    assert received[1:] == [
        ("approval_decided", approval.id, "executed", ("lee@example.com", "approve"))
    ]
    assert seen_committed == ["executed"]


@pytest.mark.django_db(transaction=True)
def test_aapprove_and_adeny_decide_from_async_code():
    approved_subscription = SubscriptionFactory(seats=1)
    to_approve = held(set_seats(approved_subscription, 5))
    denied_subscription = SubscriptionFactory(seats=1)
    to_deny = held(set_seats(denied_subscription, 6))

    approved = async_to_sync(aapprove)(
        approval_id=to_approve.id, approver_user_id="lee@example.com", note="OK"
    )
    denied = async_to_sync(adeny)(
        approval_id=to_deny.id, approver_user_id="lee@example.com", note="no"
    )

    assert (approved["status"], approved["result"]["outcome"]) == ("executed", "ok")
    assert denied == {"status": "denied", "approvals": 0, "approvers_required": 1, "result": None}
    approved_subscription.refresh_from_db()
    denied_subscription.refresh_from_db()
    assert (approved_subscription.seats, denied_subscription.seats) == (5, 1)
    with pytest.raises(ApprovalError) as caught:
        async_to_sync(aapprove)(approval_id=to_deny.id, approver_user_id="sam@example.com")
    assert caught.value.code == "APPROVAL_NOT_PENDING"


# --- the sandbox policy ----------------------------------------------------------------------


def test_the_sandbox_holds_an_order_update_over_fifty_rows_but_not_fifty():
    customer = CustomerFactory()
    OrderFactory.create_batch(51, customer=customer, status="pending")
    OrderFactory.create_batch(50, customer=customer, status="paid")
    before = database_state()

    many = execute(
        {
            "name": "db.update",
            "arguments": {
                "model": "Order",
                "where": {"status": "pending"},
                "data": {"status": "cancelled"},
                "reason": "Bulk cancel.",
            },
        },
        AGENT,
    )

    approval = held(many)
    assert (approval.affected_rows, approval.approvers_required) == (51, 1)
    assert approval.preview["truncated"] is True
    assert len(approval.preview["would_change"]) == DEFAULT_PROD.max_preview_rows
    assert database_state() == before

    fifty = execute(
        {
            "name": "db.update",
            "arguments": {
                "model": "Order",
                "where": {"status": "paid"},
                "data": {"status": "shipped"},
                "reason": "Shipped today.",
            },
        },
        AGENT,
    )

    assert fifty["outcome"] == "ok", fifty
    assert fifty["affected_rows"] == 50


def subscription_update():
    subscription = SubscriptionFactory()
    return "db.update", {"model": "Subscription", "id": subscription.id, "data": {"seats": 3}}


def order_update_over(rows):
    OrderFactory.create_batch(rows, customer=CustomerFactory(), status="pending")
    return "db.update", {
        "model": "Order",
        "where": {"status": "pending"},
        "data": {"status": "cancelled"},
    }


def customer_delete():
    return "db.delete", {"model": "Customer", "id": CustomerFactory().id}


DRY_RUNS = {
    # name: (what the agent asks, approvers the real call would need; None: none)
    "subscription update": (subscription_update, 1),
    "order update of 51 rows": (lambda: order_update_over(51), 1),
    "customer delete": (customer_delete, 2),
    "order update of 50 rows": (lambda: order_update_over(50), None),
}


@pytest.mark.parametrize("case", list(DRY_RUNS))
def test_a_sandbox_dry_run_says_whether_and_how_many_approvals_the_call_needs(case):
    make_call, approvers = DRY_RUNS[case]
    tool, arguments = make_call()
    arguments.update(reason="Checking first.", dry_run=True)
    before = database_state()

    result = execute({"name": tool, "arguments": arguments}, AGENT)

    assert result["outcome"] == "dry_run", result
    assert result["would_require_approval"] is (approvers is not None)
    if approvers is None:
        assert "approvers_required" not in result
    else:
        assert result["approvers_required"] == approvers
    assert not ApprovalRequest.objects.exists()
    assert database_state() == before


# --- what was approved, and who hears of it ----------------------------------------------


def _held_cancel_of_pending_orders(customer):
    call = {
        "name": "db.update",
        "arguments": {
            "model": "Order",
            "where": {"customer": customer.id, "status": "pending"},
            "data": {"status": "cancelled"},
            "reason": REASON,
        },
    }
    return held(execute(call, AGENT))


def test_rows_that_start_matching_after_the_hold_are_not_touched(configure):
    configure(shop_policy(approvals=[{"tool": "db.update", "model": "Order"}]))
    customer = CustomerFactory()
    orders = OrderFactory.create_batch(3, customer=customer, status="pending")
    approval = _held_cancel_of_pending_orders(customer)
    assert sorted(approval.held_ids) == sorted(o.id for o in orders)
    late = OrderFactory(customer=customer, status="pending")  # arrives while people decide

    outcome = approve(approval.id, "lee@example.com")

    assert outcome["status"] == "executed", outcome
    assert sorted(outcome["result"]["ids"]) == sorted(o.id for o in orders)
    late.refresh_from_db()
    assert late.status == "pending"
    assert Order.objects.filter(status="cancelled").count() == 3


def test_a_request_held_without_its_keys_still_fails_when_more_rows_match(configure):
    """Requests held before held_ids was kept have only their count: more is refused."""
    configure(shop_policy(approvals=[{"tool": "db.update", "model": "Order"}]))
    customer = CustomerFactory()
    OrderFactory.create_batch(3, customer=customer, status="pending")
    approval = _held_cancel_of_pending_orders(customer)
    ApprovalRequest.objects.filter(pk=approval.pk).update(held_ids=None)
    OrderFactory(customer=customer, status="pending")

    outcome = approve(approval.id, "lee@example.com")

    assert outcome["status"] == "failed"
    assert outcome["result"]["error"]["code"] == "APPROVED_SCOPE_EXCEEDED"
    assert Order.objects.filter(status="cancelled").count() == 0


def test_fewer_rows_than_were_approved_still_run(configure):
    configure(shop_policy(approvals=[{"tool": "db.update", "model": "Order"}]))
    customer = CustomerFactory()
    orders = OrderFactory.create_batch(3, customer=customer, status="pending")
    call = {
        "name": "db.update",
        "arguments": {
            "model": "Order",
            "where": {"customer": customer.id, "status": "pending"},
            "data": {"status": "cancelled"},
            "reason": REASON,
        },
    }
    approval = held(execute(call, AGENT))
    orders[0].delete()

    outcome = approve(approval.id, "lee@example.com")

    assert (outcome["status"], outcome["result"]["affected_rows"]) == ("executed", 2)


@pytest.mark.django_db(transaction=True)
def test_a_receiver_that_raises_never_makes_a_held_or_decided_call_look_failed(configure):
    configure(shop_policy(approvals=[SEATS_NEED_ONE]))
    subscription = SubscriptionFactory(seats=1)

    def broken(sender, **kwargs):
        raise RuntimeError("the pager is down")

    ormai_signals.approval_requested.connect(broken)
    ormai_signals.approval_decided.connect(broken)
    try:
        result = set_seats(subscription, 4)
        approval = held(result)
        decided = approve(approval.id, "lee@example.com")
    finally:
        ormai_signals.approval_requested.disconnect(broken)
        ormai_signals.approval_decided.disconnect(broken)

    assert decided["status"] == "executed"
    assert AuditEvent.objects.filter(outcome="error").count() == 0
    subscription.refresh_from_db()
    assert subscription.seats == 4
