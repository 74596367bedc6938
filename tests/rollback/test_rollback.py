"""Rollback by design: every inverse (update, create, soft delete, hard delete with its
cascade), conflicts and force, redo, whole runs, refusals, dry runs, and the ledger a
rollback leaves (its own audit row, history rows, before/after)."""

import dataclasses
import gc

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ormai_django import DEFAULT_PROD, PolicyBuilder, ToolContext, execute
from ormai_django.approvals import approve
from ormai_django.models import AuditEvent
from ormai_django.rollback import RollbackError, rollback_audit_id, rollback_run
from sandbox_project.shop.models import Customer, Note, Order, Subscription
from tests.factories import CustomerFactory, NoteFactory, OrderFactory, SubscriptionFactory
from tests.support import call_tool, database_state

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-rollback")
REASON = "The customer asked for it on the phone."
OPS = "ops:lee"


def rollback_policy(allow_cascade_delete=True, **extra):
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models([Customer, Subscription, Order, Note])
        .tenant_scope("tenant_id")
        .enable_writes(
            models=[Customer, Subscription, Order, Note],
            writable_fields={
                "Customer": ["preferred_name", "preferred_language"],
                "Subscription": ["customer", "plan", "seats", "monthly_price", "renews_on"],
                "Order": ["status"],
                "Note": ["customer", "body"],
            },
            allow_cascade_delete=allow_cascade_delete,
            max_affected_rows=10_000,
            **extra,
        )
        .build()
    )


POLICY = None


@pytest.fixture(autouse=True)
def policy_under_test(settings):
    global POLICY
    POLICY = rollback_policy()
    return POLICY


def undo(audit_id, **kwargs):
    kwargs.setdefault("actor", OPS)
    return rollback_audit_id(audit_id, policy=POLICY, **kwargs)


def refused(call, *args, **kwargs):
    with pytest.raises(RollbackError) as caught:
        call(*args, **kwargs)
    return caught.value


def rows(model):
    return list(model._base_manager.order_by("pk").values())


# --- update -------------------------------------------------------------------------------


def test_rolling_back_an_update_restores_the_before_values_on_exactly_the_rows_it_changed():
    customer = CustomerFactory()
    pending = OrderFactory.create_batch(3, customer=customer, status="pending")
    paid = OrderFactory(customer=customer, status="paid")
    OrderFactory(customer=customer, status="shipped")  # not matched by the write
    before = rows(Order)
    write = call_tool(
        "db.update",
        AGENT,
        POLICY,
        model="Order",
        where={"status__in": ["pending", "paid"]},
        data={"status": "cancelled"},
        reason=REASON,
    )
    assert write["affected_rows"] == 4
    paid.refresh_from_db()
    paid.status = "shipped"  # not changed: a later write that leaves the row as it was

    result = undo(write["audit_id"], reason="cancelled the wrong orders")

    assert result["outcome"] == "ok"
    assert result["restored_rows"] == 4
    assert rows(Order) == before
    assert {o.pk for o in pending} | {paid.pk} == {line["pk"] for line in result["rows"]}
    assert all(line["action"] == "restore" and line["field"] == "status" for line in result["rows"])
    assert not any(line["conflict"] for line in result["rows"])


def test_a_rollback_is_a_write_with_its_own_audit_row_history_rows_and_before_after():
    order = OrderFactory(status="pending")
    write = call_tool(
        "db.update",
        AGENT,
        POLICY,
        model="Order",
        id=order.pk,
        data={"status": "cancelled"},
        reason=REASON,
    )

    result = undo(write["audit_id"], reason="wrong order")

    event = AuditEvent.objects.get(pk=result["audit_id"])
    assert event.tool == "rollback"
    assert event.outcome == "ok"
    assert event.caused_by_id == write["audit_id"]
    assert event.principal == OPS
    assert event.reason == "wrong order"
    assert event.model == "shop.Order"
    assert event.tenant_id == "7"
    assert event.affected_rows == 1
    assert event.changes == [
        {
            "model": "shop.Order",
            "pk": order.pk,
            "before": {"status": "cancelled"},
            "after": {"status": "pending"},
        }
    ]
    latest = order.history.order_by("-history_id").first()
    assert latest.history_type == "~"
    assert latest.status == "pending"
    assert latest.history_change_reason == "wrong order"
    assert order.history.count() == 3  # created, the write, the rollback


def test_the_ledger_of_a_rolled_back_multi_row_update_lists_each_row_and_redoes_it():
    customer = CustomerFactory()
    orders = [
        OrderFactory(customer=customer, status=status)
        for status in ("pending", "paid", "pending", "paid")
    ]
    write = call_tool(
        "db.update",
        AGENT,
        POLICY,
        model="Order",
        where={"status__in": ["pending", "paid"]},
        data={"status": "cancelled"},
        reason=REASON,
    )

    result = undo(write["audit_id"], reason="wrong orders")

    assert AuditEvent.objects.get(pk=result["audit_id"]).changes == [
        {
            "model": "shop.Order",
            "pk": o.pk,
            "before": {"status": "cancelled"},
            "after": {"status": o.status},
        }
        for o in sorted(orders, key=lambda o: o.pk)
    ]
    assert {o.pk: o.status for o in Order.objects.all()} == {o.pk: o.status for o in orders}
    redo = undo(result["audit_id"], reason="it was right after all")
    assert redo["restored_rows"] == 4
    assert set(Order.objects.values_list("status", flat=True)) == {"cancelled"}
    assert [c["after"] for c in AuditEvent.objects.get(pk=redo["audit_id"]).changes] == [
        {"status": "cancelled"}
    ] * 4


def test_a_rollback_without_a_reason_says_whose_rollback_it_was():
    order = OrderFactory(status="pending")
    write = call_tool(
        "db.update",
        AGENT,
        POLICY,
        model="Order",
        id=order.pk,
        data={"status": "paid"},
        reason=REASON,
    )

    result = undo(write["audit_id"])

    event = AuditEvent.objects.get(pk=result["audit_id"])
    assert event.reason == f"Rollback of {write['audit_id']} by {OPS}"


def test_rows_going_back_to_different_values_are_restored_each_to_its_own():
    customer = CustomerFactory()
    statuses = ["pending", "paid", "shipped", "pending", "paid"]
    orders = [OrderFactory(customer=customer, status=s) for s in statuses]
    write = call_tool(
        "db.update",
        AGENT,
        POLICY,
        model="Order",
        where={"customer": customer.pk},
        data={"status": "refunded"},
        reason=REASON,
    )

    undo(write["audit_id"])

    assert [Order.objects.get(pk=o.pk).status for o in orders] == statuses


def test_a_rollback_over_many_rows_takes_the_same_statements_as_over_one():
    def statements_to_undo(count):
        customer = CustomerFactory()
        OrderFactory.create_batch(count, customer=customer, status="pending")
        write = call_tool(
            "db.update",
            AGENT,
            POLICY,
            model="Order",
            where={"customer": customer.pk},
            data={"status": "cancelled"},
            reason=REASON,
        )
        with CaptureQueriesContext(connection) as queries:
            result = undo(write["audit_id"])
        assert result["restored_rows"] == count
        return len(queries)

    assert statements_to_undo(1) == statements_to_undo(300)


# --- create, soft delete, hard delete -----------------------------------------------------


def test_rolling_back_a_create_deletes_the_row_it_made():
    customer = CustomerFactory()
    write = call_tool(
        "db.create",
        AGENT,
        POLICY,
        model="Subscription",
        data={
            "customer": customer.pk,
            "plan": "pro",
            "seats": 3,
            "monthly_price": "49.00",
            "renews_on": "2027-01-01",
        },
        reason=REASON,
    )
    assert write["outcome"] == "ok", write
    (pk,) = write["ids"]

    result = undo(write["audit_id"])

    assert result["restored_rows"] == 1
    assert not Subscription.objects.filter(pk=pk).exists()
    deleted = Subscription.history.filter(id=pk).order_by("-history_id").first()
    assert deleted.history_type == "-"
    event = AuditEvent.objects.get(pk=result["audit_id"])
    assert event.changes[0]["model"] == "shop.Subscription"
    assert event.changes[0]["before"]["plan"] == "pro"
    assert "after" not in event.changes[0]


def test_rolling_back_a_create_soft_deletes_where_the_model_soft_deletes():
    customer = CustomerFactory()
    write = call_tool(
        "db.create",
        AGENT,
        POLICY,
        model="Note",
        data={"customer": customer.pk, "body": "Hello"},
        reason=REASON,
    )
    (pk,) = write["ids"]

    result = undo(write["audit_id"])

    assert result["rows"][0]["action"] == "soft_delete"
    note = Note._base_manager.get(pk=pk)
    assert note.deleted_at is not None
    assert call_tool("db.get", AGENT, POLICY, model="Note", id=pk)["error"]["code"] == "NOT_FOUND"


def test_rolling_back_a_soft_delete_clears_the_mark_and_the_row_is_visible_again():
    note = NoteFactory(tenant_id=7, customer=CustomerFactory(tenant_id=7))
    write = call_tool("db.delete", AGENT, POLICY, model="Note", id=note.pk, reason=REASON)
    assert call_tool("db.get", AGENT, POLICY, model="Note", id=note.pk)["outcome"] == "error"

    undo(write["audit_id"])

    assert Note._base_manager.get(pk=note.pk).deleted_at is None
    assert call_tool("db.get", AGENT, POLICY, model="Note", id=note.pk)["outcome"] == "ok"


def test_rolling_back_a_hard_delete_recreates_every_cascaded_row_with_its_primary_key():
    customer = CustomerFactory()
    SubscriptionFactory(customer=customer)
    OrderFactory.create_batch(2, customer=customer)
    NoteFactory(customer=customer)
    OrderFactory()  # another customer's order, untouched
    before = {m: rows(m) for m in (Customer, Subscription, Order, Note)}
    write = call_tool("db.delete", AGENT, POLICY, model="Customer", id=customer.pk, reason=REASON)
    assert write["outcome"] == "ok", write
    assert not Order.objects.filter(customer=customer.pk).exists()

    result = undo(write["audit_id"], reason="deleted the wrong customer")

    assert {m: rows(m) for m in (Customer, Subscription, Order, Note)} == before
    assert result["restored_rows"] == 5
    recreated = Order.history.filter(customer_id=customer.pk, history_type="+")
    assert recreated.filter(history_change_reason="deleted the wrong customer").count() == 2


def test_a_hard_delete_rolled_back_and_redone_deletes_the_same_rows_again():
    customer = CustomerFactory()
    OrderFactory.create_batch(2, customer=customer)
    write = call_tool("db.delete", AGENT, POLICY, model="Customer", id=customer.pk, reason=REASON)
    rollback = undo(write["audit_id"])
    assert Customer.objects.filter(pk=customer.pk).exists()

    redo = undo(rollback["audit_id"])

    assert redo["outcome"] == "ok"
    assert not Customer.objects.filter(pk=customer.pk).exists()
    assert not Order.objects.filter(customer_id=customer.pk).exists()


# --- conflicts and force ------------------------------------------------------------------


def test_a_row_changed_since_the_write_is_a_conflict_and_nothing_is_rolled_back():
    customer = CustomerFactory()
    _first, second = OrderFactory.create_batch(2, customer=customer, status="pending")
    write = call_tool(
        "db.update",
        AGENT,
        POLICY,
        model="Order",
        where={"customer": customer.pk},
        data={"status": "cancelled"},
        reason=REASON,
    )
    Order.objects.filter(pk=second.pk).update(status="refunded")  # someone else, since
    state = database_state()

    error = refused(undo, write["audit_id"])

    assert error.code == "ROLLBACK_CONFLICT"
    assert error.conflicts == [
        {
            "audit_id": write["audit_id"],
            "model": "shop.Order",
            "pk": second.pk,
            "field": "status",
            "expected": "cancelled",
            "current": "refunded",
        }
    ]
    assert database_state() == state  # the first order was not restored either
    denial = AuditEvent.objects.get(caused_by=write["audit_id"], outcome="denied")
    assert denial.tool == "rollback"
    assert denial.error_code == "ROLLBACK_CONFLICT"


def test_a_conflict_in_the_last_group_of_rows_undoes_the_groups_already_restored():
    # Rows going back to different values are restored one UPDATE per value, each changing
    # only rows that still hold what the write set; the changed row is in the last one.
    customer = CustomerFactory()
    pending = OrderFactory.create_batch(2, customer=customer, status="pending")
    paid = OrderFactory(customer=customer, status="paid")
    write = call_tool(
        "db.update",
        AGENT,
        POLICY,
        model="Order",
        where={"customer": customer.pk},
        data={"status": "cancelled"},
        reason=REASON,
    )
    Order.objects.filter(pk=paid.pk).update(status="refunded")
    state = database_state()

    error = refused(undo, write["audit_id"])

    assert error.code == "ROLLBACK_CONFLICT"
    assert [(c["pk"], c["current"]) for c in error.conflicts] == [(paid.pk, "refunded")]
    assert database_state() == state
    assert {o.status for o in Order.objects.filter(pk__in=[o.pk for o in pending])} == {"cancelled"}


def test_force_over_rows_that_did_not_change_is_an_ordinary_rollback_that_says_force():
    customer = CustomerFactory()
    OrderFactory.create_batch(3, customer=customer, status="pending")
    write = call_tool(
        "db.update",
        AGENT,
        POLICY,
        model="Order",
        where={"customer": customer.pk},
        data={"status": "cancelled"},
        reason=REASON,
    )

    result = undo(write["audit_id"], force=True)

    assert result["forced"] is False and result["conflicts"] == []
    assert set(Order.objects.filter(customer=customer).values_list("status", flat=True)) == {
        "pending"
    }
    assert AuditEvent.objects.get(pk=result["audit_id"]).arguments["force"] is True


def test_a_rollback_leaves_the_process_garbage_collector_alone():
    # No global side effects for speed: the collector stays on while the rollback's SQL runs.
    customer = CustomerFactory()
    OrderFactory.create_batch(3, customer=customer, status="pending")
    write = call_tool(
        "db.update",
        AGENT,
        POLICY,
        model="Order",
        where={"customer": customer.pk},
        data={"status": "cancelled"},
        reason=REASON,
    )
    seen = []

    def observe(execute, sql, params, many, context):
        seen.append(gc.isenabled())
        return execute(sql, params, many, context)

    with connection.execute_wrapper(observe):
        undo(write["audit_id"])

    assert seen and all(seen)
    assert gc.isenabled()


def test_force_overwrites_a_conflict_and_the_audit_row_says_so():
    order = OrderFactory(status="pending")
    write = call_tool(
        "db.update",
        AGENT,
        POLICY,
        model="Order",
        id=order.pk,
        data={"status": "cancelled"},
        reason=REASON,
    )
    Order.objects.filter(pk=order.pk).update(status="refunded")

    result = undo(write["audit_id"], force=True)

    assert result["forced"] is True
    assert result["conflicts"][0]["current"] == "refunded"
    assert Order.objects.get(pk=order.pk).status == "pending"
    event = AuditEvent.objects.get(pk=result["audit_id"])
    assert event.arguments["force"] is True
    assert event.changes[0]["before"] == {"status": "refunded"}


def test_a_row_recreated_since_a_delete_is_a_conflict():
    customer = CustomerFactory()
    write = call_tool("db.delete", AGENT, POLICY, model="Customer", id=customer.pk, reason=REASON)
    CustomerFactory(id=customer.pk, name="Someone new")

    error = refused(undo, write["audit_id"])

    assert error.code == "ROLLBACK_CONFLICT"
    assert error.conflicts[0]["field"] is None
    assert "exists again" in error.conflicts[0]["problem"]
    assert Customer.objects.get(pk=customer.pk).name == "Someone new"


def test_force_over_a_recreated_row_puts_back_the_deleted_values():
    customer = CustomerFactory(name="Original")
    write = call_tool("db.delete", AGENT, POLICY, model="Customer", id=customer.pk, reason=REASON)
    CustomerFactory(id=customer.pk, name="Someone new")

    undo(write["audit_id"], force=True)

    assert Customer.objects.get(pk=customer.pk).name == "Original"


def test_a_row_deleted_since_an_update_is_a_conflict_and_force_passes_over_it():
    customer = CustomerFactory()
    kept, gone = OrderFactory.create_batch(2, customer=customer, status="pending")
    write = call_tool(
        "db.update",
        AGENT,
        POLICY,
        model="Order",
        where={"customer": customer.pk},
        data={"status": "paid"},
        reason=REASON,
    )
    Order.objects.filter(pk=gone.pk).delete()

    error = refused(undo, write["audit_id"])
    assert error.conflicts[0]["problem"] == "the row no longer exists"

    result = undo(write["audit_id"], force=True)
    assert result["restored_rows"] == 1
    assert Order.objects.get(pk=kept.pk).status == "pending"


def test_a_created_row_that_others_depend_on_since_is_a_conflict_force_deletes_them_too():
    global POLICY
    # A profile without the default deny globs, so a customer (whose password hash is
    # required) can be created by the tool.
    POLICY = (
        PolicyBuilder(dataclasses.replace(DEFAULT_PROD, deny_globs=()))
        .register_models([Customer, Subscription, Order, Note])
        .tenant_scope("tenant_id")
        .enable_writes(
            models=[Customer],
            writable_fields={"Customer": ["name", "email", "password_hash", "created_at"]},
        )
        .build()
    )
    write = call_tool(
        "db.create",
        AGENT,
        POLICY,
        model="Customer",
        data={
            "name": "Ann",
            "email": "ann@example.com",
            "password_hash": "x",
            "created_at": "2026-11-01T10:00:00Z",
        },
        reason=REASON,
    )
    assert write["outcome"] == "ok", write
    (pk,) = write["ids"]
    order = OrderFactory(customer=Customer.objects.get(pk=pk))  # someone else, since

    error = refused(undo, write["audit_id"])
    assert error.code == "ROLLBACK_CONFLICT"
    assert "1 shop.Order" in error.conflicts[0]["problem"]
    assert error.conflicts[0]["reaches"] == {"shop.Order": [order.pk]}
    assert Order.objects.filter(pk=order.pk).exists()

    forced = undo(write["audit_id"], force=True)
    assert not Customer.objects.filter(pk=pk).exists()
    assert not Order.objects.filter(pk=order.pk).exists()
    recorded = AuditEvent.objects.get(pk=forced["audit_id"]).changes
    assert {(c["model"], c["pk"]) for c in recorded} == {
        ("shop.Customer", pk),
        ("shop.Order", order.pk),
    }

    undo(forced["audit_id"])  # the redo brings both back
    assert Order.objects.get(pk=order.pk).customer_id == pk


# --- redo, refusals -----------------------------------------------------------------------


def test_a_write_is_rolled_back_once_and_the_rollback_itself_can_be_rolled_back():
    order = OrderFactory(status="pending")
    write = call_tool(
        "db.update",
        AGENT,
        POLICY,
        model="Order",
        id=order.pk,
        data={"status": "cancelled"},
        reason=REASON,
    )
    rollback = undo(write["audit_id"])

    error = refused(undo, write["audit_id"])
    assert error.code == "ALREADY_ROLLED_BACK"
    assert error.details["rolled_back_by"] == rollback["audit_id"]

    redo = undo(rollback["audit_id"])
    assert Order.objects.get(pk=order.pk).status == "cancelled"
    assert AuditEvent.objects.get(pk=redo["audit_id"]).caused_by_id == rollback["audit_id"]


@pytest.mark.parametrize(
    "call",
    [
        {"name": "db.get", "arguments": {"model": "Order", "id": 1}},
        {"name": "db.update", "arguments": {"model": "Order", "id": 1, "data": {"status": "x"}}},
        {
            "name": "db.update",
            "arguments": {
                "model": "Order",
                "id": 1,
                "reason": "r",
                "dry_run": True,
                "data": {"status": "paid"},
            },
        },
        {
            "name": "db.update",
            "arguments": {"model": "Order", "id": 1, "reason": "r", "data": {"total_cents": 1}},
        },
    ],
    ids=["a read", "a denial", "a dry run", "a refused field"],
)
def test_only_an_executed_write_can_be_rolled_back(call):
    OrderFactory(id=1, tenant_id=7, customer=CustomerFactory(tenant_id=7))
    result = execute(call, AGENT, policy=POLICY)
    audit_id = result.get("audit_id") or AuditEvent.objects.latest("created_at").id

    error = refused(undo, audit_id)

    assert error.code == "NOT_A_WRITE"


def test_an_idempotent_replay_points_at_the_write_it_replayed():
    order = OrderFactory(status="pending")
    first = call_tool(
        "db.update",
        AGENT,
        POLICY,
        model="Order",
        id=order.pk,
        data={"status": "paid"},
        idempotency_key="k-1",
        reason=REASON,
    )
    replay = call_tool(
        "db.update",
        AGENT,
        POLICY,
        model="Order",
        id=order.pk,
        data={"status": "paid"},
        idempotency_key="k-1",
        reason=REASON,
    )
    assert replay["idempotent_replay"] is True
    replay_event = AuditEvent.objects.exclude(pk=first["audit_id"]).get(idempotency_key="k-1")

    error = refused(undo, replay_event.pk)

    assert error.code == "NOT_A_WRITE"
    assert first["audit_id"] in error.message


@pytest.mark.parametrize("audit_id", ["aud_nope", "", None, 7])
def test_an_unknown_audit_id_is_refused(audit_id):
    assert refused(undo, audit_id).code == "UNKNOWN_AUDIT_EVENT"


@pytest.mark.parametrize("actor", ["", "   ", None, 5, "x" * 201])
def test_a_rollback_needs_an_actor(actor):
    order = OrderFactory(status="pending")
    write = call_tool(
        "db.update",
        AGENT,
        POLICY,
        model="Order",
        id=order.pk,
        data={"status": "paid"},
        reason=REASON,
    )

    assert refused(undo, write["audit_id"], actor=actor).code == "INVALID_ARGUMENTS"
    assert Order.objects.get(pk=order.pk).status == "paid"


def test_rolling_back_an_approved_write_undoes_what_ran():
    policy = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models([Customer, Subscription, Order, Note])
        .tenant_scope("tenant_id")
        .enable_writes(models=[Subscription], writable_fields={"Subscription": ["plan"]})
        .require_approval(tool="db.update", model="Subscription", approvers=1)
        .build()
    )
    subscription = SubscriptionFactory(plan="basic")
    held = execute(
        {
            "name": "db.update",
            "arguments": {
                "model": "Subscription",
                "id": subscription.pk,
                "data": {"plan": "enterprise"},
                "reason": REASON,
            },
        },
        AGENT,
        policy=policy,
    )
    decided = approve(held["approval_id"], "lee@example.com", policy=policy)
    assert Subscription.objects.get(pk=subscription.pk).plan == "enterprise"

    rollback_audit_id(decided["result"]["audit_id"], actor=OPS, policy=policy)

    assert Subscription.objects.get(pk=subscription.pk).plan == "basic"


# --- dry run ------------------------------------------------------------------------------


def test_a_dry_run_returns_the_inverse_row_by_row_and_changes_nothing():
    customer = CustomerFactory()
    orders = OrderFactory.create_batch(2, customer=customer, status="pending")
    write = call_tool(
        "db.update",
        AGENT,
        POLICY,
        model="Order",
        where={"customer": customer.pk},
        data={"status": "cancelled"},
        reason=REASON,
    )
    Order.objects.filter(pk=orders[1].pk).update(status="refunded")
    state = database_state()

    result = undo(write["audit_id"], dry_run=True)

    assert database_state() == state
    assert result["outcome"] == "dry_run"
    assert result["restored_rows"] == 2
    assert result["rows"] == [
        {
            "audit_id": write["audit_id"],
            "model": "shop.Order",
            "pk": orders[0].pk,
            "action": "restore",
            "field": "status",
            "current": "cancelled",
            "restored": "pending",
            "conflict": False,
        },
        {
            "audit_id": write["audit_id"],
            "model": "shop.Order",
            "pk": orders[1].pk,
            "action": "restore",
            "field": "status",
            "current": "refunded",
            "restored": "pending",
            "conflict": True,
        },
    ]
    assert len(result["conflicts"]) == 1
    event = AuditEvent.objects.get(pk=result["audit_id"])
    assert event.outcome == "dry_run"
    assert event.changes is None
    undo(write["audit_id"], force=True)  # a dry run is not a rollback


# --- runs ---------------------------------------------------------------------------------


def test_rolling_back_a_run_undoes_its_writes_newest_first():
    customer = CustomerFactory()
    order = OrderFactory(customer=customer, status="pending")
    call_tool(
        "db.update",
        AGENT,
        POLICY,
        model="Order",
        id=order.pk,
        data={"status": "paid"},
        reason=REASON,
    )
    call_tool(
        "db.update",
        AGENT,
        POLICY,
        model="Order",
        id=order.pk,
        data={"status": "shipped"},
        reason=REASON,
    )
    created = call_tool(
        "db.create",
        AGENT,
        POLICY,
        model="Note",
        data={"customer": customer.pk, "body": "Shipped"},
        reason=REASON,
    )
    other_run = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-other")
    untouched = OrderFactory(customer=customer, status="pending")
    call_tool(
        "db.update",
        other_run,
        POLICY,
        model="Order",
        id=untouched.pk,
        data={"status": "paid"},
        reason=REASON,
    )

    result = rollback_run("run-rollback", actor=OPS, policy=POLICY)

    assert result["outcome"] == "ok"
    assert result["run_id"] == "rollback:run-rollback"
    assert len(result["audit_ids"]) == 3
    assert Order.objects.get(pk=order.pk).status == "pending"
    assert Note._base_manager.get(pk=created["ids"][0]).deleted_at is not None
    assert Order.objects.get(pk=untouched.pk).status == "paid"
    # And the whole rollback run can be redone.
    rollback_run("rollback:run-rollback", actor=OPS, policy=POLICY)
    assert Order.objects.get(pk=order.pk).status == "shipped"


def test_a_run_with_a_conflict_rolls_back_nothing_and_lists_conflicts_across_the_run():
    customer = CustomerFactory()
    first = OrderFactory(customer=customer, status="pending")
    second = OrderFactory(customer=customer, status="pending")
    call_tool(
        "db.update",
        AGENT,
        POLICY,
        model="Order",
        id=first.pk,
        data={"status": "paid"},
        reason=REASON,
    )
    call_tool(
        "db.update",
        AGENT,
        POLICY,
        model="Order",
        id=second.pk,
        data={"status": "paid"},
        reason=REASON,
    )
    call_tool(
        "db.update",
        AGENT,
        POLICY,
        model="Order",
        id=first.pk,
        data={"status": "shipped"},
        reason=REASON,
    )
    Order.objects.filter(pk=second.pk).update(status="refunded")
    state = database_state()

    error = refused(rollback_run, "run-rollback", actor=OPS, policy=POLICY)

    assert error.code == "ROLLBACK_CONFLICT"
    assert [(c["pk"], c["current"]) for c in error.conflicts] == [(second.pk, "refunded")]
    assert database_state() == state


def test_a_run_skips_writes_already_rolled_back_and_refuses_an_unknown_run():
    order = OrderFactory(status="pending")
    one = call_tool(
        "db.update",
        AGENT,
        POLICY,
        model="Order",
        id=order.pk,
        data={"status": "paid"},
        reason=REASON,
    )
    undo(one["audit_id"])
    two = call_tool(
        "db.update",
        AGENT,
        POLICY,
        model="Order",
        id=order.pk,
        data={"status": "shipped"},
        reason=REASON,
    )

    result = rollback_run("run-rollback", actor=OPS, policy=POLICY)

    assert result["rolled_back"] == [two["audit_id"]]
    assert result["skipped"] == [one["audit_id"]]
    assert Order.objects.get(pk=order.pk).status == "pending"
    assert refused(rollback_run, "run-rollback", actor=OPS).code == "ALREADY_ROLLED_BACK"
    assert refused(rollback_run, "no-such-run", actor=OPS).code == "UNKNOWN_RUN"


def test_rows_going_back_to_many_different_values_are_restored_each_to_its_own():
    # More distinct before values than the grouped restore takes: one CASE per batch.
    customers = [CustomerFactory(preferred_name=f"Name {i}") for i in range(12)]
    write = call_tool(
        "db.update",
        AGENT,
        POLICY,
        model="Customer",
        where={"id__in": [c.pk for c in customers]},
        data={"preferred_name": "Same"},
        reason=REASON,
    )
    assert write["affected_rows"] == 12

    result = undo(write["audit_id"])

    assert result["restored_rows"] == 12
    names = dict(Customer.objects.values_list("pk", "preferred_name"))
    assert [names[c.pk] for c in customers] == [f"Name {i}" for i in range(12)]
    assert Customer.history.filter(history_type="~", preferred_name="Name 3").count() == 1
