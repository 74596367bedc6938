"""A hard delete's cascade counts and lists only rows the caller can see, and a cascade that
would reach rows it can't see (another tenant's, soft-deleted ones) is refused without naming
them: the refusal and the dry run are no existence oracle (issue 19, attack 2)."""

import pytest
from django.utils import timezone

from ormai_django import ToolContext
from sandbox_project.shop.models import Customer, Note
from tests.factories import CustomerFactory, NoteFactory, OrderFactory
from tests.support import call_tool, database_state, event_of, shop_writes

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-cascade")
REASON = "The customer asked to be forgotten."


def delete_customer(customer, *, allow_cascade_delete, dry_run=False):
    policy = shop_writes(allow_cascade_delete=allow_cascade_delete).build()
    return call_tool(
        "db.delete", AGENT, policy, model="Customer", id=customer.id, reason=REASON, dry_run=dry_run
    )


def customer_with_hidden_rows(kind):
    customer = CustomerFactory(tenant_id=7)
    OrderFactory(customer=customer, tenant_id=7)
    if kind == "soft-deleted":
        for _ in range(3):
            NoteFactory(customer=customer, tenant_id=7, deleted_at=timezone.now())
    else:  # a row of tenant 8 that points at tenant 7's customer
        for _ in range(3):
            NoteFactory(customer=customer, tenant_id=8)
    return customer


@pytest.mark.parametrize("kind", ["soft-deleted", "other-tenant"])
@pytest.mark.parametrize("allow_cascade_delete", [False, True])
@pytest.mark.parametrize("dry_run", [False, True])
def test_a_cascade_into_rows_the_caller_cannot_see_is_refused_without_counting_them(
    kind, allow_cascade_delete, dry_run
):
    customer = customer_with_hidden_rows(kind)
    before = database_state()

    result = delete_customer(customer, allow_cascade_delete=allow_cascade_delete, dry_run=dry_run)

    assert result["outcome"] == "denied", result
    error = result["error"]
    assert error["code"] == "CASCADE_NOT_ALLOWED"
    assert "can't see" in error["message"]
    assert "cascade" not in error  # no per-model counts
    assert "3" not in error["message"] and "Note" not in error["message"]
    assert "would_change" not in result and "cascade" not in result
    assert database_state() == before
    assert event_of(result).changes is None


def test_the_refusal_counts_only_visible_rows_when_every_reached_row_is_visible():
    customer = CustomerFactory(tenant_id=7)
    OrderFactory.create_batch(2, customer=customer, tenant_id=7)
    NoteFactory(customer=customer, tenant_id=7)

    result = delete_customer(customer, allow_cascade_delete=False)

    assert result["error"]["code"] == "CASCADE_NOT_ALLOWED"
    assert result["error"]["cascade"] == {"shop.Order": 2, "shop.Note": 1}
    assert "2 shop.Order, 1 shop.Note" in result["error"]["message"]


def test_a_permitted_cascade_previews_and_deletes_only_visible_rows():
    customer = CustomerFactory(tenant_id=7)
    orders = OrderFactory.create_batch(2, customer=customer, tenant_id=7)
    note = NoteFactory(customer=customer, tenant_id=7)

    preview = delete_customer(customer, allow_cascade_delete=True, dry_run=True)
    done = delete_customer(customer, allow_cascade_delete=True)

    assert preview["outcome"] == "dry_run", preview
    assert preview["cascade"] == {
        "shop.Order": {"count": 2, "ids": sorted(o.id for o in orders)},
        "shop.Note": {"count": 1, "ids": [note.id]},
    }
    assert done["outcome"] == "ok", done
    assert not Customer.objects.filter(pk=customer.pk).exists()
    assert not Note._base_manager.filter(pk=note.pk).exists()
