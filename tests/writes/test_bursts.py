"""bounded_burst: writes run freely up to the bound per window, then escalate to approval
(they are not denied)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ormai_django import DEFAULT_PROD, PolicyBuilder, ToolContext, execute
from ormai_django.models import ApprovalRequest, AuditEvent
from sandbox_project.shop.models import Note
from tests.factories import CustomerFactory, NoteFactory

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:note-taker", tenant_id=7)


def burst_policy(max_calls=3, max_rows=10):
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Customer", "shop.Note"])
        .tenant_scope("tenant_id")
        .enable_writes(models=["Note"], writable_fields={"Note": ["customer", "body"]})
        .bounded_burst(
            model="Note", max_calls=max_calls, max_rows=max_rows, per=timedelta(minutes=1)
        )
        .build()
    )


def create_note(customer, body, policy, context=AGENT, **extra):
    arguments = {"model": "Note", "data": {"customer": customer.id, "body": body}}
    call = {"name": "db.create", "arguments": {**arguments, "reason": "log the call", **extra}}
    return execute(call, context, policy)


def test_writes_within_the_burst_run_and_the_next_one_is_held_not_denied():
    customer = CustomerFactory()
    policy = burst_policy(max_calls=3)

    outcomes = [create_note(customer, f"note {i}", policy)["outcome"] for i in range(5)]

    assert outcomes == ["ok", "ok", "ok", "pending_approval", "pending_approval"]
    assert Note.objects.count() == 3
    held = ApprovalRequest.objects.get(pk=create_note(customer, "x", policy)["approval_id"])
    assert "burst of 3 writes" in held.why_held
    assert held.approvers_required == 1


def test_the_row_bound_counts_the_rows_each_write_touches():
    customer = CustomerFactory()
    notes = NoteFactory.create_batch(4, customer=customer)
    policy = burst_policy(max_calls=10, max_rows=5)
    update = {
        "name": "db.update",
        "arguments": {
            "model": "Note",
            "where": {"id__in": [n.id for n in notes]},
            "data": {"body": "tidied"},
            "reason": "tidy the notes",
        },
    }

    first = execute(update, AGENT, policy)  # 4 rows: within 5
    second = execute(update, AGENT, policy)  # 4 more: 8 > 5

    assert (first["outcome"], first["affected_rows"]) == ("ok", 4)
    assert second["outcome"] == "pending_approval"


def test_bursts_are_counted_per_principal():
    customer = CustomerFactory()
    policy = burst_policy(max_calls=1)
    other = ToolContext(principal="agent:other", tenant_id=7)

    assert create_note(customer, "a", policy)["outcome"] == "ok"
    assert create_note(customer, "b", policy, context=other)["outcome"] == "ok"
    assert create_note(customer, "c", policy)["outcome"] == "pending_approval"


def test_only_writes_inside_the_window_count():
    customer = CustomerFactory()
    policy = burst_policy(max_calls=1)
    # A write of this principal two minutes ago (the ledger is append-only: a row is added).
    AuditEvent.objects.create(
        tool="db.create",
        model="shop.Note",
        principal=AGENT.principal,
        outcome="ok",
        affected_rows=1,
        created_at=timezone.now() - timedelta(minutes=2),
    )

    assert create_note(customer, "fresh window", policy)["outcome"] == "ok"


def test_dry_runs_and_held_calls_do_not_use_up_the_burst():
    customer = CustomerFactory()
    policy = burst_policy(max_calls=2)

    preview = create_note(customer, "a", policy, dry_run=True)
    assert (preview["outcome"], preview["would_require_approval"]) == ("dry_run", False)
    assert create_note(customer, "a", policy)["outcome"] == "ok"
    assert create_note(customer, "b", policy)["outcome"] == "ok"
    preview = create_note(customer, "c", policy, dry_run=True)
    assert (preview["outcome"], preview["would_require_approval"]) == ("dry_run", True)
    assert create_note(customer, "c", policy)["outcome"] == "pending_approval"
    assert create_note(customer, "d", policy)["outcome"] == "pending_approval"
    assert Note.objects.count() == 2
