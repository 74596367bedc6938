"""A run that trips stays stopped until an operator resets it; budget_exceeded fires once per
trip; windows that are over are pruned."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ormai_django import ToolContext, execute
from ormai_django.budgets import BudgetError, prune_windows, reset_run
from ormai_django.models import AuditEvent, BudgetWindow
from ormai_django.signals import budget_exceeded
from ormai_django.tasks import prune_budget_windows
from sandbox_project.shop.models import Note
from tests.factories import CustomerFactory
from tests.support import age_windows, shop_writes

pytestmark = pytest.mark.django_db

LOOPER = ToolContext(principal="agent:looper", tenant_id=7, run_id="run-loop")
REASON = "Logging the call."


def run_policy(**budget):
    return shop_writes().write_budget(scope="run", **budget).build()


def note(customer, policy, ctx=LOOPER, body="Called again."):
    arguments = {"model": "Note", "data": {"customer": customer.id, "body": body}}
    call = {"name": "db.create", "arguments": {**arguments, "reason": REASON}}
    return execute(call, ctx, policy=policy)


def outcome(result):
    return result["outcome"], result.get("error", {}).get("code")


@pytest.fixture
def trips():
    """The budget_exceeded signals sent, as kwargs dicts."""
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    budget_exceeded.connect(receiver)
    yield received
    budget_exceeded.disconnect(receiver)


def test_an_agent_looping_in_one_run_is_stopped_at_its_budget_and_stays_stopped(
    trips, django_capture_on_commit_callbacks
):
    customer = CustomerFactory()
    policy = run_policy(max_calls=5)

    with django_capture_on_commit_callbacks(execute=True):
        results = [note(customer, policy, body=f"loop {i}") for i in range(20)]

    assert [outcome(r) for r in results] == [("ok", None)] * 5 + [
        ("denied", "BUDGET_EXCEEDED")
    ] * 15
    assert Note.objects.count() == 5
    assert "This run is now stopped" in results[5]["error"]["message"]
    assert all("This run was stopped" in r["error"]["message"] for r in results[6:])
    # The trip fired once, with what a notifier needs.
    assert len(trips) == 1
    (trip,) = trips
    assert trip["budget"] == {
        "id": "budget:run:calls=5",
        "scope": "run",
        "model": None,
        "max_calls": 5,
        "max_rows": None,
        "per_seconds": None,
        "on_exceed": "deny",
    }
    assert trip["scope_key"] == '["7", "run-loop"]'
    assert trip["used"] == {"calls": 5, "rows": 5}
    assert trip["context"] == LOOPER
    assert trip["tool"] == "db.create"
    stopped = BudgetWindow.objects.get(stopped=True)
    assert (stopped.run_id, stopped.tenant_id, stopped.expires_at) == ("run-loop", "7", None)
    # Reads go on; other runs write freely.
    read = execute({"name": "db.query", "arguments": {"model": "Note"}}, LOOPER, policy=policy)
    assert read["outcome"] == "ok"
    next_run = ToolContext(principal=LOOPER.principal, tenant_id=7, run_id="run-next")
    assert outcome(note(customer, policy, ctx=next_run)) == ("ok", None)


def test_a_stopped_run_stays_stopped_however_long_it_waits():
    customer = CustomerFactory()
    policy = run_policy(max_calls=1, per=timedelta(minutes=1))
    note(customer, policy)
    assert outcome(note(customer, policy)) == ("denied", "BUDGET_EXCEEDED")
    age_windows(3600)
    prune_windows()

    assert outcome(note(customer, policy)) == ("denied", "BUDGET_EXCEEDED")


def test_reset_run_frees_the_run_with_its_whole_budget_and_is_audited(trips):
    customer = CustomerFactory()
    policy = run_policy(max_calls=2)
    for _ in range(3):
        note(customer, policy)
    assert outcome(note(customer, policy)) == ("denied", "BUDGET_EXCEEDED")

    done = reset_run("run-loop", tenant_id=7, actor="ops:lee", reason="checked the loop")

    assert done["was_stopped"] is True
    assert done["budgets"] == ["budget:run:calls=2"]
    event = AuditEvent.objects.get(pk=done["audit_id"])
    assert (event.tool, event.principal, event.run_id, event.tenant_id, event.reason) == (
        "budget.reset",
        "ops:lee",
        "run-loop",
        "7",
        "checked the loop",
    )
    assert [outcome(note(customer, policy)) for _ in range(3)] == [
        ("ok", None),
        ("ok", None),
        ("denied", "BUDGET_EXCEEDED"),
    ]


def test_the_run_trips_again_after_a_reset_and_signals_again(
    trips, django_capture_on_commit_callbacks
):
    customer = CustomerFactory()
    policy = run_policy(max_calls=1)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            note(customer, policy)
        reset_run("run-loop", tenant_id=7, actor="ops:lee")
        for _ in range(3):
            note(customer, policy)

    assert len(trips) == 2


def test_a_windowed_budget_signals_once_per_trip_not_once_per_refusal(
    trips, django_capture_on_commit_callbacks
):
    customer = CustomerFactory()
    policy = shop_writes().write_budget(scope="principal", max_calls=1, per=timedelta(minutes=1))
    policy = policy.build()
    with django_capture_on_commit_callbacks(execute=True):
        results = [note(customer, policy) for _ in range(4)]
        age_windows(61)  # the window frees up: the next refusal is a new trip
        results += [note(customer, policy) for _ in range(3)]

    assert [r["outcome"] for r in results] == [
        *("ok", "denied", "denied", "denied"),
        *("ok", "denied", "denied"),
    ]
    assert len(trips) == 2
    assert {t["scope_key"] for t in trips} == {LOOPER.principal}


def test_an_escalating_budget_signals_once_when_it_first_holds_a_call(
    trips, django_capture_on_commit_callbacks
):
    customer = CustomerFactory()
    policy = (
        shop_writes().bounded_burst(model="Note", max_calls=1, per=timedelta(minutes=1)).build()
    )
    with django_capture_on_commit_callbacks(execute=True):
        results = [note(customer, policy)["outcome"] for _ in range(3)]

    assert results == ["ok", "pending_approval", "pending_approval"]
    assert len(trips) == 1
    assert trips[0]["budget"]["on_exceed"] == "approve"
    assert trips[0]["used"] == {"calls": 2, "rows": 2}  # the held call is counted


def test_the_command_resets_a_run_and_says_what_it_did():
    customer = CustomerFactory()
    policy = run_policy(max_calls=1)
    note(customer, policy)
    note(customer, policy)
    out = StringIO()

    call_command("ormai_budget", "list", "--stopped", stdout=out)
    assert "budget:run:calls=1  run" in out.getvalue() and "STOPPED" in out.getvalue()

    out = StringIO()
    call_command(
        "ormai_budget",
        "reset",
        "--run",
        "run-loop",
        "--tenant",
        "7",
        "--actor",
        "ops:kim",
        stdout=out,
    )

    assert "Run run-loop (tenant 7) was stopped" in out.getvalue()
    assert outcome(note(customer, policy)) == ("ok", None)
    assert AuditEvent.objects.filter(tool="budget.reset", principal="ops:kim").count() == 1


def test_resetting_a_run_with_nothing_recorded_or_an_ambiguous_id_is_refused():
    policy = run_policy(max_calls=5)
    for tenant in (7, 8):
        customer = CustomerFactory(tenant_id=tenant)
        note(customer, policy, ctx=ToolContext(principal="agent:a", tenant_id=tenant, run_id="r"))

    with pytest.raises(BudgetError) as unknown:
        reset_run("never-ran", actor="ops:lee")
    with pytest.raises(BudgetError) as ambiguous:
        reset_run("r", actor="ops:lee")
    with pytest.raises(CommandError, match="AMBIGUOUS_RUN"):
        call_command("ormai_budget", "reset", "--run", "r", stdout=StringIO())

    assert unknown.value.code == "UNKNOWN_RUN"
    assert ambiguous.value.code == "AMBIGUOUS_RUN"
    assert reset_run("r", tenant_id=8, actor="ops:lee")["tenant_id"] == "8"
    assert BudgetWindow.objects.filter(run_id="r", tenant_id="7").exists()


# --- state that doesn't grow forever -------------------------------------------------------


def test_windows_that_are_over_are_pruned_and_the_live_ones_kept():
    customer = CustomerFactory()
    policy = (
        shop_writes()
        .write_budget(scope="principal", max_calls=100, per=timedelta(minutes=1))
        .write_budget(scope="tenant", max_calls=100, per=timedelta(hours=1))
        .write_budget(scope="run", max_calls=1)
        .build()
    )
    for i in range(20):  # twenty agents, each with windows of its own
        note(customer, policy, ctx=ToolContext(principal=f"agent:{i}", tenant_id=7, run_id=f"r{i}"))
    stopped = note(customer, policy, ctx=ToolContext(principal="agent:0", tenant_id=7, run_id="r0"))
    assert stopped["error"]["code"] == "BUDGET_EXCEEDED"
    assert BudgetWindow.objects.count() == 20 + 20 + 1
    age_windows(120)  # two minutes on: every principal's minute is over, the hour isn't

    # What Celery beat runs (ormai_django.tasks.prune_budget_windows), called in-process.
    assert prune_budget_windows() == 20

    left = sorted(BudgetWindow.objects.values_list("scope", flat=True))
    assert left == ["run"] * 20 + ["tenant"]
    age_windows(3600)
    out = StringIO()
    call_command("ormai_budget", "prune", stdout=out)
    assert "Deleted 1 budget window(s)" in out.getvalue()  # the tenant's hour
    # A run's budget for its life stays RUN_BUDGET_RETENTION (7 days) after its last write;
    # a stopped run's, until an operator resets it.
    age_windows(8 * 24 * 3600)
    assert prune_windows() == 19
    assert list(BudgetWindow.objects.values_list("run_id", "stopped")) == [("r0", True)]
