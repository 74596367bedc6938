"""Idempotency keys make a retried write safe; max_writes_per_minute bounds how many writes a
principal executes. Functional behaviour only (the races live elsewhere), and the exact
statement count of one audited single-row update."""

import pytest

from ormai_django import ToolContext, execute
from ormai_django.models import AuditEvent, IdempotencyRecord
from sandbox_project.shop.models import Customer, Note
from tests.factories import CustomerFactory, NoteFactory, OrderFactory
from tests.support import (
    KEY_JOINED_ON_POSTGRESQL,
    ONE_ROW_JOINED_ON_POSTGRESQL,
    age_windows,
    call_tool,
    data_statements,
    database_state,
    event_of,
    shop_writes,
)

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-retry")
OTHER_AGENT = ToolContext(principal="agent:billing-bot", tenant_id=7, run_id="run-retry")
REASON = "The customer asked for it on the phone."


def without(result, *keys):
    return {k: v for k, v in result.items() if k not in keys}


def retry_policy(rate_limit=None, **write_options):
    builder = shop_writes(**write_options)
    if rate_limit:
        builder.max_writes_per_minute(rate_limit)
    return builder.build()


def rename(customer, name, key=None, ctx=AGENT, policy=None, **extra):
    arguments = {"model": "Customer", "id": customer.id, "data": {"preferred_name": name}}
    if key is not None:
        arguments["idempotency_key"] = key
    return call_tool(
        "db.update",
        ctx,
        policy or retry_policy(),
        **{"reason": REASON, **arguments, **extra},
    )


# --- replays ------------------------------------------------------------------------------


def test_a_retry_with_the_same_key_returns_the_stored_result_and_runs_nothing():
    customer = CustomerFactory(preferred_name="")
    first = rename(customer, "Al", key="rename-1")
    assert first["outcome"] == "ok", first
    # Someone changes the row after the first write: a replay must not write it back.
    Customer.objects.filter(pk=customer.pk).update(preferred_name="Changed by staff")
    before = database_state()
    events_before = AuditEvent.objects.count()

    replay = rename(customer, "Al", key="rename-1")

    # The stored result, unchanged (its audit_id is the original write's), marked a replay.
    assert replay["idempotent_replay"] is True
    assert without(replay, "idempotent_replay") == first
    assert database_state() == before
    assert Customer.objects.get(pk=customer.pk).preferred_name == "Changed by staff"
    # The replay has an audit row of its own, pointing at the write it replays.
    assert AuditEvent.objects.count() == events_before + 1
    event = AuditEvent.objects.get(caused_by_id=first["audit_id"])
    assert event.tool == "db.update"
    assert event.outcome == "ok"
    assert event.idempotency_key == "rename-1"
    assert event.changes is None
    assert event.affected_rows is None
    assert IdempotencyRecord.objects.count() == 1


def test_a_replayed_create_creates_no_second_row():
    customer = CustomerFactory()
    arguments = {
        "model": "Note",
        "data": {"customer": customer.id, "body": "Called back."},
        "reason": REASON,
        "idempotency_key": "note-1",
    }
    first = call_tool("db.create", AGENT, retry_policy(), **arguments)

    replays = [call_tool("db.create", AGENT, retry_policy(), **arguments) for _ in range(3)]

    assert first["outcome"] == "ok", first
    assert Note.objects.count() == 1
    assert Note.history.count() == 1  # one "+" row, from the first call
    assert [r["ids"] for r in replays] == [first["ids"]] * 3
    assert all(r["idempotent_replay"] is True for r in replays)
    assert AuditEvent.objects.filter(caused_by_id=first["audit_id"]).count() == 3


def test_a_replayed_delete_deletes_nothing_more():
    customer = CustomerFactory()
    notes = NoteFactory.create_batch(2, customer=customer)
    arguments = {"model": "Note", "where": {"customer": customer.id}, "reason": REASON}
    first = call_tool("db.delete", AGENT, retry_policy(), **arguments, idempotency_key="purge")
    assert first["outcome"] == "ok", first
    newer = NoteFactory(customer=customer)  # matches the same where now

    replay = call_tool("db.delete", AGENT, retry_policy(), **arguments, idempotency_key="purge")

    assert replay["idempotent_replay"] is True
    assert replay["affected_rows"] == 2
    assert sorted(replay["ids"]) == sorted(n.id for n in notes)
    assert Note.objects.filter(pk=newer.pk).exists()


def test_the_same_key_with_other_arguments_is_a_conflict_and_changes_nothing():
    customer = CustomerFactory(preferred_name="")
    other = CustomerFactory(preferred_name="")
    first = rename(customer, "Al", key="rename-1")
    assert first["outcome"] == "ok", first
    before = database_state()

    conflicts = [
        rename(customer, "Bo", key="rename-1"),
        rename(other, "Al", key="rename-1"),
        call_tool(
            "db.update",
            AGENT,
            retry_policy(),
            model="Customer",
            id=customer.id,
            data={"preferred_language": "fr"},
            reason=REASON,
            idempotency_key="rename-1",
        ),
        call_tool(
            "db.delete",
            AGENT,
            retry_policy(allow_cascade_delete=True),
            model="Customer",
            id=customer.id,
            reason=REASON,
            idempotency_key="rename-1",
        ),
    ]

    for result in conflicts:
        assert result["outcome"] == "error", result
        assert result["error"]["code"] == "IDEMPOTENCY_KEY_CONFLICT"
        assert "idempotent_replay" not in result
        event = event_of(result)
        assert event.error_code == "IDEMPOTENCY_KEY_CONFLICT"
        assert event.changes is None
    assert database_state() == before
    assert IdempotencyRecord.objects.count() == 1


def test_the_reasons_wording_does_not_make_a_retry_a_different_call():
    customer = CustomerFactory(preferred_name="")
    first = rename(customer, "Al", key="rename-1", reason="Customer asked by phone.")
    before = database_state()

    replay = rename(customer, "Al", key="rename-1", reason="Retrying: the customer asked.")

    assert first["outcome"] == "ok", first
    assert replay["idempotent_replay"] is True
    assert database_state() == before


def test_a_dry_run_with_a_key_does_not_use_the_key_up():
    customer = CustomerFactory(preferred_name="")
    preview = rename(customer, "Al", key="rename-1", dry_run=True)

    executed = rename(customer, "Al", key="rename-1")

    assert preview["outcome"] == "dry_run", preview
    assert executed["outcome"] == "ok", executed
    assert "idempotent_replay" not in executed
    assert Customer.objects.get(pk=customer.pk).preferred_name == "Al"


def test_a_dry_run_after_the_write_with_the_same_key_is_no_conflict_and_changes_nothing():
    customer = CustomerFactory(preferred_name="")
    executed = rename(customer, "Al", key="rename-1")
    before = database_state()

    again = rename(customer, "Al", key="rename-1", dry_run=True)

    assert executed["outcome"] == "ok", executed
    assert again["outcome"] in ("dry_run", "ok"), again
    assert database_state() == before
    assert IdempotencyRecord.objects.count() == 1


def test_keys_belong_to_one_principal():
    customer = CustomerFactory(preferred_name="")
    mine = rename(customer, "Al", key="shared-key")
    Customer.objects.filter(pk=customer.pk).update(preferred_name="")

    theirs = rename(customer, "Al", key="shared-key", ctx=OTHER_AGENT)

    assert mine["outcome"] == "ok", mine
    assert theirs["outcome"] == "ok", theirs
    assert "idempotent_replay" not in theirs
    assert Customer.objects.get(pk=customer.pk).preferred_name == "Al"
    assert IdempotencyRecord.objects.filter(key="shared-key").count() == 2
    assert event_of(theirs).changes == [
        {"pk": customer.id, "before": {"preferred_name": ""}, "after": {"preferred_name": "Al"}}
    ]


def test_a_key_reused_in_another_tenant_never_replays_that_tenants_write():
    # One agent principal serves tenants 7 and 8, as the sandbox's own contexts do.
    note = NoteFactory(customer=CustomerFactory(tenant_id=7), body="Original.")
    in_seven = ToolContext(principal="agent:support-bot", tenant_id=7)
    in_eight = ToolContext(principal="agent:support-bot", tenant_id=8)
    arguments = {
        "model": "Note",
        "id": note.id,
        "data": {"body": "Edited."},
        "reason": REASON,
        "idempotency_key": "edit-note",
    }
    done = call_tool("db.update", in_seven, retry_policy(), **arguments)
    assert done["outcome"] == "ok", done

    # The same call in tenant 8, where the note doesn't exist for the caller.
    elsewhere = call_tool("db.update", in_eight, retry_policy(), **arguments)

    assert elsewhere.get("idempotent_replay") is not True, elsewhere
    assert elsewhere["outcome"] != "ok", elsewhere
    unkeyed = call_tool(
        "db.update", in_eight, retry_policy(), **{**arguments, "idempotency_key": "new"}
    )
    assert unkeyed["error"]["code"] == "NOT_FOUND"  # what tenant 8 gets without the key


def test_require_idempotency_key_refuses_a_write_without_one():
    customer = CustomerFactory(preferred_name="")
    policy = retry_policy(require_idempotency_key=True)
    before = database_state()

    result = rename(customer, "Al", policy=policy)

    assert result["outcome"] == "denied", result
    assert result["error"]["code"] == "IDEMPOTENCY_KEY_REQUIRED"
    assert database_state() == before
    assert event_of(result).error_code == "IDEMPOTENCY_KEY_REQUIRED"
    assert rename(customer, "Al", key="k-1", policy=policy)["outcome"] == "ok"


def test_require_idempotency_key_still_allows_a_dry_run_without_one():
    customer = CustomerFactory(preferred_name="")

    result = rename(customer, "Al", policy=retry_policy(require_idempotency_key=True), dry_run=True)

    assert result["outcome"] == "dry_run", result


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"name": "Other"}, "FIELD_NOT_WRITABLE"),
        ({"preferred_language": "xx"}, "VALIDATION_FAILED"),
    ],
)
def test_a_refused_call_is_not_stored_so_its_key_is_free_for_the_fixed_call(data, code):
    customer = CustomerFactory(preferred_name="")
    refused = call_tool(
        "db.update",
        AGENT,
        retry_policy(),
        model="Customer",
        id=customer.id,
        data=data,
        reason=REASON,
        idempotency_key="k-1",
    )
    assert refused["error"]["code"] == code
    assert not IdempotencyRecord.objects.exists()

    fixed = rename(customer, "Al", key="k-1")

    assert fixed["outcome"] == "ok", fixed
    assert "idempotent_replay" not in fixed


def age_budget(principal, seconds):
    """Move the principal's recorded writes ``seconds`` into the past."""
    age_windows(seconds, scope="principal", scope_key=principal)


def test_a_retry_after_rate_limited_runs_for_real():
    customers = CustomerFactory.create_batch(2, preferred_name="")
    policy = retry_policy(rate_limit=1)
    assert rename(customers[0], "Al", policy=policy)["outcome"] == "ok"
    limited = rename(customers[1], "Bo", key="k-1", policy=policy)
    assert limited["error"]["code"] == "RATE_LIMITED"
    assert not IdempotencyRecord.objects.exists()
    age_budget(AGENT.principal, 61)

    retried = rename(customers[1], "Bo", key="k-1", policy=policy)

    assert retried["outcome"] == "ok", retried
    assert "idempotent_replay" not in retried
    assert Customer.objects.get(pk=customers[1].pk).preferred_name == "Bo"


# --- the rate limit -----------------------------------------------------------------------


def test_writes_past_max_writes_per_minute_are_rate_limited_with_retry_after():
    customer = CustomerFactory(preferred_name="")
    policy = retry_policy(rate_limit=3)
    executed = [rename(customer, f"Name {i}", policy=policy) for i in range(3)]
    before = database_state()

    limited = rename(customer, "One too many", policy=policy)

    assert [r["outcome"] for r in executed] == ["ok"] * 3
    assert limited["outcome"] == "denied", limited
    assert limited["error"]["code"] == "RATE_LIMITED"
    retry_after = limited["error"]["retry_after"]
    assert isinstance(retry_after, int)
    assert 1 <= retry_after <= 60
    assert database_state() == before
    event = event_of(limited)
    assert event.outcome == "denied"
    assert event.error_code == "RATE_LIMITED"
    assert event.changes is None


def test_every_write_tool_counts_against_the_same_budget():
    customer = CustomerFactory()
    note = NoteFactory(customer=customer)
    policy = retry_policy(rate_limit=3)
    results = [
        call_tool(
            "db.create",
            AGENT,
            policy,
            model="Note",
            data={"customer": customer.id, "body": "x"},
            reason=REASON,
        ),
        call_tool(
            "db.update", AGENT, policy, model="Note", id=note.id, data={"body": "y"}, reason=REASON
        ),
        call_tool("db.delete", AGENT, policy, model="Note", id=note.id, reason=REASON),
        rename(customer, "Al", policy=policy),
    ]

    assert [r["outcome"] for r in results] == ["ok", "ok", "ok", "denied"]
    assert results[3]["error"]["code"] == "RATE_LIMITED"


def test_the_minute_slides_writes_older_than_a_minute_stop_counting():
    customer = CustomerFactory(preferred_name="")
    policy = retry_policy(rate_limit=2)
    assert rename(customer, "A", policy=policy)["outcome"] == "ok"
    age_budget(AGENT.principal, 30)  # A was made 30 seconds ago
    assert rename(customer, "B", policy=policy)["outcome"] == "ok"
    assert rename(customer, "C", policy=policy)["error"]["code"] == "RATE_LIMITED"
    # Half a minute on: A leaves the window, B doesn't.
    age_budget(AGENT.principal, 31)

    allowed = rename(customer, "C", policy=policy)
    limited = rename(customer, "D", policy=policy)

    assert allowed["outcome"] == "ok", allowed
    assert limited["error"]["code"] == "RATE_LIMITED"
    # B frees its place about 29 seconds from now (a slice of a second late at most).
    assert 28 <= limited["error"]["retry_after"] <= 31


def test_another_principal_has_its_own_budget():
    customer = CustomerFactory(preferred_name="")
    policy = retry_policy(rate_limit=1)
    assert rename(customer, "A", policy=policy)["outcome"] == "ok"
    assert rename(customer, "B", policy=policy)["error"]["code"] == "RATE_LIMITED"

    theirs = rename(customer, "C", policy=policy, ctx=OTHER_AGENT)

    assert theirs["outcome"] == "ok", theirs
    assert Customer.objects.get(pk=customer.pk).preferred_name == "C"


def test_dry_runs_denials_errors_and_replays_spend_no_budget_but_a_held_call_does():
    customer = CustomerFactory(preferred_name="")
    order = OrderFactory(customer=customer)
    policy = retry_policy(rate_limit=3, max_affected_rows=1)
    first = rename(customer, "A", key="k-1", policy=policy)  # spends 1 of 3
    assert first["outcome"] == "ok", first
    OrderFactory(customer=customer)
    not_spending = [
        rename(customer, "B", policy=policy, dry_run=True),
        rename(customer, "A", key="k-1", policy=policy),  # replay
        call_tool(
            "db.update",
            AGENT,
            policy,
            model="Customer",
            id=customer.id,
            data={"name": "x"},
            reason=REASON,
        ),
        rename(customer, "B", policy=policy, reason=""),
        call_tool(
            "db.update",
            AGENT,
            policy,
            model="Customer",
            id=customer.id,
            data={"preferred_language": "xx"},
            reason=REASON,
        ),
        call_tool(
            "db.update",
            AGENT,
            policy,
            model="Order",
            where={"customer": customer.id},
            data={"status": "paid"},
            reason=REASON,
        ),  # 2 rows > max_affected_rows=1: held for approval, which spends 1 of 3
        call_tool(
            "db.update",
            AGENT,
            policy,
            model="Order",
            id=order.id + 1000,
            data={"status": "paid"},
            reason=REASON,
        ),
    ]
    assert [r.get("error", {}).get("code") for r in not_spending] == [
        None,
        None,
        "FIELD_NOT_WRITABLE",
        "REASON_REQUIRED",
        "VALIDATION_FAILED",
        None,  # held: pending_approval
        "NOT_FOUND",
    ]
    assert not_spending[-2]["outcome"] == "pending_approval"

    second = rename(customer, "C", policy=policy)
    third = rename(customer, "D", policy=policy)

    assert second["outcome"] == "ok", second
    assert third["error"]["code"] == "RATE_LIMITED"


# --- statement counts ---------------------------------------------------------------------


def update_call(customer, name, **extra):
    arguments = {
        "model": "Customer",
        "id": customer.id,
        "data": {"preferred_name": name},
        "reason": REASON,
        **extra,
    }
    return {"name": "db.update", "arguments": arguments}


@pytest.mark.django_db(transaction=True)
def test_a_single_row_audited_update_is_six_statements(policy):
    customer = CustomerFactory()
    warm = execute(update_call(customer, "Warm"), AGENT, policy=policy)  # the budget row exists
    assert warm["outcome"] == "ok", warm

    result, statements = data_statements(update_call(customer, "Al"), AGENT, policy)

    assert result["outcome"] == "ok", result
    assert len(statements) == 6 - ONE_ROW_JOINED_ON_POSTGRESQL, "\n".join(statements)


@pytest.mark.django_db(transaction=True)
def test_a_single_row_audited_update_with_an_idempotency_key_is_eight_statements(policy):
    customer = CustomerFactory()
    warm = execute(update_call(customer, "Warm"), AGENT, policy=policy)
    assert warm["outcome"] == "ok", warm

    result, statements = data_statements(
        update_call(customer, "Al", idempotency_key="rename-1"), AGENT, policy
    )

    assert result["outcome"] == "ok", result
    joined = ONE_ROW_JOINED_ON_POSTGRESQL + KEY_JOINED_ON_POSTGRESQL
    assert len(statements) == 8 - joined, "\n".join(statements)


@pytest.mark.django_db(transaction=True)
def test_a_replay_writes_nothing_but_its_own_audit_row(policy):
    customer = CustomerFactory()
    call = update_call(customer, "Al", idempotency_key="rename-1")
    assert execute(call, AGENT, policy=policy)["outcome"] == "ok"

    result, statements = data_statements(call, AGENT, policy)

    assert result["idempotent_replay"] is True
    writes = [s for s in statements if not s.lstrip().upper().startswith("SELECT")]
    assert len(writes) == 1, writes
    assert writes[0].lstrip().upper().startswith("INSERT")
    assert AuditEvent._meta.db_table in writes[0]
