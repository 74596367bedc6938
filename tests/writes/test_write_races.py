"""Writes racing each other on PostgreSQL: idempotent retries, rate limits, overlapping rows.

Every test starts real threads together (a Barrier), each with its own database
connection, so the row locks, unique constraints and the BudgetWindow locks are
what keeps the results exact. SQLite serialises writers, so these run only in
the PostgreSQL pass (``ORMAI_DB=postgres``).
"""

import threading
from collections import Counter

import pytest
from django.db import connection

from ormai_django import DEFAULT_PROD, PolicyBuilder, ToolContext, execute
from ormai_django.models import AuditEvent, IdempotencyRecord
from sandbox_project.shop.models import Customer, Note, Order
from tests.factories import CustomerFactory, NoteFactory, OrderFactory
from tests.support import counted

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

AGENT = ToolContext(principal="agent:retrier", tenant_id=7, run_id="run-races")


def writes_policy(limit=None):
    """Customer names, Note bodies and Order status/totals are writable; ``limit`` writes
    per principal per minute."""
    builder = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models([Customer, Order, Note])
        .tenant_scope("tenant_id")
        .enable_writes(
            models=["Customer", "Order", "Note"],
            writable_fields={
                "Customer": ["preferred_name"],
                "Order": ["status", "total_cents"],
                "Note": ["customer", "body"],
            },
            require_reason=True,
        )
    )
    if limit is not None:
        builder = builder.max_writes_per_minute(limit)
    return builder.build()


def run_together(calls, policy):
    """Run ``[(call, context), ...]`` each in its own thread, released at the same moment;
    the results in the order of ``calls``."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)
    crashes = []

    def worker(index, call, context):
        try:
            barrier.wait(timeout=30)
            results[index] = execute(call, context, policy=policy)
        except BaseException as exc:  # a broken barrier; execute itself never raises
            crashes.append(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [
        threading.Thread(target=worker, args=(i, call, context))
        for i, (call, context) in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a write hung (a lock never released?)"
    assert crashes == []
    return results


def update(model, data, reason, *, id=None, where=None, key=None):
    arguments = {"model": model, "data": data, "reason": reason}
    arguments.update({"id": id} if where is None else {"where": where})
    if key is not None:
        arguments["idempotency_key"] = key
    return {"name": "db.update", "arguments": arguments}


def outcomes(results):
    return Counter(
        (r["outcome"], r.get("error", {}).get("code")) if r["outcome"] != "ok" else ("ok", None)
        for r in results
    )


def written_events(**filters):
    """Audit rows of writes that changed rows."""
    return AuditEvent.objects.filter(outcome="ok", changes__isnull=False, **filters)


def assert_one_write_and_replays(results, event):
    """All results name the one write (its ids and its audit row); one of them ran it, the
    others are replays, each audited in a row of its own that says what it replayed."""
    assert {r["audit_id"] for r in results} == {event.id}
    fresh = [r for r in results if "idempotent_replay" not in r]
    replays = [r for r in results if r.get("idempotent_replay") is True]
    assert len(fresh) == 1
    assert len(replays) == len(results) - 1
    for replay in replays:
        assert {k: v for k, v in replay.items() if k != "idempotent_replay"} == fresh[0]
    replay_rows = AuditEvent.objects.filter(caused_by=event)
    assert replay_rows.count() == len(replays)
    for row in replay_rows:
        assert (row.outcome, row.changes, row.affected_rows) == ("ok", None, None)


# --- idempotent retries ---------------------------------------------------------------


def test_twelve_simultaneous_retries_of_a_create_make_one_row():
    customer = CustomerFactory()
    call = {
        "name": "db.create",
        "arguments": {
            "model": "Note",
            "data": {"customer": customer.id, "body": "Called about the refund."},
            "reason": "log the support call",
            "idempotency_key": "note-call-1",
        },
    }

    results = run_together([(call, AGENT)] * 12, writes_policy())

    assert outcomes(results) == {("ok", None): 12}
    notes = list(Note.objects.filter(customer=customer))
    assert len(notes) == 1
    assert {tuple(r["ids"]) for r in results} == {(notes[0].id,)}
    assert Note.history.filter(id=notes[0].id).count() == 1
    record = IdempotencyRecord.objects.get()
    assert (record.principal, record.key) == ("agent:retrier", "note-call-1")
    written = written_events(tool="db.create")
    assert written.count() == 1
    assert record.audit_event_id == written.get().id
    assert_one_write_and_replays(results, written.get())
    assert AuditEvent.objects.count() == 12  # every call is audited, once


def test_twelve_simultaneous_retries_of_an_update_change_the_row_once():
    customer = CustomerFactory(preferred_name="Ann")
    call = update(
        "Customer", {"preferred_name": "Annie"}, "she asked", id=customer.id, key="rename-1"
    )

    results = run_together([(call, AGENT)] * 12, writes_policy(limit=10))

    assert outcomes(results) == {("ok", None): 12}
    assert {tuple(r["ids"]) for r in results} == {(customer.id,)}
    customer.refresh_from_db()
    assert customer.preferred_name == "Annie"
    assert Customer.history.filter(id=customer.id, history_type="~").count() == 1
    assert IdempotencyRecord.objects.count() == 1
    written = written_events(tool="db.update")
    assert written.count() == 1
    event = written.get()
    assert event.changes == [
        {
            "pk": customer.id,
            "before": {"preferred_name": "Ann"},
            "after": {"preferred_name": "Annie"},
        }
    ]
    assert_one_write_and_replays(results, event)
    # Replays spend no budget: one write was made.
    assert counted("rate:", scope_key="agent:retrier")[0] == 1


# --- the rate limit --------------------------------------------------------------------


def test_sixteen_simultaneous_writes_under_a_limit_of_five_admit_exactly_five():
    policy = writes_policy(limit=5)
    for attempt in range(3):  # a fresh principal each round: the budget row is new, too
        principal = f"agent:burst-{attempt}"
        context = ToolContext(principal=principal, tenant_id=7)
        customers = CustomerFactory.create_batch(16, preferred_name="")
        calls = []
        for i, customer in enumerate(customers):
            if i % 2:  # a new note under its own idempotency key
                data = {"customer": customer.id, "body": f"note {i}"}
                arguments = {
                    "model": "Note",
                    "data": data,
                    "reason": "log",
                    "idempotency_key": f"n{i}",
                }
                calls.append(({"name": "db.create", "arguments": arguments}, context))
            else:  # another row
                calls.append(
                    (
                        update("Customer", {"preferred_name": f"N{i}"}, "tidy", id=customer.id),
                        context,
                    )
                )

        results = run_together(calls, policy)

        assert outcomes(results) == {("ok", None): 5, ("denied", "RATE_LIMITED"): 11}
        for denied in (r for r in results if r["outcome"] == "denied"):
            assert isinstance(denied["error"]["retry_after"], int)
            assert 1 <= denied["error"]["retry_after"] <= 60
        assert counted("rate:", scope_key=principal)[0] == 5
        ids = [c.id for c in customers]
        renamed = Customer.history.filter(id__in=ids, history_type="~")
        created = Note.history.filter(customer_id__in=ids, history_type="+")
        assert renamed.count() + created.count() == 5
        changed = set(
            Customer.objects.filter(id__in=ids)
            .exclude(preferred_name="")
            .values_list("id", flat=True)
        ) | set(Note.objects.filter(customer_id__in=ids).values_list("customer_id", flat=True))
        admitted = [i for i, r in enumerate(results) if r["outcome"] == "ok"]
        assert changed == {customers[i].id for i in admitted}
        # Only executed writes keep their key; a rate-limited call can be retried for real.
        stored = IdempotencyRecord.objects.filter(principal=principal)
        assert sorted(stored.values_list("key", flat=True)) == sorted(
            f"n{i}" for i in admitted if i % 2
        )
        assert written_events(principal=principal).count() == 5
        limited = AuditEvent.objects.filter(principal=principal, error_code="RATE_LIMITED")
        assert limited.count() == 11


def test_two_principals_writing_at_once_each_get_their_own_budget():
    customers = CustomerFactory.create_batch(16, preferred_name="")
    contexts = [ToolContext(principal=p, tenant_id=7) for p in ("agent:one", "agent:two")]
    calls = [
        (update("Customer", {"preferred_name": f"N{i}"}, "tidy names", id=c.id), contexts[i % 2])
        for i, c in enumerate(customers)
    ]

    results = run_together(calls, writes_policy(limit=3))

    for context in contexts:
        mine = [r for (_, ctx), r in zip(calls, results, strict=True) if ctx is context]
        assert outcomes(mine) == {("ok", None): 3, ("denied", "RATE_LIMITED"): 5}
        assert counted("rate:", scope_key=context.principal)[0] == 3
    history = Customer.history.filter(id__in=[c.id for c in customers], history_type="~")
    assert history.count() == 6


# --- overlapping rows ------------------------------------------------------------------


def assert_ledger_matches_rows(orders, results, calls):
    """Per row, the executed writes' before/after values chain from the starting value to
    the row's final value, in the order of its history rows; refused writes left nothing."""
    runs = [(call["arguments"]["reason"], r) for (call, _), r in zip(calls, results, strict=True)]
    steps = {order.id: {} for order in orders}  # pk -> {before total: (after, reason)}
    for reason, result in runs:
        if result["outcome"] != "ok":
            continue
        event = AuditEvent.objects.get(id=result["audit_id"])
        assert event.affected_rows == result["affected_rows"] == len(event.changes)
        assert sorted(c["pk"] for c in event.changes) == sorted(result["ids"])
        for change in event.changes:
            before = change["before"]["total_cents"]
            assert before not in steps[change["pk"]], "two writes replaced the same value"
            steps[change["pk"]][before] = (change["after"], reason)
    for order in orders:
        start_status, value = order.status, order.total_cents
        chain = []
        while value in steps[order.id]:
            after, reason = steps[order.id].pop(value)
            chain.append((after["status"], after["total_cents"], reason))
            value = after["total_cents"]
        assert steps[order.id] == {}, f"order {order.id}: changes that don't chain"
        order.refresh_from_db()
        final = (order.status, order.total_cents)
        assert final == (chain[-1][:2] if chain else (start_status, value))
        history = Order.history.filter(id=order.id, history_type="~").order_by("history_id")
        # A change reason is "<principal>: <reason>".
        recorded = history.values_list("status", "total_cents", "history_change_reason")
        assert [(s, t, why.split(": ", 1)[1]) for s, t, why in recorded] == chain
    refused = {reason for reason, r in runs if r["outcome"] != "ok"}
    written = Order.history.values_list("history_change_reason", flat=True)
    assert not {(why or "").split(": ", 1)[-1] for why in written} & refused


def test_overlapping_where_updates_in_parallel_keep_rows_and_ledger_consistent():
    orders = [OrderFactory(total_cents=1000 + n) for n in range(12)]
    ids = [o.id for o in orders]
    first, second = {"id__in": ids[:8]}, {"id__in": ids[4:]}
    calls = [
        (
            update(
                "Order",
                {"status": "paid" if i % 2 else "shipped", "total_cents": 50_000 + i},
                f"race write {i}",
                where=first if i % 2 else second,
            ),
            ToolContext(principal=f"agent:{i}", tenant_id=7),
        )
        for i in range(16)
    ]

    results = run_together(calls, writes_policy())

    # Rows can't leave or enter an id__in filter, so no write has a reason to conflict.
    assert outcomes(results) == {("ok", None): 16}
    assert_ledger_matches_rows(orders, results, calls)


def test_updates_whose_rows_move_between_filters_conflict_but_never_fail_otherwise():
    """Each write changes the field the other filters on, so rows enter and leave the
    matched set while writes wait for each other's locks."""
    statuses = ["pending", "paid", "shipped"]
    orders = [OrderFactory(status=statuses[n % 3], total_cents=1000 + n) for n in range(12)]
    calls = []
    for i in range(16):
        where, status = (
            ({"status__in": ["pending", "paid"]}, "shipped")
            if i % 2
            else ({"status__in": ["pending", "shipped"]}, "paid")
        )
        calls.append(
            (
                update(
                    "Order", {"status": status, "total_cents": 50_000 + i}, f"move {i}", where=where
                ),
                ToolContext(principal=f"agent:{i}", tenant_id=7),
            )
        )

    results = run_together(calls, writes_policy())

    assert set(outcomes(results)) <= {("ok", None), ("error", "WRITE_CONFLICT")}
    # Whoever locked first ran against rows nobody had changed yet.
    assert any(r["outcome"] == "ok" and r["affected_rows"] > 0 for r in results)
    assert_ledger_matches_rows(orders, results, calls)


def test_creating_notes_while_updating_their_customer_never_deadlocks():
    """Every write takes its budget windows' locks before any row lock; a create then takes
    (its foreign key) a share lock on the parent row, an update the row's own lock. Both at
    once must still end in ok, not in a database error."""
    customer = CustomerFactory(preferred_name="")
    calls = []
    for i in range(8):
        calls.append(
            (update("Customer", {"preferred_name": f"N{i}"}, "rename", id=customer.id), AGENT)
        )
        create = {"customer": customer.id, "body": f"note {i}"}
        calls.append(
            (
                {
                    "name": "db.create",
                    "arguments": {"model": "Note", "data": create, "reason": "log"},
                },
                AGENT,
            )
        )

    results = run_together(calls, writes_policy(limit=100))

    assert outcomes(results) == {("ok", None): 16}
    assert Note.objects.filter(customer=customer).count() == 8
    assert Customer.history.filter(id=customer.id, history_type="~").count() == 8
    assert counted("rate:", scope_key=AGENT.principal)[0] == 16


def test_soft_deleting_notes_while_another_agent_edits_them_leaves_one_consistent_story():
    """A delete and an edit of the same rows: whichever commits second sees the first's
    result (a deleted note is invisible, so the edit touches fewer rows), never a mix."""
    customer = CustomerFactory()
    notes = NoteFactory.create_batch(6, customer=customer, body="old")
    where = {"customer": customer.id}
    calls = []
    for i in range(4):
        calls.append(
            (
                update("Note", {"body": f"edited {i}"}, f"edit {i}", where=where),
                ToolContext(principal=f"agent:edit-{i}", tenant_id=7),
            )
        )
    calls.append(
        (
            {
                "name": "db.delete",
                "arguments": {"model": "Note", "where": where, "reason": "customer left"},
            },
            ToolContext(principal="agent:delete", tenant_id=7),
        )
    )

    results = run_together(calls, writes_policy())

    assert set(outcomes(results)) <= {("ok", None), ("error", "WRITE_CONFLICT")}
    deleted = results[-1]
    assert deleted["outcome"] == "ok" and deleted["affected_rows"] == 6
    assert Note.objects.filter(customer=customer, deleted_at__isnull=True).count() == 0
    for result in results[:-1]:
        if result["outcome"] == "ok":
            assert result["affected_rows"] in (0, 6)
    for note in notes:
        last = Note.history.filter(id=note.id).order_by("-history_id").first()
        assert last.deleted_at is not None  # the delete's row is the last one written
        assert last.history_change_reason.endswith(": customer left")
