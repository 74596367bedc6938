"""Every row a domain tool changes is captured (before and after, history rows with the
reason), and what can't be captured is refused before it runs, rolling the call back."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ormai_django import ToolContext, execute
from ormai_django.models import AuditEvent
from sandbox_project.shop.models import Customer, Note, Order
from tests.domain.tools import kit_policy
from tests.factories import CustomerFactory, NoteFactory, OrderFactory
from tests.support import database_state

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:kit", tenant_id=7, run_id="run-kit")
REASON = "Tidying up as the customer asked"
# django-simple-history's change reason names the agent, then its reason.
RECORDED = f"{AGENT.principal}: {REASON}"


def run(tool, policy=None, **arguments):
    return execute(
        {"name": tool, "arguments": {"reason": REASON, **arguments}},
        AGENT,
        policy or kit_policy(),
    )


def changes_of(result):
    return AuditEvent.objects.get(id=result["audit_id"]).changes


def test_a_save_is_captured_with_only_the_fields_that_changed_and_a_history_row():
    customer = CustomerFactory(tenant_id=7, preferred_name="Ann")

    result = run("testkit.rename_customer", customer_id=customer.id, preferred_name="Annie")

    assert result["outcome"] == "ok" and result["affected_rows"] == 1
    assert changes_of(result) == [
        {
            "model": "shop.Customer",
            "pk": customer.id,
            "before": {"preferred_name": "Ann"},
            "after": {"preferred_name": "Annie"},
        }
    ]
    latest = customer.history.latest("history_date")
    assert (latest.preferred_name, latest.history_change_reason) == ("Annie", RECORDED)


def test_a_create_is_captured_whole_and_its_history_row_has_the_reason():
    order = OrderFactory(customer=CustomerFactory(tenant_id=7), status="paid", total_cents=900)

    result = execute(
        {
            "name": "shop.refund_order",
            "arguments": {"order_id": order.id, "amount_cents": 900, "reason": REASON},
        },
        AGENT,
    )

    refund_entry, order_entry = changes_of(result)
    assert refund_entry["model"] == "shop.Refund" and "before" not in refund_entry
    assert refund_entry["after"]["amount_cents"] == 900
    assert order_entry == {
        "model": "shop.Order",
        "pk": order.id,
        "before": {"status": "paid"},
        "after": {"status": "refunded"},
    }
    refund = order.refunds.get()
    assert refund.history.get().history_change_reason == RECORDED


def test_a_bulk_update_from_the_calls_queryset_is_captured_per_row():
    customer = CustomerFactory(tenant_id=7)
    pending = OrderFactory.create_batch(3, customer=customer, status="pending")
    paid = OrderFactory(customer=customer, status="paid")

    result = run("testkit.cancel_orders", customer_id=customer.id)

    assert result["result"] == {"cancelled": 3}
    assert changes_of(result) == [
        {
            "model": "shop.Order",
            "pk": o.id,
            "before": {"status": "pending"},
            "after": {"status": "cancelled"},
        }
        for o in pending
    ]
    assert Order.objects.get(pk=paid.id).status == "paid"
    for order in pending:
        latest = order.history.latest("history_date")
        assert (latest.status, latest.history_change_reason) == ("cancelled", RECORDED)


def test_a_bulk_update_takes_the_same_statements_for_1000_rows_as_for_10():
    def statements(count):
        customer = CustomerFactory(tenant_id=7)
        Order.objects.bulk_create(
            [
                Order(
                    tenant_id=7,
                    customer=customer,
                    status="pending",
                    total_cents=1,
                    created_at=customer.created_at,
                )
                for _ in range(count)
            ]
        )
        with CaptureQueriesContext(connection) as queries:
            result = run("testkit.cancel_orders", customer_id=customer.id)
        assert result["result"] == {"cancelled": count}
        assert len(changes_of(result)) == count
        return len(queries)

    assert statements(10) == statements(1000)


def test_a_bulk_delete_from_the_calls_queryset_records_every_row_and_its_history():
    customer = CustomerFactory(tenant_id=7)
    notes = NoteFactory.create_batch(2, customer=customer)

    result = run("testkit.delete_notes", customer_id=customer.id)

    assert result["result"] == {"deleted": 2}
    entries = changes_of(result)
    assert [(e["model"], e["pk"], "after" in e) for e in entries] == [
        ("shop.Note", n.id, False) for n in notes
    ]
    assert entries[0]["before"]["body"] == notes[0].body
    assert not Note.objects.filter(customer=customer).exists()
    assert Note.history.filter(history_type="-", history_change_reason=RECORDED).count() == 2


def test_a_row_created_and_deleted_in_one_call_leaves_no_ledger_entry():
    customer = CustomerFactory(tenant_id=7)

    result = run("testkit.create_then_delete", customer_id=customer.id)

    assert result["outcome"] == "ok"
    assert changes_of(result) == []
    assert not Note.objects.exists()


def test_a_write_to_a_model_the_tool_did_not_declare_rolls_the_call_back():
    customer = CustomerFactory(tenant_id=7)
    OrderFactory(customer=customer, status="pending")
    before = database_state()

    result = run("testkit.note_without_declaring", customer_id=customer.id)

    assert (result["outcome"], result["error"]["code"]) == ("error", "UNDECLARED_WRITE")
    assert "shop.Note" in result["error"]["message"]
    assert database_state() == before  # the orders it cancelled first are back too
    assert AuditEvent.objects.get(id=result["audit_id"]).changes is None


@pytest.mark.parametrize("tool", ["testkit.raw_sql", "testkit.manager_update"])
def test_a_write_nothing_can_record_is_refused_and_rolled_back(tool):
    customer = CustomerFactory(tenant_id=7)
    OrderFactory(customer=customer, status="pending")
    before = database_state()

    result = run(tool, customer_id=customer.id)

    assert (result["outcome"], result["error"]["code"]) == ("error", "UNCAPTURED_WRITE")
    assert database_state() == before


def test_a_tool_that_catches_the_refusal_still_fails():
    customer = CustomerFactory(tenant_id=7)
    OrderFactory(customer=customer, status="pending")
    before = database_state()

    result = run("testkit.swallow_refusal", customer_id=customer.id)

    assert result["error"]["code"] == "UNCAPTURED_WRITE"
    assert database_state() == before


def test_a_tool_that_rolls_back_part_of_its_own_writes_fails_whole():
    customer = CustomerFactory(tenant_id=7, preferred_name="Ann")

    result = run("testkit.partial_rollback", customer_id=customer.id)

    assert result["error"]["code"] == "UNCAPTURED_WRITE"
    assert "savepoint" in result["error"]["message"]
    assert Customer.objects.get(pk=customer.id).preferred_name == "Ann"


def test_a_tool_changing_another_tenants_row_is_refused():
    theirs = OrderFactory(customer=CustomerFactory(tenant_id=8), status="pending")
    customer = CustomerFactory(tenant_id=7)
    before = database_state()

    result = run("testkit.other_tenant", customer_id=customer.id)

    assert (result["outcome"], result["error"]["code"]) == ("denied", "CROSS_TENANT_WRITE")
    assert Order.objects.get(pk=theirs.id).status == "pending"
    assert database_state() == before


def test_a_result_that_is_not_json_is_an_internal_error_and_changes_nothing(caplog):
    customer = CustomerFactory(tenant_id=7)

    result = run("testkit.not_json", customer_id=customer.id)

    assert (result["outcome"], result["error"]["code"]) == ("error", "INTERNAL_ERROR")
    assert "Traceback" not in str(result)


def test_a_dry_run_of_a_bulk_update_changes_nothing_and_lists_every_row():
    customer = CustomerFactory(tenant_id=7)
    orders = OrderFactory.create_batch(2, customer=customer, status="pending")
    before = database_state()

    preview = run("testkit.cancel_orders", customer_id=customer.id, dry_run=True)

    assert preview["outcome"] == "dry_run"
    assert preview["would_change"] == [
        {"model": "Order", "id": o.id, "status_before": "pending", "status_after": "cancelled"}
        for o in orders
    ]
    assert database_state() == before


def test_a_preview_masks_masked_fields_and_leaves_denied_ones_out():
    customer = CustomerFactory(tenant_id=7, email="ann@example.com", api_token="tok_old")

    preview = run("testkit.reset_contact", customer_id=customer.id, dry_run=True)

    (line,) = preview["would_change"]
    assert line == {
        "model": "Customer",
        "id": customer.id,
        "email_before": "a***@e***.com",
        "email_after": "n***@e***.org",
    }
    assert "tok_" not in str(preview)
    # The ledger (for operators) keeps the real values, as for any write.
    done = run("testkit.reset_contact", customer_id=customer.id)
    assert changes_of(done)[0]["after"]["api_token"] == "tok_new_secret"
