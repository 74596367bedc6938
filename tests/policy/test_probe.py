"""ormai_probe: a scripted adversary. It passes on the sandbox's policy, finds (and names)
a hole made on purpose, and leaves nothing behind: no row, audit row, approval, budget use
or idempotency record."""

import dataclasses
from io import StringIO

import pytest
from django.core.management import call_command

from ormai_django import DEFAULT_PROD, PolicyBuilder
from ormai_django.models import ApprovalRequest, AuditEvent, BudgetWindow, IdempotencyRecord
from ormai_django.policy.loading import get_policy
from ormai_django.policy.model_policy import ModelPolicy
from ormai_django.probe import INJECTION, run_probe
from sandbox_project.shop.models import Customer, Note, Order, Refund, Subscription
from sandbox_project.shop.seed import seed_shop

pytestmark = pytest.mark.django_db

TABLES = (
    Customer,
    Subscription,
    Order,
    Note,
    Refund,
    AuditEvent,
    ApprovalRequest,
    BudgetWindow,
    IdempotencyRecord,
)


def snapshot():
    state = {model.__name__: model._base_manager.count() for model in TABLES}
    state["names"] = sorted(Customer.objects.values_list("name", flat=True))
    state["history"] = Customer.history.count()
    return state


@pytest.fixture
def seeded():
    seed_shop(reset=True)


def test_the_sandbox_policy_lets_nothing_through_and_leaves_nothing_behind(seeded):
    before = snapshot()
    attempts = run_probe(get_policy(), "agent:probe", 7)
    assert snapshot() == before
    holes = [(a.subject, a.tool, a.attempt, a.outcome) for a in attempts if a.violation]
    assert holes == []
    tried = {(a.subject, a.tool) for a in attempts}
    for label in ("shop.Customer", "shop.Subscription", "shop.Order", "shop.Note"):
        for tool in ("db.create", "db.update", "db.delete"):
            assert (label, tool) in tried
    for tool in ("shop.refund_order", "shop.change_plan", "shop.send_receipt_email"):
        assert (tool, tool) in tried
    by_attempt = {(a.subject, a.tool, a.attempt): a for a in attempts}
    denied = by_attempt[("shop.Customer", "db.update", "the denied field password_hash")]
    assert (denied.outcome, denied.code) == ("denied", "FIELD_NOT_WRITABLE")
    other = by_attempt[("shop.Order", "db.update", "another tenant's row by id")]
    assert other.code == "NOT_FOUND"
    burst = by_attempt[("shop.Customer", "db.update", "a burst past the rate limit (10 calls)")]
    assert burst.code == "RATE_LIMITED" and burst.note == "10 of 11 ran"
    for where in ('{"and": [{}]}', '{"or": [{}]}'):
        assert by_attempt[("shop.Order", "db.delete", f"the empty where {where}")].outcome == (
            "error"
        )
    invisible = by_attempt[("shop.refund_order", "shop.refund_order", "an invisible reason")]
    assert invisible.code == "REASON_REQUIRED"


def test_a_hole_made_on_purpose_is_found_and_named(seeded, monkeypatch):
    """A test-only break of the enforcement: every visible field counts as writable."""
    original = ModelPolicy.field_named

    def writable_everything(self, name):
        info = original(self, name)
        return None if info is None else dataclasses.replace(info, writable=True)

    monkeypatch.setattr(ModelPolicy, "field_named", writable_everything)
    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("ormai_probe", "--tenant", "7", stdout=out, stderr=err)
    assert exit_.value.code == 1
    assert "GOT THROUGH: shop.Customer db.update: the non-writable field is_vip" in err.getvalue()
    assert "got through that must not" in out.getvalue()


def test_the_command_prints_a_table_and_exits_zero_on_the_sandbox(seeded):
    out = StringIO()
    call_command("ormai_probe", "--tenant", "7", stdout=out)
    text = out.getvalue()
    assert text.splitlines()[0] == "Probe"
    [line] = [
        line
        for line in text.splitlines()
        if "the denied field password_hash" in line
        and line.startswith("shop.Customer")
        and "db.update" in line
    ]
    assert "denied FIELD_NOT_WRITABLE" in line
    assert "0 got through that must not." in text


def test_instructions_in_the_data_come_back_marked_and_nothing_acts_on_them(seeded):
    policy = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Customer"])
        .tenant_scope("tenant_id")
        .enable_writes(writable_fields={"Customer": ["preferred_name"]})
        .mark_untrusted_strings()
        .build()
    )
    before = snapshot()
    attempts = run_probe(policy, "agent:probe", 7)
    [injection] = [a for a in attempts if a.tool == "db.get"]
    assert not injection.violation and injection.note == "marked as untrusted data"
    assert snapshot() == before
    assert not Customer.objects.filter(name=INJECTION).exists()
