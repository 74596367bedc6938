"""write_budget: calls and rows per principal, run, tenant or row, refused or escalated past
their bound, counted in the database (this module runs on SQLite and on PostgreSQL)."""

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from ormai_django import ToolContext, execute
from ormai_django.approvals import approve
from ormai_django.models import ApprovalRequest, AuditEvent, BudgetWindow
from ormai_django.tokens import issue_token
from sandbox_project.shop.models import Customer, Order
from tests.factories import CustomerFactory, NoteFactory, OrderFactory
from tests.support import age_windows, counted, database_state, event_of, shop_writes

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:budgeted", tenant_id=7, run_id="run-1")
REASON = "Tidying up after the import."


def budgeted(*budgets, **write_options):
    """The shop's write rules with ``budgets`` (keyword dicts of write_budget)."""
    builder = shop_writes(**write_options)
    for budget in budgets:
        builder.write_budget(**budget)
    return builder.build()


def rename(customer, name, policy, ctx=AGENT, **extra):
    arguments = {"model": "Customer", "id": customer.id, "data": {"preferred_name": name}}
    call = {"name": "db.update", "arguments": {**arguments, "reason": REASON, **extra}}
    return execute(call, ctx, policy=policy)


def set_status(where, status, policy, ctx=AGENT, **extra):
    arguments = {"model": "Order", "where": where, "data": {"status": status}, "reason": REASON}
    return execute({"name": "db.update", "arguments": {**arguments, **extra}}, ctx, policy=policy)


def code(result):
    return result.get("error", {}).get("code")


# --- principal ------------------------------------------------------------------------------


def test_a_principal_budget_refuses_the_call_past_its_calls_and_says_which_rule_and_when():
    customers = CustomerFactory.create_batch(3)
    policy = budgeted({"scope": "principal", "max_calls": 2, "per": timedelta(hours=1)})
    assert [rename(c, "N", policy)["outcome"] for c in customers[:2]] == ["ok", "ok"]
    before = database_state()

    refused = rename(customers[2], "N", policy)

    assert refused["outcome"] == "denied"
    error = refused["error"]
    assert error["code"] == "BUDGET_EXCEEDED"
    assert error["rule"] == "budget:principal:calls=2/1h" == error["budget"]["id"]
    budget = error["budget"]
    assert (budget["scope"], budget["limit"], budget["used"]) == (
        "principal",
        {"calls": 2},
        {"calls": 2, "rows": 2},
    )
    assert budget["exceeded"] == "calls"
    assert budget["per_seconds"] == 3600
    # The window frees up an hour after the first write: the agent is told when.
    assert 3590 <= error["retry_after"] == budget["retry_after"] <= 3600
    assert "wait" in error["message"].lower() and "budget:principal:calls=2/1h" in error["message"]
    assert database_state() == before
    assert event_of(refused).error_code == "BUDGET_EXCEEDED"
    # Another agent has its own budget.
    other = ToolContext(principal="agent:other", tenant_id=7, run_id="run-1")
    assert rename(customers[2], "N", policy, ctx=other)["outcome"] == "ok"


def test_a_principal_budget_frees_up_as_its_window_slides():
    customers = CustomerFactory.create_batch(3)
    policy = budgeted({"scope": "principal", "max_calls": 2, "per": timedelta(hours=1)})
    assert rename(customers[0], "A", policy)["outcome"] == "ok"
    age_windows(1800)
    assert rename(customers[1], "B", policy)["outcome"] == "ok"
    assert code(rename(customers[2], "C", policy)) == "BUDGET_EXCEEDED"

    age_windows(1801)  # the first write is now more than an hour old, the second isn't

    assert rename(customers[2], "C", policy)["outcome"] == "ok"
    again = rename(customers[0], "D", policy)
    assert code(again) == "BUDGET_EXCEEDED"
    assert 1795 <= again["error"]["retry_after"] <= 1800


def test_rows_count_by_what_the_write_measured_and_the_refusal_says_how_far_to_narrow():
    customer = CustomerFactory()
    orders = OrderFactory.create_batch(6, customer=customer)
    ids = [o.id for o in orders]
    policy = budgeted({"scope": "principal", "max_rows": 5, "per": timedelta(hours=1)})
    assert set_status({"id__in": ids[:3]}, "paid", policy)["affected_rows"] == 3
    before = database_state()

    refused = set_status({"id__in": ids[3:]}, "paid", policy)  # 3 more: 6 > 5

    assert code(refused) == "BUDGET_EXCEEDED"
    assert refused["error"]["budget"]["exceeded"] == "rows"
    assert refused["error"]["budget"]["used"] == {"calls": 1, "rows": 3}
    assert refused["error"]["budget"]["this_call"] == {"rows": 3}
    assert "Narrow the where to at most 2 rows" in refused["error"]["message"]
    assert database_state() == before  # refused whole: not the first 2 of the 3
    assert set_status({"id__in": ids[3:5]}, "paid", policy)["affected_rows"] == 2
    assert counted("budget:principal") == (2, 5)


def test_a_write_larger_than_the_bound_itself_never_fits_and_has_no_retry_after():
    customer = CustomerFactory()
    OrderFactory.create_batch(4, customer=customer)
    policy = budgeted({"scope": "principal", "max_rows": 3, "per": timedelta(hours=1)})

    refused = set_status({"customer": customer.id}, "paid", policy)

    assert code(refused) == "BUDGET_EXCEEDED"
    assert "retry_after" not in refused["error"]
    assert "at most 3 rows" in refused["error"]["message"]


def test_a_budget_for_the_life_of_its_scope_never_frees_up():
    customers = CustomerFactory.create_batch(2)
    policy = budgeted({"scope": "principal", "max_calls": 1})
    assert rename(customers[0], "A", policy)["outcome"] == "ok"
    age_windows(10**7)

    refused = rename(customers[1], "B", policy)

    assert code(refused) == "BUDGET_EXCEEDED"
    assert "retry_after" not in refused["error"]
    assert "tell the user" in refused["error"]["message"]


def test_a_budget_narrowed_to_a_model_or_a_tool_counts_only_those_writes():
    customer = CustomerFactory()
    notes = NoteFactory.create_batch(3, customer=customer)
    policy = budgeted(
        {"scope": "principal", "model": "Note", "max_calls": 1},
        {"scope": "principal", "tool": "db_delete", "max_calls": 1},
    )
    assert [b.id for b in policy.budgets] == [
        "budget:principal:shop.Note:calls=1",
        "budget:principal:db.delete:calls=1",
    ]

    renamed = [rename(customer, f"N{i}", policy)["outcome"] for i in range(3)]  # neither
    edit = {"model": "Note", "id": notes[0].id, "data": {"body": "x"}, "reason": REASON}
    first = execute({"name": "db.update", "arguments": edit}, AGENT, policy=policy)
    second = execute({"name": "db.update", "arguments": edit}, AGENT, policy=policy)
    delete = {"model": "Order", "id": OrderFactory(customer=customer).id, "reason": REASON}
    deleted = execute({"name": "db.delete", "arguments": delete}, AGENT, policy=policy)

    assert renamed == ["ok", "ok", "ok"]
    assert first["outcome"] == "ok"
    assert second["error"]["rule"] == "budget:principal:shop.Note:calls=1"
    assert deleted["outcome"] == "ok"


# --- run ------------------------------------------------------------------------------------


def test_a_run_budget_counts_one_run_of_one_tenant():
    customers = CustomerFactory.create_batch(3)
    policy = budgeted({"scope": "run", "max_calls": 2})
    assert [rename(c, "N", policy)["outcome"] for c in customers[:2]] == ["ok", "ok"]

    next_run = ToolContext(principal=AGENT.principal, tenant_id=7, run_id="run-2")
    other_tenant = ToolContext(principal=AGENT.principal, tenant_id=8, run_id="run-1")
    outside_any_run = ToolContext(principal=AGENT.principal, tenant_id=7)
    foreign = CustomerFactory(tenant_id=8)

    assert rename(customers[2], "N", policy, ctx=next_run)["outcome"] == "ok"
    assert rename(foreign, "N", policy, ctx=other_tenant)["outcome"] == "ok"
    # A call outside any run (no run_id) is counted by no run budget.
    assert rename(customers[2], "M", policy, ctx=outside_any_run)["outcome"] == "ok"
    refused = rename(customers[2], "O", policy)
    assert code(refused) == "BUDGET_EXCEEDED"
    assert refused["error"]["budget"]["stopped"] is True
    assert "This run is now stopped" in refused["error"]["message"]


def test_a_run_budget_on_one_model_stops_every_write_of_the_run_once_it_refuses():
    customer = CustomerFactory()
    note = NoteFactory(customer=customer)
    policy = budgeted({"scope": "run", "model": "Note", "max_calls": 1})
    edit = {"model": "Note", "id": note.id, "data": {"body": "x"}, "reason": REASON}
    assert rename(customer, "A", policy)["outcome"] == "ok"  # not a Note: not counted
    assert execute({"name": "db.update", "arguments": edit}, AGENT, policy=policy)["outcome"] == (
        "ok"
    )
    assert code(execute({"name": "db.update", "arguments": edit}, AGENT, policy=policy)) == (
        "BUDGET_EXCEEDED"
    )

    stopped = rename(customer, "B", policy)

    assert code(stopped) == "BUDGET_EXCEEDED"
    assert stopped["error"]["rule"] == "budget:run:shop.Note:calls=1"
    assert "This run was stopped" in stopped["error"]["message"]
    # Reads go on.
    read = execute({"name": "db.get", "arguments": {"model": "Customer", "id": customer.id}}, AGENT)
    assert read["outcome"] == "ok"
    assert Customer.objects.get(pk=customer.pk).preferred_name == "A"


def test_a_narrowed_policy_of_the_same_run_is_stopped_too():
    customer = CustomerFactory()
    note = NoteFactory(customer=customer)
    policy = budgeted({"scope": "run", "model": "Note", "max_calls": 1})
    edit = {"model": "Note", "id": note.id, "data": {"body": "x"}, "reason": REASON}
    for _ in range(2):
        execute({"name": "db.update", "arguments": edit}, AGENT, policy=policy)
    customers_only = policy.narrowed(models=["Customer"])

    assert code(rename(customer, "B", customers_only)) == "BUDGET_EXCEEDED"


# --- tenant ---------------------------------------------------------------------------------


def test_a_tenant_budget_is_shared_by_every_agent_of_the_tenant():
    customer = CustomerFactory()
    orders = OrderFactory.create_batch(5, customer=customer)
    policy = budgeted({"scope": "tenant", "max_rows": 4, "per": timedelta(days=1)})
    second_agent = ToolContext(principal="agent:second", tenant_id=7, run_id="run-9")
    elsewhere = ToolContext(principal="agent:second", tenant_id=8, run_id="run-9")
    foreign = OrderFactory.create_batch(3, customer=CustomerFactory(tenant_id=8))

    first = set_status({"id__in": [o.id for o in orders[:3]]}, "paid", policy)
    second = set_status({"id__in": [o.id for o in orders[3:]]}, "paid", policy, ctx=second_agent)
    other_tenant = set_status({"id__in": [o.id for o in foreign]}, "paid", policy, ctx=elsewhere)

    assert first["affected_rows"] == 3
    assert code(second) == "BUDGET_EXCEEDED"
    assert second["error"]["budget"]["scope"] == "tenant"
    assert second["error"]["budget"]["used"] == {"calls": 1, "rows": 3}
    assert other_tenant["affected_rows"] == 3
    assert Order.objects.filter(id__in=[o.id for o in orders[3:]], status="paid").count() == 0


# --- row ------------------------------------------------------------------------------------


def test_a_row_budget_bounds_the_writes_to_each_row():
    ann, bob = CustomerFactory.create_batch(2)
    policy = budgeted(
        {"scope": "row", "model": "Customer", "max_calls": 2, "per": timedelta(hours=1)}
    )
    assert [rename(ann, f"A{i}", policy)["outcome"] for i in range(2)] == ["ok", "ok"]

    third = rename(ann, "A2", policy)
    other_row = rename(bob, "B0", policy)

    assert code(third) == "BUDGET_EXCEEDED"
    assert third["error"]["budget"]["row"] == f"shop.Customer:{ann.id}"
    assert f"row shop.Customer:{ann.id}" in third["error"]["message"]
    assert 3590 <= third["error"]["retry_after"] <= 3600
    assert other_row["outcome"] == "ok"


def test_a_where_write_that_would_take_one_of_its_rows_past_a_row_budget_is_refused_whole():
    customer = CustomerFactory()
    first, second = OrderFactory.create_batch(2, customer=customer)
    policy = budgeted({"scope": "row", "max_calls": 1, "per": timedelta(hours=1)})
    assert set_status({"id": first.id}, "paid", policy)["outcome"] == "ok"
    before = database_state()

    both = set_status({"customer": customer.id}, "shipped", policy)

    assert code(both) == "BUDGET_EXCEEDED"
    assert both["error"]["budget"]["row"] == f"shop.Order:{first.id}"
    assert database_state() == before
    assert set_status({"id": second.id}, "shipped", policy)["outcome"] == "ok"


def test_creates_make_new_rows_and_count_against_no_row_budget():
    customer = CustomerFactory()
    policy = budgeted({"scope": "row", "max_calls": 1})
    create = {"model": "Note", "data": {"customer": customer.id, "body": "hi"}, "reason": REASON}

    results = [execute({"name": "db.create", "arguments": create}, AGENT, policy) for _ in range(3)]

    assert [r["outcome"] for r in results] == ["ok"] * 3
    assert not BudgetWindow.objects.filter(scope="row").exists()


# --- on_exceed="approve" --------------------------------------------------------------------


def test_on_exceed_approve_holds_the_call_past_the_bound_and_held_calls_count():
    customers = CustomerFactory.create_batch(4)
    policy = budgeted(
        {"scope": "principal", "max_calls": 2, "per": timedelta(hours=1), "on_exceed": "approve"}
    )

    results = [rename(c, "N", policy) for c in customers]

    assert [r["outcome"] for r in results] == ["ok", "ok", "pending_approval", "pending_approval"]
    held = ApprovalRequest.objects.get(pk=results[2]["approval_id"])
    assert held.why_held.startswith("beyond the budget budget:principal:calls=2/1h:approve")
    assert "2 writes, 2 rows so far" in held.why_held
    # Both held calls count: the window holds 4.
    assert counted("budget:principal") == (4, 4)

    decided = approve(held.pk, "lee@example.com", policy=policy)

    assert decided["status"] == "executed"
    assert counted("budget:principal") == (4, 4)  # counted when it was held, not again
    assert Customer.objects.get(pk=customers[2].pk).preferred_name == "N"


def test_a_run_budget_that_escalates_does_not_stop_the_run():
    customers = CustomerFactory.create_batch(3)
    policy = budgeted({"scope": "run", "max_calls": 1, "on_exceed": "approve"})

    outcomes = [rename(c, "N", policy)["outcome"] for c in customers]

    assert outcomes == ["ok", "pending_approval", "pending_approval"]
    assert not BudgetWindow.objects.filter(stopped=True).exists()


def test_deny_wins_over_approve_when_both_are_past_their_bounds():
    customers = CustomerFactory.create_batch(2)
    policy = budgeted(
        {"scope": "principal", "max_calls": 1, "on_exceed": "approve"},
        {"scope": "tenant", "max_calls": 1},
    )
    assert rename(customers[0], "A", policy)["outcome"] == "ok"

    result = rename(customers[1], "B", policy)

    assert code(result) == "BUDGET_EXCEEDED"
    assert result["error"]["budget"]["scope"] == "tenant"
    assert not ApprovalRequest.objects.exists()


# --- what counts ----------------------------------------------------------------------------


def test_held_calls_count_so_held_requests_cannot_flood_the_queue():
    """25 held requests in one burst against 10 writes a minute: 10 held, 15 refused."""
    builder = shop_writes().max_writes_per_minute(10)
    policy = builder.require_approval(tool="db.update", model="Order").build()
    orders = OrderFactory.create_batch(25, customer=CustomerFactory())

    results = [set_status({"id": o.id}, "paid", policy) for o in orders]

    assert [r["outcome"] for r in results[:10]] == ["pending_approval"] * 10
    assert {code(r) for r in results[10:]} == {"RATE_LIMITED"}
    assert ApprovalRequest.objects.count() == 10


def test_denied_calls_dry_runs_and_replays_count_nothing():
    customer = CustomerFactory()
    policy = budgeted({"scope": "principal", "max_calls": 2})
    assert rename(customer, "A", policy, idempotency_key="k-1")["outcome"] == "ok"

    spent_nothing = [
        rename(customer, "B", policy, dry_run=True),
        rename(customer, "A", policy, idempotency_key="k-1"),  # a replay
        rename(customer, "B", policy, reason=""),  # REASON_REQUIRED
        rename(customer, "x" * 500, policy),  # VALIDATION_FAILED
        execute(
            {
                "name": "db.update",
                "arguments": {
                    "model": "Customer",
                    "id": 10**9,
                    "data": {"preferred_name": "C"},
                    "reason": REASON,
                },
            },
            AGENT,
            policy=policy,
        ),  # NOT_FOUND
    ]

    assert [r["outcome"] for r in spent_nothing] == ["dry_run", "ok", "denied", "error", "error"]
    assert counted("budget:principal") == (1, 1)
    assert rename(customer, "B", policy)["outcome"] == "ok"
    assert code(rename(customer, "C", policy)) == "BUDGET_EXCEEDED"


def test_a_dry_run_says_what_the_budgets_would_do_and_spends_nothing():
    customers = CustomerFactory.create_batch(2)
    denying = budgeted({"scope": "principal", "max_calls": 1})
    escalating = budgeted({"scope": "tenant", "max_calls": 1, "on_exceed": "approve"})
    assert rename(customers[0], "A", denying)["outcome"] == "ok"
    assert rename(customers[0], "A", escalating)["outcome"] == "ok"
    windows = list(BudgetWindow.objects.values())

    refused_preview = rename(customers[1], "B", denying, dry_run=True)
    held_preview = rename(customers[1], "B", escalating, dry_run=True)

    assert refused_preview["outcome"] == "dry_run"
    assert refused_preview["would_be_denied"]["code"] == "BUDGET_EXCEEDED"
    assert refused_preview["would_be_denied"]["rule"] == "budget:principal:calls=1"
    assert held_preview["would_require_approval"] is True
    assert "would_be_denied" not in held_preview
    assert list(BudgetWindow.objects.values()) == windows


def test_every_budget_of_a_call_counts_it_once():
    customer = CustomerFactory()
    policy = budgeted(
        {"scope": "principal", "max_calls": 10},
        {"scope": "run", "max_calls": 10},
        {"scope": "tenant", "max_rows": 10, "per": timedelta(days=1)},
        {"scope": "row", "max_calls": 10},
    )

    rename(customer, "A", policy)
    rename(customer, "B", policy)

    usage = {
        w.scope: (sum(e[1] for e in w.recent), sum(e[2] for e in w.recent))
        for w in BudgetWindow.objects.all()
    }
    assert usage == {"principal": (2, 2), "run": (2, 2), "tenant": (2, 2), "row": (2, 2)}
    assert AuditEvent.objects.filter(outcome="ok").count() == 2


def test_over_http_a_budget_that_frees_up_is_429_with_retry_after(settings):
    customers = CustomerFactory.create_batch(3)
    policy = budgeted(
        {"scope": "principal", "max_calls": 1, "per": timedelta(hours=1)},
        {"scope": "tenant", "max_calls": 2},
    )
    settings.ORMAI = {**settings.ORMAI, "POLICY": policy}
    client = APIClient()
    token = issue_token(principal="agent:http", tenant_id=7, expires_in=timedelta(hours=1))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    def post(customer):
        arguments = {"model": "Customer", "id": customer.id, "data": {"preferred_name": "H"}}
        call = {"name": "db.update", "arguments": {**arguments, "reason": REASON}}
        return client.post("/ormai/tools/call/", call, format="json")

    assert post(customers[0]).status_code == 200
    waiting = post(customers[1])
    rename(customers[2], "X", policy)  # another agent spends the tenant's second write
    settings.ORMAI = {**settings.ORMAI, "POLICY": budgeted({"scope": "tenant", "max_calls": 2})}
    never = post(customers[1])

    assert waiting.status_code == 429
    assert 3590 <= int(waiting["Retry-After"]) <= 3600
    assert never.status_code == 403  # a budget for the life of the tenant: no Retry-After
    assert never.json()["error"]["code"] == "BUDGET_EXCEEDED"
    assert "Retry-After" not in never


def test_describe_lists_the_budgets_but_never_those_of_a_model_the_caller_cant_use():
    policy = budgeted(
        {"scope": "run", "max_calls": 50},
        {"scope": "principal", "model": "Note", "max_rows": 10, "per": timedelta(hours=1)},
    )
    describe = {"name": "db.describe", "arguments": {}}

    whole = execute(describe, AGENT, policy=policy)
    narrowed = execute(describe, AGENT, policy=policy.narrowed(models=["Customer", "Order"]))

    assert [b["id"] for b in whole["budgets"]] == [
        "budget:run:calls=50",
        "budget:principal:shop.Note:rows=10/1h",
    ]
    notes = next(m for m in whole["models"] if m["name"] == "Note")
    assert notes["writes"]["budgets"] == [b["id"] for b in whole["budgets"]]
    assert [b["id"] for b in narrowed["budgets"]] == ["budget:run:calls=50"]
