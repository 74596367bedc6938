"""Propose, don't execute: enable_writes(..., mode="propose") and PolicyBuilder.propose_writes()
hold every write for a human, whatever its size; the audit log records the intent."""

import pytest

from ormai_django import DEFAULT_PROD, PolicyBuilder, PolicyConfigurationError, ToolContext, execute
from ormai_django.approvals import approve
from ormai_django.models import ApprovalRequest, AuditEvent
from sandbox_project.shop.models import Customer, Note, Order
from tests.factories import CustomerFactory, NoteFactory, OrderFactory
from tests.support import database_state

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:soft-launch", tenant_id=7, run_id="run-propose")
REASON = "The customer asked for it."


def call(tool, policy, **arguments):
    return execute({"name": tool, "arguments": {"reason": REASON, **arguments}}, AGENT, policy)


def shop(**customer_options):
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models([Customer, Order, Note])
        .tenant_scope("tenant_id")
        .enable_writes(writable_fields={"Customer": ["preferred_name"]}, **customer_options)
        .enable_writes(writable_fields={"Order": ["status"], "Note": ["customer", "body"]})
    )


def test_propose_mode_holds_every_write_to_its_models_and_changes_nothing():
    customer = CustomerFactory(preferred_name="")
    order = OrderFactory(customer=customer)
    policy = shop(mode="propose").build()
    before = database_state()

    proposed = call(
        "db.update", policy, model="Customer", id=customer.id, data={"preferred_name": "Al"}
    )

    assert proposed["outcome"] == "pending_approval"
    assert database_state() == before
    held = ApprovalRequest.objects.get(pk=proposed["approval_id"])
    assert held.why_held == "propose mode: every write to Customer waits for a human"
    assert held.preview["would_change"][0]["preferred_name_after"] == "Al"
    event = AuditEvent.objects.get(pk=proposed["audit_id"])
    assert (event.outcome, event.tool, event.reason) == ("pending_approval", "db.update", REASON)
    # Models not in propose mode run as usual.
    ran = call("db.update", policy, model="Order", id=order.id, data={"status": "paid"})
    assert ran["outcome"] == "ok"

    decided = approve(held.pk, "lee@example.com", policy=policy)

    assert decided["status"] == "executed"
    assert Customer.objects.get(pk=customer.pk).preferred_name == "Al"


def test_propose_writes_holds_every_write_of_the_policy_even_a_one_row_create():
    customer = CustomerFactory()
    note = NoteFactory(customer=customer)
    policy = shop().propose_writes().build()

    results = [
        call("db.create", policy, model="Note", data={"customer": customer.id, "body": "hi"}),
        call("db.update", policy, model="Note", id=note.id, data={"body": "edited"}),
        call("db.delete", policy, model="Note", id=note.id),
        call("db.update", policy, model="Customer", id=customer.id, data={"preferred_name": "C"}),
    ]
    preview = call("db.update", policy, model="Note", id=note.id, data={"body": "x"}, dry_run=True)

    assert [r["outcome"] for r in results] == ["pending_approval"] * 4
    assert Note.objects.get(pk=note.pk).body == note.body
    assert Note.objects.count() == 1
    assert (preview["would_require_approval"], preview["approvers_required"]) == (True, 1)


def test_describe_tells_the_agent_its_writes_are_proposals():
    policy = shop(mode="propose").build()

    described = execute({"name": "db.describe", "arguments": {}}, AGENT, policy)

    modes = {m["name"]: m["writes"]["mode"] for m in described["models"]}
    assert modes == {"Customer": "propose", "Order": "execute", "Note": "execute"}


def test_proposals_count_against_the_budgets_like_any_held_call():
    customers = CustomerFactory.create_batch(4)
    policy = shop(mode="propose").max_writes_per_minute(3).build()

    results = [
        call("db.update", policy, model="Customer", id=c.id, data={"preferred_name": "P"})
        for c in customers
    ]

    assert [r["outcome"] for r in results] == ["pending_approval"] * 3 + ["denied"]
    assert results[3]["error"]["code"] == "RATE_LIMITED"


def test_a_mode_that_is_not_one_is_refused_where_it_is_written():
    with pytest.raises(ValueError, match="mode must be one of"):
        PolicyBuilder().enable_writes(models=["shop.Note"], mode="dry")


def test_two_modes_for_one_model_are_refused_not_overwritten():
    builder = (
        PolicyBuilder()
        .register_models([Note])
        .enable_writes(models=[Note], mode="propose")
        .enable_writes(models=[Note], mode="execute")
    )

    with pytest.raises(PolicyConfigurationError, match=r"mode of shop\.Note is set to both"):
        builder.build()
