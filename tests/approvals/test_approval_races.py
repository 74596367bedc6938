"""Decisions racing each other on PostgreSQL: many approvers at once, approvals against expiry.

Every test starts real threads together (a Barrier), each with its own database
connection, so the lock on the approval row is what keeps a held call running exactly
once. SQLite serialises writers, so these run only in the PostgreSQL pass
(``ORMAI_DB=postgres``).
"""

import datetime as dt
import threading
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone

from ormai_django import DEFAULT_PROD, PolicyBuilder, ToolContext, execute
from ormai_django import signals as ormai_signals
from ormai_django.approvals import ApprovalError, approve, expire_approvals
from ormai_django.models import ApprovalDecision, ApprovalRequest, AuditEvent, IdempotencyRecord
from sandbox_project.shop.models import Customer, Subscription
from tests.factories import SubscriptionFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-approval-races")
REASON = "The customer asked for more seats."
APPROVERS = [f"approver{i}@example.com" for i in range(8)]


def seats_policy(approvers):
    """Subscription seats writable; every seats update waits for ``approvers`` people."""
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models([Customer, Subscription])
        .tenant_scope("tenant_id")
        .enable_writes(models=[Subscription], writable_fields={"Subscription": ["seats"]})
        .require_approval(tool="db.update", model="Subscription", approvers=approvers)
        .build()
    )


@pytest.fixture
def configure(settings):
    """Make ``policy`` the project's policy (ORMAI["POLICY"]) for this test."""

    def use(policy):
        settings.ORMAI = {**settings.ORMAI, "POLICY": policy}
        return policy

    return use


def set_seats_call(subscription, seats, **extra):
    arguments = {
        "model": "Subscription",
        "id": subscription.id,
        "data": {"seats": seats},
        "reason": REASON,
        **extra,
    }
    return {"name": "db.update", "arguments": arguments}


def hold_seats(subscription, seats):
    result = execute(set_seats_call(subscription, seats), AGENT)
    assert result["outcome"] == "pending_approval", result
    return ApprovalRequest.objects.get(pk=result["approval_id"])


def run_together(tasks):
    """Run each ``task()`` in its own thread, released at the same moment. Per task:
    ``("ok", what it returned)`` or ``("refused", ApprovalError code)``."""
    barrier = threading.Barrier(len(tasks))
    outcomes = [None] * len(tasks)
    crashes = []

    def worker(index, task):
        try:
            barrier.wait(timeout=30)
            try:
                outcomes[index] = ("ok", task())
            except ApprovalError as exc:
                outcomes[index] = ("refused", exc.code)
        except BaseException as exc:  # anything else is a bug the test must show
            crashes.append(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=worker, args=(i, t)) for i, t in enumerate(tasks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a decision hung (a lock never released?)"
    assert crashes == []
    return outcomes


def approving(approval, approver):
    return lambda: approve(approval.id, approver, note="clicked")


def statuses(outcomes):
    return Counter(value["status"] if kind == "ok" else value for kind, value in outcomes)


def runs_of(approval):
    """Audit rows of the held call's executions (not of the request that held it)."""
    return AuditEvent.objects.filter(approval=approval, tool="db.update").exclude(
        outcome="pending_approval"
    )


def assert_ran_once(approval, subscription, seats):
    approval.refresh_from_db()
    assert approval.status == "executed"
    subscription.refresh_from_db()
    assert subscription.seats == seats
    history = Subscription.history.filter(id=subscription.id, history_type="~")
    assert list(history.values_list("seats", "history_change_reason")) == [
        (seats, f"{AGENT.principal}: {REASON}")
    ]
    run = runs_of(approval).get()
    assert run.outcome == "ok"
    assert approval.result["audit_id"] == run.id


def test_eight_approvers_clicking_at_once_run_a_one_approver_call_exactly_once():
    # The sandbox's own policy: a Subscription update waits for one approver.
    for round_ in range(3):
        subscription = SubscriptionFactory(seats=1)
        approval = hold_seats(subscription, 10 + round_)

        outcomes = run_together([approving(approval, who) for who in APPROVERS])

        assert statuses(outcomes) == {"executed": 1, "APPROVAL_NOT_PENDING": 7}
        (result,) = [value for kind, value in outcomes if kind == "ok"]
        assert (result["approvals"], result["approvers_required"]) == (1, 1)
        assert result["result"]["outcome"] == "ok"
        assert_ran_once(approval, subscription, 10 + round_)
        winner = approval.decisions.get()
        assert winner.verdict == "approve"
        assert APPROVERS[[k for k, _ in outcomes].index("ok")] == winner.approver
        decided = AuditEvent.objects.filter(tool="approval.approve", approval=approval)
        assert list(decided.values_list("principal", flat=True)) == [winner.approver]


def test_eight_approvers_clicking_at_once_on_a_three_approver_call_count_three_and_run_once(
    configure,
):
    configure(seats_policy(approvers=3))
    for round_ in range(3):
        subscription = SubscriptionFactory(seats=1)
        approval = hold_seats(subscription, 20 + round_)

        outcomes = run_together([approving(approval, who) for who in APPROVERS])

        assert statuses(outcomes) == {"pending": 2, "executed": 1, "APPROVAL_NOT_PENDING": 5}
        counted = sorted(value["approvals"] for kind, value in outcomes if kind == "ok")
        assert counted == [1, 2, 3]
        assert_ran_once(approval, subscription, 20 + round_)
        decisions = approval.decisions.all()
        assert decisions.count() == 3
        assert {d.verdict for d in decisions} == {"approve"}
        deciders = {APPROVERS[i] for i, (kind, _) in enumerate(outcomes) if kind == "ok"}
        assert set(decisions.values_list("approver", flat=True)) == deciders
        decided = AuditEvent.objects.filter(tool="approval.approve", approval=approval)
        assert decided.count() == 3


def test_one_approver_clicking_eight_times_at_once_counts_once(configure):
    configure(seats_policy(approvers=2))
    subscription = SubscriptionFactory(seats=1)
    approval = hold_seats(subscription, 4)

    outcomes = run_together([approving(approval, APPROVERS[0])] * 8)

    assert statuses(outcomes) == {"pending": 1, "DUPLICATE_APPROVER": 7}
    assert ApprovalDecision.objects.filter(approval=approval).count() == 1
    approval.refresh_from_db()
    assert approval.status == "pending"
    subscription.refresh_from_db()
    assert subscription.seats == 1


def expiring(now=None):
    return lambda: expire_approvals(now=now)


def assert_expired_never_ran(approval, subscription):
    approval.refresh_from_db()
    assert approval.status == "expired"
    assert not runs_of(approval).exists()
    assert not approval.decisions.exists()
    subscription.refresh_from_db()
    assert subscription.seats == 1
    assert not Subscription.history.filter(id=subscription.id, history_type="~").exists()
    expiries = AuditEvent.objects.filter(tool="approval.expire", approval=approval)
    assert expiries.count() == 1


def test_an_approval_racing_expiry_of_an_overdue_request_never_runs_it():
    for _ in range(5):
        subscription = SubscriptionFactory(seats=1)
        approval = hold_seats(subscription, 30)
        ApprovalRequest.objects.filter(pk=approval.pk).update(
            expires_at=timezone.now() - dt.timedelta(seconds=1)
        )

        outcomes = run_together(
            [
                approving(approval, APPROVERS[0]),
                approving(approval, APPROVERS[1]),
                expiring(),
                expiring(),
            ]
        )

        too_late = {("refused", "APPROVAL_EXPIRED"), ("refused", "APPROVAL_NOT_PENDING")}
        assert set(outcomes[:2]) <= too_late
        # Two expiry workers never both expire it (one may skip it while a decision holds
        # the lock; the next run gets it).
        assert sum(value for _, value in outcomes[2:]) <= 1
        expire_approvals()
        assert_expired_never_ran(approval, subscription)


def test_an_approval_racing_expiry_as_the_deadline_passes_either_runs_or_expires():
    """The approvers act just before expires_at while the expiry worker already sees it
    overdue (its clock runs an hour ahead): exactly one of them wins."""
    winners = Counter()
    for _ in range(8):
        subscription = SubscriptionFactory(seats=1)
        approval = hold_seats(subscription, 40)
        later = timezone.now() + dt.timedelta(days=2)  # past the 24 hours of DEFAULT_PROD

        approved, expired = run_together([approving(approval, APPROVERS[0]), expiring(now=later)])

        approval.refresh_from_db()
        if approval.status == "executed":
            winners["approve"] += 1
            assert approved[0] == "ok" and approved[1]["status"] == "executed"
            assert expired == ("ok", 0)
            assert not AuditEvent.objects.filter(tool="approval.expire", approval=approval)
            assert_ran_once(approval, subscription, 40)
        else:
            winners["expire"] += 1
            assert approved == ("refused", "APPROVAL_NOT_PENDING")
            assert expired == ("ok", 1)
            assert_expired_never_ran(approval, subscription)
    assert sum(winners.values()) == 8


def test_twelve_simultaneous_retries_of_a_held_call_make_one_approval_request():
    subscription = SubscriptionFactory(seats=1)
    requested = []

    def count_requests(sender, approval, **kwargs):
        requested.append(approval.id)

    call = set_seats_call(subscription, 9, idempotency_key="more-seats")
    barrier = threading.Barrier(12)
    results = [None] * 12

    def worker(index):
        try:
            barrier.wait(timeout=30)
            results[index] = execute(call, AGENT)
        finally:
            connection.close()

    ormai_signals.approval_requested.connect(count_requests, weak=False)
    try:
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        ormai_signals.approval_requested.disconnect(count_requests)

    assert not any(t.is_alive() for t in threads)
    assert {r["outcome"] for r in results} == {"pending_approval"}, results
    approval = ApprovalRequest.objects.get()
    assert {r["approval_id"] for r in results} == {approval.id}
    assert sum("idempotent_replay" not in r for r in results) == 1
    assert requested == [approval.id]  # announced once, for the request that committed
    assert IdempotencyRecord.objects.count() == 1
    subscription.refresh_from_db()
    assert subscription.seats == 1
