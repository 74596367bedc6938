"""The ledger of an executed write: the audit row's changes and affected_rows, one history row
per row changed with the reason, the ids in the result; all of it committed with the write or
not at all; cascading deletes denied unless allowed, and never into another tenant."""

import gc
import tracemalloc

import orjson
import pytest
from django.db import connection
from django.utils import timezone

from ormai_django import DEFAULT_PROD, PolicyBuilder, ToolContext
from ormai_django.models import AuditEvent, BudgetWindow, IdempotencyRecord
from sandbox_project.shop.models import Customer, Note, Order, Subscription
from tests.factories import CustomerFactory, NoteFactory, OrderFactory, SubscriptionFactory
from tests.support import call_tool, data_statements, database_state, event_of

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-ledger")
REASON = "The customer asked for it on the phone."
# django-simple-history's change reason names the agent, then its reason.
RECORDED = f"{AGENT.principal}: {REASON}"


def history_of(model, **filters):
    return list(model.history.filter(**filters).order_by("history_id"))


def ledger_policy(allow_cascade_delete=None, max_affected_rows=None, rate_limit=None):
    builder = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models([Customer, Subscription, Order, Note])
        .mask_fields(["customer.email", "customer.phone"])
        .tenant_scope("tenant_id")
        .enable_writes(
            models=[Customer, Subscription, Order, Note],
            writable_fields={
                "Customer": ["preferred_name", "preferred_language"],
                "Subscription": ["plan", "seats", "monthly_price", "renews_on"],
                "Order": ["status"],
                "Note": ["customer", "body"],
            },
            allow_cascade_delete=allow_cascade_delete,
            max_affected_rows=max_affected_rows,
        )
    )
    if rate_limit:
        builder.max_writes_per_minute(rate_limit)
    return builder.build()


def iso(value):
    return None if value is None else value.isoformat()


def customer_row(c):
    return {
        "id": c.id,
        "tenant_id": c.tenant_id,
        "name": c.name,
        "preferred_name": c.preferred_name,
        "preferred_language": c.preferred_language,
        "email": c.email,
        "phone": c.phone,
        "password_hash": c.password_hash,
        "api_token": c.api_token,
        "is_vip": c.is_vip,
        "created_at": iso(c.created_at),
    }


def subscription_row(s):
    return {
        "id": s.id,
        "tenant_id": s.tenant_id,
        "customer": s.customer_id,
        "plan": s.plan,
        "status": s.status,
        "seats": s.seats,
        "seats_in_use": s.seats_in_use,
        "monthly_price": str(s.monthly_price),
        "renews_on": iso(s.renews_on),
    }


def order_row(o):
    return {
        "id": o.id,
        "tenant_id": o.tenant_id,
        "customer": o.customer_id,
        "status": o.status,
        "total_cents": o.total_cents,
        "currency": o.currency,
        "created_at": iso(o.created_at),
        "shipped_at": iso(o.shipped_at),
    }


def note_row(n):
    return {
        "id": n.id,
        "tenant_id": n.tenant_id,
        "customer": n.customer_id,
        "body": n.body,
        "author_email": n.author_email,
        "created_at": iso(n.created_at),
        "deleted_at": iso(n.deleted_at),
    }


def fresh(instance):
    """The row as the database holds it (values converted back from their columns)."""
    return type(instance)._base_manager.get(pk=instance.pk)


# --- create -------------------------------------------------------------------------------


def test_a_create_records_every_field_of_the_new_row_as_after():
    customer = CustomerFactory()

    result = call_tool(
        "db.create",
        AGENT,
        ledger_policy(),
        model="Note",
        data={"customer": customer.id, "body": "Called about the invoice."},
        reason=REASON,
    )

    assert result["outcome"] == "ok", result
    note = Note.objects.get()
    assert result["affected_rows"] == 1
    assert result["ids"] == [note.id]
    event = event_of(result)
    assert event.outcome == "ok"
    assert event.affected_rows == 1
    assert event.reason == REASON
    assert event.changes == [{"pk": note.id, "after": note_row(note)}]
    assert event.changes[0]["after"]["tenant_id"] == 7
    assert event.changes[0]["after"]["deleted_at"] is None


def test_a_create_writes_one_plus_history_row_with_the_reason():
    customer = CustomerFactory()

    result = call_tool(
        "db.create",
        AGENT,
        ledger_policy(),
        model="Note",
        data={"customer": customer.id, "body": "hello"},
        reason=REASON,
    )

    note = Note.objects.get(pk=result["ids"][0])
    (history,) = history_of(Note)
    assert history.id == note.id
    assert history.history_type == "+"
    assert history.history_change_reason == RECORDED
    assert history.body == "hello"
    assert history.tenant_id == 7
    assert history.customer_id == customer.id


# --- update -------------------------------------------------------------------------------


def test_an_update_records_before_and_after_of_the_fields_it_set_as_json():
    subscription = SubscriptionFactory(seats=1, plan="basic")
    before = fresh(subscription)

    result = call_tool(
        "db.update",
        AGENT,
        ledger_policy(),
        model="Subscription",
        id=subscription.id,
        data={"seats": 3, "monthly_price": "12.50", "renews_on": "2030-01-02"},
        reason=REASON,
    )

    assert result["outcome"] == "ok", result
    assert result["affected_rows"] == 1
    assert result["ids"] == [subscription.id]
    event = event_of(result)
    assert event.affected_rows == 1
    assert event.changes == [
        {
            "pk": subscription.id,
            "before": {
                "seats": 1,
                "monthly_price": str(before.monthly_price),
                "renews_on": before.renews_on.isoformat(),
            },
            "after": {"seats": 3, "monthly_price": "12.50", "renews_on": "2030-01-02"},
        }
    ]


def test_an_updates_after_values_are_what_the_row_now_holds():
    subscription = SubscriptionFactory()

    result = call_tool(
        "db.update",
        AGENT,
        ledger_policy(),
        model="Subscription",
        id=subscription.id,
        data={"monthly_price": 12.5},
        reason=REASON,
    )

    assert result["outcome"] == "ok", result
    stored = str(fresh(subscription).monthly_price)
    assert stored == "12.50"
    (change,) = event_of(result).changes
    assert change["after"] == {"monthly_price": stored}


def test_an_update_writes_one_history_row_with_the_after_state_and_the_reason():
    customer = CustomerFactory(preferred_name="Al", preferred_language="en")
    history_before = Customer.history.count()

    result = call_tool(
        "db.update",
        AGENT,
        ledger_policy(),
        model="Customer",
        id=customer.id,
        data={"preferred_language": "fr"},
        reason=REASON,
    )

    assert result["outcome"] == "ok", result
    assert Customer.history.count() == history_before + 1
    history = history_of(Customer)[-1]
    assert history.id == customer.id
    assert history.history_type == "~"
    assert history.history_change_reason == RECORDED
    assert history.preferred_language == "fr"
    # The whole row as it now is, not only the field that changed.
    assert history.preferred_name == "Al"
    assert history.name == customer.name
    assert history.password_hash == customer.password_hash


def test_a_multi_row_update_of_fifty_rows_records_each_row_and_writes_fifty_history_rows():
    customers = CustomerFactory.create_batch(50, preferred_language="en", preferred_name="")
    untouched = [
        CustomerFactory(preferred_language="fr"),
        CustomerFactory(tenant_id=8, preferred_language="en"),
    ]
    history_before = Customer.history.count()

    result = call_tool(
        "db.update",
        AGENT,
        ledger_policy(),
        model="Customer",
        where={"preferred_language": "en"},
        data={"preferred_name": "Valued customer"},
        reason=REASON,
    )

    assert result["outcome"] == "ok", result
    ids = sorted(c.id for c in customers)
    assert result["affected_rows"] == 50
    assert result["ids"] == ids
    event = event_of(result)
    assert event.affected_rows == 50
    assert sorted(event.changes, key=lambda c: c["pk"]) == [
        {"pk": pk, "before": {"preferred_name": ""}, "after": {"preferred_name": "Valued customer"}}
        for pk in ids
    ]
    new_history = list(Customer.history.order_by("history_id")[history_before:])
    assert Customer.history.count() == history_before + 50
    assert sorted(h.id for h in new_history) == ids
    assert {(h.history_type, h.history_change_reason) for h in new_history} == {("~", RECORDED)}
    assert {h.preferred_name for h in new_history} == {"Valued customer"}
    names = {c.id: c.name for c in customers}
    assert all(h.name == names[h.id] for h in new_history)
    for row in untouched:
        assert fresh(row).preferred_name == row.preferred_name
        assert len(history_of(Customer, id=row.id)) == 1  # the factory's own create


@pytest.mark.parametrize("rows", [5, 60])
def test_a_where_update_reads_its_rows_once_whatever_their_number(rows):
    # SQLite: the keys and the ledger in one SELECT, the history INSERT ... SELECT, the
    # UPDATE, the audit row. PostgreSQL: the locked keys, then one statement for the update,
    # its history rows and the audit row with the ledger (which never comes to Python).
    CustomerFactory.create_batch(rows, preferred_language="en", preferred_name="")
    expected = 2 if connection.vendor == "postgresql" else 4

    call = {
        "name": "db.update",
        "arguments": {
            "model": "Customer",
            "where": {"preferred_language": "en"},
            "data": {"preferred_name": "Valued customer"},
            "reason": REASON,
        },
    }
    result, statements = data_statements(call, AGENT, ledger_policy())

    assert result["outcome"] == "ok", result
    assert len(statements) == expected, "\n".join(statements)
    scans = [s for s in statements if 'FROM "shop_customer"' in s and s.startswith("SELECT")]
    assert len(scans) == 1, "\n".join(scans)
    assert len(event_of(result).changes) == rows


def test_a_multi_row_update_of_text_and_boolean_fields_records_them_as_json_in_key_order():
    # The database builds this ledger (SQLite's json_group_array, PostgreSQL's json_agg):
    # booleans must come out as true/false, not 0/1, and rows in primary-key order.
    customers = [
        CustomerFactory(preferred_language="en", preferred_name=f"N{i}", is_vip=i % 2 == 0)
        for i in range(5)
    ]
    policy = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models([Customer])
        .tenant_scope("tenant_id")
        .enable_writes(
            models=[Customer], writable_fields={"Customer": ["preferred_name", "is_vip"]}
        )
        .build()
    )

    result = call_tool(
        "db.update",
        AGENT,
        policy,
        model="Customer",
        where={"preferred_language": "en"},
        data={"preferred_name": "Ann \"the\" 'VIP' ✓", "is_vip": True},
        reason=REASON,
    )

    assert result["outcome"] == "ok", result
    after = {"preferred_name": "Ann \"the\" 'VIP' ✓", "is_vip": True}
    assert event_of(result).changes == [
        {
            "pk": c.id,
            "before": {"preferred_name": c.preferred_name, "is_vip": c.is_vip},
            "after": after,
        }
        for c in sorted(customers, key=lambda c: c.id)
    ]
    # JSON true and false (0 and 1 would compare equal to them in Python).
    assert {
        type(c[side]["is_vip"]) for c in event_of(result).changes for side in c if side != "pk"
    } == {bool}
    assert {(c.preferred_name, c.is_vip) for c in Customer.objects.all()} == {
        ("Ann \"the\" 'VIP' ✓", True)
    }


def test_a_write_over_more_than_a_hundred_rows_returns_the_first_hundred_ids():
    customers = CustomerFactory.create_batch(101, preferred_language="en")

    result = call_tool(
        "db.update",
        AGENT,
        ledger_policy(max_affected_rows=500),
        model="Customer",
        where={"preferred_language": "en"},
        data={"preferred_name": "Bulk"},
        reason=REASON,
    )

    assert result["outcome"] == "ok", result
    assert result["affected_rows"] == 101
    assert result["ids"] == sorted(c.id for c in customers)[:100]
    assert result["ids_truncated"] is True
    assert len(event_of(result).changes) == 101


@pytest.mark.parametrize(
    "write", ["create", "update", "update-where", "soft-delete", "hard-delete"]
)
def test_the_history_change_reason_is_the_reason_cut_to_the_fields_length(write):
    customer = CustomerFactory(preferred_name="")
    note = NoteFactory(customer=customer, body="original")
    reason = "Because" + " the customer asked again and again" * 6
    limit = Note.history.model._meta.get_field("history_change_reason").max_length
    assert limit == 100
    assert len(reason) > limit
    tool, arguments = write_calls(customer, note)[write]
    history_before = {model: model.history.count() for model in (Customer, Note)}

    result = call_tool(
        tool, AGENT, ledger_policy(allow_cascade_delete=True), **arguments, reason=reason
    )

    assert result["outcome"] == "ok", result
    new_rows = [
        h
        for model in (Customer, Note)
        for h in model.history.order_by("history_id")[history_before[model] :]
    ]
    assert new_rows
    assert {h.history_change_reason for h in new_rows} == {f"{AGENT.principal}: {reason}"[:limit]}
    assert event_of(result).reason == reason  # the audit row keeps all of it


# --- delete -------------------------------------------------------------------------------


def test_a_soft_delete_marks_the_row_and_records_the_marker_before_and_after():
    note = NoteFactory()
    started = timezone.now()

    result = call_tool("db.delete", AGENT, ledger_policy(), model="Note", id=note.id, reason=REASON)

    assert result["outcome"] == "ok", result
    assert result["affected_rows"] == 1
    assert result["ids"] == [note.id]
    stored = fresh(note)  # still there: marked, not removed
    assert stored.deleted_at is not None
    assert started <= stored.deleted_at <= timezone.now()
    assert stored.body == note.body
    event = event_of(result)
    assert event.affected_rows == 1
    assert event.changes == [
        {
            "pk": note.id,
            "before": {"deleted_at": None},
            "after": {"deleted_at": iso(stored.deleted_at)},
        }
    ]
    history = history_of(Note)[-1]
    assert history.id == note.id
    assert history.history_type == "~"
    assert history.history_change_reason == RECORDED
    assert history.deleted_at == stored.deleted_at


def test_a_soft_deleted_row_is_gone_for_reads_and_writes():
    note = NoteFactory()
    call_tool("db.delete", AGENT, ledger_policy(), model="Note", id=note.id, reason=REASON)

    got = call_tool("db.get", AGENT, ledger_policy(), model="Note", id=note.id)
    again = call_tool("db.delete", AGENT, ledger_policy(), model="Note", id=note.id, reason=REASON)

    assert got["error"]["code"] == "NOT_FOUND"
    assert again["error"]["code"] == "NOT_FOUND"


def customer_with_everything():
    customer = CustomerFactory()
    # Read back, so values are compared as the database returns them.
    related = {
        "subscription": fresh(SubscriptionFactory(customer=customer)),
        "orders": [fresh(o) for o in OrderFactory.create_batch(2, customer=customer)],
        "note": fresh(NoteFactory(customer=customer)),
    }
    return customer, related


def test_a_hard_delete_with_cascade_records_the_before_of_every_row_it_removed():
    customer, related = customer_with_everything()
    customer = fresh(customer)

    result = call_tool(
        "db.delete",
        AGENT,
        ledger_policy(allow_cascade_delete=True),
        model="Customer",
        id=customer.id,
        reason=REASON,
    )

    assert result["outcome"] == "ok", result
    assert result["affected_rows"] == 1
    assert result["ids"] == [customer.id]
    expected = [
        {"model": "shop.Customer", "pk": customer.id, "before": customer_row(customer)},
        {
            "model": "shop.Subscription",
            "pk": related["subscription"].id,
            "before": subscription_row(related["subscription"]),
        },
        *({"model": "shop.Order", "pk": o.id, "before": order_row(o)} for o in related["orders"]),
        *({"model": "shop.Note", "pk": n.id, "before": note_row(n)} for n in (related["note"],)),
    ]
    event = event_of(result)
    key = lambda change: (change["model"], change["pk"])  # noqa: E731
    assert sorted(event.changes, key=key) == sorted(expected, key=key)
    assert event.affected_rows == 1
    assert not Customer.objects.filter(pk=customer.id).exists()
    assert not Subscription.objects.exists()
    assert not Order.objects.exists()
    assert not Note._base_manager.exists()


def test_a_hard_delete_writes_a_minus_history_row_for_every_row_removed():
    customer, related = customer_with_everything()

    result = call_tool(
        "db.delete",
        AGENT,
        ledger_policy(allow_cascade_delete=True),
        model="Customer",
        id=customer.id,
        reason=REASON,
    )

    assert result["outcome"] == "ok", result
    removed = {
        Customer: [customer.id],
        Subscription: [related["subscription"].id],
        Order: sorted(o.id for o in related["orders"]),
        Note: [related["note"].id],
    }
    for model, ids in removed.items():
        minus = history_of(model, history_type="-")
        assert sorted(h.id for h in minus) == ids, model
        assert {h.history_change_reason for h in minus} == {RECORDED}, model


def test_a_hard_delete_without_related_rows_runs_under_default_prod():
    customer = CustomerFactory()

    result = call_tool(
        "db.delete", AGENT, ledger_policy(), model="Customer", id=customer.id, reason=REASON
    )

    assert result["outcome"] == "ok", result
    assert not Customer.objects.filter(pk=customer.id).exists()
    assert [c["model"] for c in event_of(result).changes] == ["shop.Customer"]


def test_a_delete_that_would_cascade_is_denied_under_default_prod():
    customer, _ = customer_with_everything()
    before = database_state()

    result = call_tool(
        "db.delete", AGENT, ledger_policy(), model="Customer", id=customer.id, reason=REASON
    )

    assert result["outcome"] == "denied", result
    assert result["error"]["code"] == "CASCADE_NOT_ALLOWED"
    assert result["error"]["cascade"] == {"shop.Subscription": 1, "shop.Order": 2, "shop.Note": 1}
    assert database_state() == before
    event = event_of(result)
    assert event.error_code == "CASCADE_NOT_ALLOWED"
    assert event.changes is None


def test_a_multi_row_delete_with_cascade_allowed_removes_every_cascaded_row():
    customers = CustomerFactory.create_batch(2, preferred_language="de")
    keep = CustomerFactory(preferred_language="en")
    kept_order = OrderFactory(customer=keep)
    orders = [OrderFactory(customer=c) for c in customers]

    result = call_tool(
        "db.delete",
        AGENT,
        ledger_policy(allow_cascade_delete=True),
        model="Customer",
        where={"preferred_language": "de"},
        reason=REASON,
    )

    assert result["outcome"] == "ok", result
    assert result["affected_rows"] == 2
    assert result["ids"] == sorted(c.id for c in customers)
    assert list(Customer.objects.values_list("id", flat=True)) == [keep.id]
    assert list(Order.objects.values_list("id", flat=True)) == [kept_order.id]
    assert sorted((c["model"], c["pk"]) for c in event_of(result).changes) == sorted(
        [("shop.Customer", c.id) for c in customers] + [("shop.Order", o.id) for o in orders]
    )


def test_a_cascade_into_another_tenants_rows_is_denied_even_when_cascades_are_allowed():
    customer = CustomerFactory(tenant_id=7)
    mine = OrderFactory(customer=customer)
    # An inconsistent row: tenant 8's order on tenant 7's customer.
    theirs = OrderFactory(customer=customer, tenant_id=8)
    before = database_state()

    result = call_tool(
        "db.delete",
        AGENT,
        ledger_policy(allow_cascade_delete=True),
        model="Customer",
        id=customer.id,
        reason=REASON,
    )

    assert result["outcome"] == "denied", result
    assert result["error"]["code"] == "CASCADE_NOT_ALLOWED"
    assert database_state() == before
    assert Order._base_manager.filter(pk__in=[mine.id, theirs.id]).count() == 2
    assert event_of(result).changes is None


def test_a_cascade_into_another_tenants_rows_of_an_unregistered_model_is_denied():
    # Notes aren't registered here: the agent can't see them, in any tenant.
    policy = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models([Customer, Order])
        .tenant_scope("tenant_id")
        .enable_writes(models=[Customer], allow_cascade_delete=True)
        .build()
    )
    customer = CustomerFactory(tenant_id=7)
    theirs = NoteFactory(customer=customer, tenant_id=8)
    before = database_state()

    result = call_tool("db.delete", AGENT, policy, model="Customer", id=customer.id, reason=REASON)

    assert result["outcome"] == "denied", result
    assert result["error"]["code"] == "CASCADE_NOT_ALLOWED"
    assert database_state() == before
    assert Note._base_manager.filter(pk=theirs.pk).exists()


# --- all or nothing: a real database failure in the audit insert ---------------------------


@pytest.fixture
def refuse_audit_rows():
    """Install a trigger that makes the database refuse matching audit rows."""
    installed = []

    def install(condition):
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute(
                    "CREATE TRIGGER ormai_test_refuse_audit BEFORE INSERT ON "
                    f"ormai_django_auditevent WHEN {condition} "
                    "BEGIN SELECT RAISE(ABORT, 'audit refused'); END;"
                )
            elif connection.vendor == "postgresql":
                cursor.execute(
                    "CREATE FUNCTION ormai_test_refuse_audit() RETURNS trigger AS $$ BEGIN "
                    f"IF {condition} THEN "
                    "RAISE EXCEPTION 'audit refused' USING ERRCODE = 'check_violation'; "
                    "END IF; RETURN NEW; END; $$ LANGUAGE plpgsql;"
                )
                cursor.execute(
                    "CREATE TRIGGER ormai_test_refuse_audit BEFORE INSERT ON "
                    "ormai_django_auditevent FOR EACH ROW "
                    "EXECUTE FUNCTION ormai_test_refuse_audit();"
                )
            else:
                pytest.skip(f"no audit trigger written for {connection.vendor}")
        installed.append(connection.vendor)

    yield install
    if installed:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute("DROP TRIGGER IF EXISTS ormai_test_refuse_audit")
            else:
                cursor.execute(
                    "DROP TRIGGER IF EXISTS ormai_test_refuse_audit ON ormai_django_auditevent"
                )
                cursor.execute("DROP FUNCTION IF EXISTS ormai_test_refuse_audit()")


def write_calls(customer, note):
    """One call of each write kind, on the given rows."""
    return {
        "create": (
            "db.create",
            {"model": "Note", "data": {"customer": customer.id, "body": "new"}},
        ),
        "update": (
            "db.update",
            {"model": "Customer", "id": customer.id, "data": {"preferred_name": "Al"}},
        ),
        "update-where": (
            "db.update",
            {"model": "Note", "where": {"customer": customer.id}, "data": {"body": "changed"}},
        ),
        "soft-delete": ("db.delete", {"model": "Note", "id": note.id}),
        "hard-delete": ("db.delete", {"model": "Customer", "id": customer.id}),
    }


def ledger_state():
    return {
        **database_state(),
        "idempotency": list(IdempotencyRecord.objects.values()),
        "budgets": list(BudgetWindow.objects.values()),
        "executed": AuditEvent.objects.filter(outcome="ok").count(),
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "write", ["create", "update", "update-where", "soft-delete", "hard-delete"]
)
def test_when_the_audit_row_cannot_be_written_nothing_of_the_write_remains(
    write, refuse_audit_rows
):
    customer = CustomerFactory(preferred_name="")
    note = NoteFactory(customer=customer, body="original")
    SubscriptionFactory(customer=customer)
    policy = ledger_policy(allow_cascade_delete=True, rate_limit=10)
    refuse_audit_rows("NEW.reason = 'fail-audit'")
    tool, arguments = write_calls(customer, note)[write]
    before = ledger_state()

    result = call_tool(
        tool, AGENT, policy, **arguments, reason="fail-audit", idempotency_key="key-1"
    )

    assert result["outcome"] == "error", result
    assert "error" in result
    assert ledger_state() == before
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_retry_after_the_audit_failure_runs_for_real(refuse_audit_rows):
    customer = CustomerFactory(preferred_name="")
    policy = ledger_policy(rate_limit=10)
    refuse_audit_rows("NEW.reason = 'fail-audit'")
    arguments = {"model": "Customer", "id": customer.id, "data": {"preferred_name": "Al"}}
    failed = call_tool(
        "db.update", AGENT, policy, **arguments, reason="fail-audit", idempotency_key="k"
    )

    retried = call_tool("db.update", AGENT, policy, **arguments, reason=REASON, idempotency_key="k")

    assert failed["outcome"] == "error"
    assert retried["outcome"] == "ok", retried
    assert "idempotent_replay" not in retried
    assert fresh(customer).preferred_name == "Al"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "write", ["create", "update", "update-where", "soft-delete", "hard-delete"]
)
def test_a_write_rolled_back_by_the_audit_failure_is_audited_without_changes(
    write, refuse_audit_rows
):
    customer = CustomerFactory(preferred_name="")
    note = NoteFactory(customer=customer, body="original")
    policy = ledger_policy(allow_cascade_delete=True)
    # Only the executed write's row is refused; the row of the failure can be written.
    refuse_audit_rows("NEW.reason = 'fail-audit' AND NEW.outcome = 'ok'")
    tool, arguments = write_calls(customer, note)[write]
    before = ledger_state()

    result = call_tool(tool, AGENT, policy, **arguments, reason="fail-audit")

    assert result["outcome"] == "error", result
    assert ledger_state() == before
    event = event_of(result)
    assert event.outcome == "error"
    assert event.error_code == result["error"]["code"]
    # Nothing landed, so the ledger must not claim rows changed.
    assert event.changes is None
    assert event.affected_rows is None


def peak_bytes_of_an_update(owner, status):
    policy = ledger_policy(max_affected_rows=100_000)
    gc.collect()
    tracemalloc.start()
    try:
        result = call_tool(
            "db.update",
            AGENT,
            policy,
            model="Order",
            where={"customer": owner.id},
            data={"status": status},
            reason=REASON,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result["outcome"] == "ok", result
    return peak, event_of(result)


@pytest.mark.postgres
def test_on_postgresql_a_where_update_writes_its_audit_row_in_its_own_statement():
    # The ledger goes from the updated rows into the audit row inside the database: the call's
    # memory grows by less than one copy of the ledger between 300 and 3,000 rows, and the
    # row still records every before and after, its count and its duration.
    small, large = CustomerFactory(tenant_id=7), CustomerFactory(tenant_id=7)
    for owner, count in ((small, 300), (large, 3000)):
        Order.objects.bulk_create(
            Order(
                tenant_id=7,
                customer=owner,
                status="pending",
                total_cents=i,
                created_at=timezone.now(),
            )
            for i in range(count)
        )
    peak_bytes_of_an_update(small, "paid")  # warm: the first call imports and caches

    small_peak, _ = peak_bytes_of_an_update(small, "shipped")
    large_peak, event = peak_bytes_of_an_update(large, "shipped")

    ids = sorted(Order.objects.filter(customer=large).values_list("pk", flat=True))
    assert event.changes == [
        {"pk": pk, "before": {"status": "pending"}, "after": {"status": "shipped"}} for pk in ids
    ]
    assert event.affected_rows == 3000 and event.outcome == "ok"
    assert event.duration_ms is not None and event.duration_ms > 0
    ledger_bytes = len(orjson.dumps(event.changes))
    assert large_peak - small_peak < ledger_bytes, (small_peak, large_peak, ledger_bytes)
