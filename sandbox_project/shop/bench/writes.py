"""The write paths of ``ormai_bench``: ratios to the bare ORM and statement counts.

- ``db.update`` of ``--write-rows`` rows (10,000 by default) with a ``where``, against
  ``QuerySet.update()`` of the same rows. The tool also locks and reads the before
  values, writes a history row per row and keeps every before/after in the audit row.
  Target: at most 10x.
- rolling back such an update (``rollback_audit_id``: the write's ledger read back, the rows
  restored by one UPDATE per batch that changes only rows still as the write left them,
  history rows, its own audit row with its own ledger), against the same
  ``QuerySet.update()``. Target: at most 10x.
- ``db.update`` of one row by id, against ``get()`` + ``save()`` of a model with
  django-simple-history (which writes its history row). Target: at most 3x.
- The SQL statements of one single-row audited update under the sandbox's own policy
  (reason required, a rate limit): target at most 6; and the same with an idempotency key.
- The same update under three budgets (the sandbox's rate limit, a run budget and a
  tenant budget): target at most 6, for a principal's later writes and for its first
  (each budget window is created by the same statement that locks it).

The history table is kept stationary. Before the bulk cases, every bench order gets
``--history-depth`` history rows (3 by default: an order's created, paid, shipped), and after
each timed tool call the history rows it added are deleted again, untimed. Otherwise each
sample would add 10,000 rows (20,000 for a rollback and the write it undoes) to the table
the next sample writes into, and a case's ratio would depend on ``--repeat`` and on the
cases run before it: on SQLite the history ``INSERT`` and its ``COMMIT`` grow with the
number of history rows of the same orders (django-simple-history indexes ``id``; see
docs/writes.md). ``--history-depth`` measures that directly.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from django.utils import timezone

from ormai_django.approvals import approve
from ormai_django.context import ToolContext
from ormai_django.orm.history import write_history
from ormai_django.policy.builder import PolicyBuilder
from ormai_django.policy.loading import get_policy
from ormai_django.policy.profiles import DEFAULT_PROD
from ormai_django.rollback import rollback_audit_id
from ormai_django.runtime import execute
from sandbox_project.shop.bench.cases import Bench, Case, StatementCase, bench_policy

WRITE_TENANT = 70
UPDATE_TARGET = 10.0
SINGLE_UPDATE_TARGET = 3.0
UPDATE_STATEMENTS_TARGET = 6


def create_write_data(models: dict[str, type], rows: int, history_depth: int = 0) -> None:
    customer, order = models["Customer"], models["Order"]
    now = timezone.now()
    owner = customer.objects.create(
        tenant_id=WRITE_TENANT,
        name="Bench Writer",
        email="bench.writer@example.com",
        password_hash="pbkdf2_sha256$bench",
        created_at=now,
    )
    order.objects.bulk_create(
        (
            order(
                tenant_id=WRITE_TENANT,
                customer=owner,
                status="pending",
                total_cents=i,
                created_at=now,
            )
            for i in range(rows)
        ),
        batch_size=1000,
    )
    orders = order._base_manager.filter(tenant_id=WRITE_TENANT)
    for _ in range(history_depth):
        write_history(orders, "~", "bench: earlier history", now)


def history_reset(order: type) -> Any:
    """A callable that deletes the history rows of ``order`` added after this call."""
    historical = order.history.model
    mark = historical.objects.order_by("-history_id").values_list("history_id", flat=True)
    last = mark.first() or 0

    def reset() -> None:
        historical.objects.filter(history_id__gt=last).delete()

    return reset


def write_cases(bench: Bench) -> list[Case]:
    customer, order = bench.models["Customer"], bench.models["Order"]
    rows = bench.write_rows
    create_write_data(bench.models, rows, bench.history_depth)
    reset = history_reset(order)
    context = ToolContext(principal="agent:ormai-bench", tenant_id=WRITE_TENANT, run_id="bench")
    bare_status = itertools.cycle(("paid", "shipped"))
    tool_status = itertools.cycle(("cancelled", "refunded"))

    def bare_update() -> int:
        selected = order.objects.filter(tenant_id=WRITE_TENANT, total_cents__gte=0)
        return selected.update(status=next(bare_status))

    def bulk_status_call(status: str, reason: str) -> dict[str, Any]:
        """The tool's side of the bulk cases: every bench order gets ``status``."""
        arguments = {"model": "Order", "where": {"total_cents__gte": 0}, "data": {"status": status}}
        return {"name": "db.update", "arguments": {**arguments, "reason": reason}}

    def tool_update() -> dict[str, Any]:
        call = bulk_status_call(next(tool_status), "bench: bulk status change")
        return execute(call, context, bench.policy)

    pk = bench.customer_ids[0]
    bare_names = itertools.cycle(("Bare A", "Bare B"))
    tool_names = itertools.cycle(("Tool A", "Tool B"))

    def bare_save() -> Any:
        row = customer.objects.get(pk=pk)
        row.preferred_name = next(bare_names)
        row.save()  # django-simple-history writes its row through post_save
        return row

    single = bench.tool(
        "db.update", model="Customer", id=pk, reason="bench: rename", data={"preferred_name": ""}
    )

    def tool_save() -> dict[str, Any]:
        single.args[0]["arguments"]["data"]["preferred_name"] = next(tool_names)
        return single()

    holding = bench_policy(bench.rows, hold_order_updates=True)
    held: list[str] = []
    approve_status = itertools.cycle(("cancelled", "refunded"))

    def hold_update() -> None:
        call = bulk_status_call(next(approve_status), "bench: bulk status change, held")
        held.append(execute(call, context, holding)["approval_id"])

    def approve_held() -> dict[str, Any]:
        return approve(held.pop(), "bench-approver@example.com", policy=holding)

    written: list[str] = []

    def write_update() -> None:
        written.append(tool_update()["audit_id"])

    def roll_back() -> dict[str, Any]:
        return rollback_audit_id(written.pop(), actor="ops:ormai-bench", policy=bench.policy)

    return [
        Case(
            f"approve a held {rows}-row update",
            bare_update,
            approve_held,
            target=UPDATE_TARGET,
            agree=lambda bare, tool: (
                tool["status"] == "executed" and tool["result"]["affected_rows"] == bare
            ),
            setup=hold_update,
            reset=reset,
        ),
        Case(
            f"db.update {rows} rows (where)",
            bare_update,
            tool_update,
            target=UPDATE_TARGET,
            agree=lambda bare, tool: tool["outcome"] == "ok" and tool["affected_rows"] == bare,
            reset=reset,
        ),
        Case(
            f"roll back a {rows}-row db.update",
            bare_update,
            roll_back,
            target=UPDATE_TARGET,
            agree=lambda bare, tool: tool["outcome"] == "ok" and tool["restored_rows"] == bare,
            setup=write_update,
            reset=reset,
        ),
        Case(
            "db.update 1 row vs get()+save()",
            bare_save,
            tool_save,
            target=SINGLE_UPDATE_TARGET,
            agree=lambda bare, tool: tool["outcome"] == "ok" and tool["ids"] == [bare.pk],
        ),
    ]


def three_budgets_policy() -> Any:
    """The bench's write rules under three budgets: a rate limit per principal, a run budget
    and a tenant budget, with bounds the bench never reaches."""
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Customer"])
        .tenant_scope("tenant_id")
        .enable_writes(writable_fields={"Customer": ["preferred_name"]})
        .max_writes_per_minute(1_000_000)
        .write_budget(scope="run", max_calls=1_000_000, max_rows=1_000_000)
        .write_budget(scope="tenant", max_rows=1_000_000, per=timedelta(days=1))
        .build()
    )


def write_statement_cases(bench: Bench) -> list[StatementCase]:
    pk = bench.customer_ids[1]
    context = ToolContext(principal="agent:ormai-bench-counted", tenant_id=7, run_id="bench")
    keys = itertools.count()
    budgeted = three_budgets_policy()

    def update(policy: Any = None, who: ToolContext = context, **extra: Any) -> Any:
        def call() -> dict[str, Any]:
            arguments = {
                "model": "Customer",
                "id": pk,
                "data": {"preferred_name": f"Counted {next(keys)}"},
                "reason": "bench: count the statements",
                **extra,
            }
            return execute(
                {"name": "db.update", "arguments": arguments}, who, policy or get_policy()
            )

        return call

    def first_write() -> dict[str, Any]:
        n = next(keys)
        newcomer = ToolContext(principal=f"agent:bench-new-{n}", tenant_id=7, run_id=f"new-{n}")
        return update(budgeted, newcomer)()

    update()()  # as in production, count a principal's later writes
    update(budgeted)()
    return [
        StatementCase(
            "db.update 1 row (sandbox policy)", update(), target=UPDATE_STATEMENTS_TARGET
        ),
        StatementCase(
            "db.update 1 row + idempotency key",
            lambda: update(idempotency_key=f"bench-{next(keys)}")(),
        ),
        StatementCase(
            "db.update 1 row, three budgets", update(budgeted), target=UPDATE_STATEMENTS_TARGET
        ),
        StatementCase(
            "db.update 1 row, three budgets, first write",
            first_write,
            target=UPDATE_STATEMENTS_TARGET,
        ),
    ]
