"""What the approvers saw is what runs: an approved where-write touches only rows measured
when it was held, however long the preview, for updates and deletes alike."""

import pytest

from ormai_django import ToolContext, execute
from ormai_django.approvals import approve
from ormai_django.models import ApprovalRequest
from sandbox_project.shop.models import Note, Order
from tests.factories import CustomerFactory, NoteFactory, OrderFactory
from tests.support import shop_writes

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7)


def held(call, policy):
    result = execute(call, AGENT, policy)
    assert result["outcome"] == "pending_approval", result
    return ApprovalRequest.objects.get(pk=result["approval_id"])


def test_a_preview_cut_short_still_runs_within_every_row_measured_at_the_hold():
    policy = shop_writes().require_approval(tool="db.update", model="Order").build()
    customer = CustomerFactory()
    orders = OrderFactory.create_batch(45, customer=customer, status="pending")
    approval = held(
        {
            "name": "db.update",
            "arguments": {
                "model": "Order",
                "where": {"customer": customer.id, "status": "pending"},
                "data": {"status": "cancelled"},
                "reason": "The customer closed the account",
            },
        },
        policy,
    )
    assert approval.preview["truncated"] is True
    assert len(approval.preview["would_change"]) == 20  # DEFAULT_PROD's max_preview_rows
    assert sorted(approval.held_ids) == sorted(o.id for o in orders)  # all 45, not 20
    late = OrderFactory.create_batch(3, customer=customer, status="pending")

    outcome = approve(approval.id, "lee", policy=policy)

    assert outcome["result"]["affected_rows"] == 45
    assert Order.objects.filter(customer=customer, status="cancelled").count() == 45
    assert all(Order.objects.get(pk=o.pk).status == "pending" for o in late)


def test_an_approved_where_delete_spares_rows_that_matched_later():
    policy = shop_writes().require_approval(tool="db.delete", model="Note").build()
    customer = CustomerFactory()
    notes = NoteFactory.create_batch(2, customer=customer, body="spam")
    approval = held(
        {
            "name": "db.delete",
            "arguments": {
                "model": "Note",
                "where": {"customer": customer.id, "body": "spam"},
                "reason": "Spam notes",
            },
        },
        policy,
    )
    late = NoteFactory(customer=customer, body="spam")

    outcome = approve(approval.id, "lee", policy=policy)

    assert outcome["status"] == "executed", outcome
    assert sorted(outcome["result"]["ids"]) == sorted(n.id for n in notes)
    late.refresh_from_db()
    assert late.deleted_at is None  # soft delete: the late note is still there
    assert Note.objects.filter(pk__in=[n.id for n in notes], deleted_at__isnull=False).count() == 2


def test_an_approved_update_by_id_keeps_its_one_row():
    policy = shop_writes().require_approval(tool="db.update", model="Order").build()
    order = OrderFactory(status="pending")
    approval = held(
        {
            "name": "db.update",
            "arguments": {
                "model": "Order",
                "id": order.id,
                "data": {"status": "cancelled"},
                "reason": "Cancelled by phone",
            },
        },
        policy,
    )

    assert approval.held_ids == [order.id]
    assert approve(approval.id, "lee", policy=policy)["status"] == "executed"
