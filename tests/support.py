"""Helpers shared by the test modules: calling a tool, reading its audit row, comparing the
database before and after, the sandbox's write policy, capability tokens.

No helper picks a context for a test: the call site names who calls (and the policy, when
it is not the configured one).
"""

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext

from ormai_django import DEFAULT_PROD, PolicyBuilder, execute
from ormai_django.models import AuditEvent
from ormai_django.tokens import issue_token
from sandbox_project.shop.models import Customer, Note, Order, Refund, Subscription


def call_tool(tool, ctx, policy=None, **arguments):
    """One tool call through ``execute``; its result. ``policy=None`` means the configured
    ``ORMAI["POLICY"]``. Fails at once if the result has no outcome of the five the runtime
    returns.

        call_tool("db.get", AGENT, model="Order", id=order.pk)
    """
    result = execute({"name": tool, "arguments": arguments}, ctx, policy=policy)
    assert result["outcome"] in AuditEvent.Outcome.values, result
    return result


def query_ids(ctx, model, where=None, policy=None):
    """The sorted ids of the rows a db.query returns (the query must succeed)."""
    result = call_tool("db.query", ctx, policy, model=model, where=where)
    assert result["outcome"] == "ok", result
    return sorted(row["id"] for row in result["rows"])


def without_audit_id(result):
    """A result without its audit id: two calls' answers compare equal when only that differs."""
    return {k: v for k, v in result.items() if k != "audit_id"}


def token_for(**grant):
    """A capability token for the support bot in tenant 7, valid an hour; ``grant`` narrows
    or overrides: token_for(models=["Order"], tools=["db.query"])."""
    grant.setdefault("principal", "agent:support-bot")
    grant.setdefault("tenant_id", 7)
    grant.setdefault("expires_in", dt.timedelta(hours=1))
    return issue_token(**grant)


def event_of(result):
    """The audit row of a call's result."""
    return AuditEvent.objects.get(id=result["audit_id"])


# On PostgreSQL an update's history INSERT, its UPDATE and the budgets' spend are one
# statement (data-modifying CTEs): one statement fewer without budgets, two with them.
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def data_statements(call, ctx, policy=None):
    """``execute(call, ctx, policy)``'s outcome and the SQL it ran, transaction control
    (``BEGIN``, ``COMMIT``, savepoints) left out."""
    with CaptureQueriesContext(connection) as captured:
        result = execute(call, ctx, policy=policy)
    statements = [q["sql"] for q in captured.captured_queries]
    return result, [s for s in statements if not s.lstrip().upper().startswith(TRANSACTION_CONTROL)]


# On PostgreSQL a single-row update's own statement also does what SQLite runs as statements
# of their own: the history INSERT ... SELECT (JOINED, with the UPDATE), the budgets' spend,
# the audit row's INSERT, and an idempotency key's record.
JOINED_ON_POSTGRESQL = 1 if connection.vendor == "postgresql" else 0
SPEND_JOINED_ON_POSTGRESQL = JOINED_ON_POSTGRESQL
AUDIT_JOINED_ON_POSTGRESQL = JOINED_ON_POSTGRESQL
KEY_JOINED_ON_POSTGRESQL = JOINED_ON_POSTGRESQL
# All of them for a single-row update with budgets (add KEY_JOINED_... for one with a key).
ONE_ROW_JOINED_ON_POSTGRESQL = (
    JOINED_ON_POSTGRESQL + SPEND_JOINED_ON_POSTGRESQL + AUDIT_JOINED_ON_POSTGRESQL
)


def database_state():
    """Every row of the sandbox (soft-deleted ones included) and its history count: compare
    it before and after a call to show the call changed nothing."""
    state = {}
    for model in (Customer, Subscription, Order, Note, Refund):
        state[model._meta.label] = list(model._base_manager.order_by("pk").values())
        state[f"{model._meta.label} history"] = model.history.count()
    return state


def shop_writes(profile=DEFAULT_PROD, **write_options):
    """A builder for the sandbox models: Customer, Order and Note open to writes (their usual
    writable fields), Subscription read-only, scoped by tenant; callers add their own rules."""
    return (
        PolicyBuilder(profile)
        .register_models([Customer, Subscription, Order, Note])
        .tenant_scope("tenant_id")
        .enable_writes(
            models=[Customer, Order, Note],
            writable_fields={
                "Customer": ["preferred_name", "preferred_language"],
                "Order": ["status"],
                "Note": ["customer", "body"],
            },
            **write_options,
        )
    )


def cancel_customer_orders(context, count=2, policy=None):
    """An agent's bulk update to roll back: ``count`` pending orders of a new customer of the
    context's tenant, all cancelled by one db.update. Returns (its audit id, the orders)."""
    from ormai_django import execute
    from tests.factories import CustomerFactory, OrderFactory

    customer = CustomerFactory(tenant_id=context.tenant_id)
    orders = OrderFactory.create_batch(count, customer=customer, status="pending")
    call = {
        "name": "db.update",
        "arguments": {
            "model": "Order",
            "where": {"customer": customer.pk},
            "data": {"status": "cancelled"},
            "reason": "bulk cancel",
        },
    }
    result = execute(call, context, policy=policy)
    assert result["outcome"] == "ok", result
    return result["audit_id"], orders


def age_windows(seconds, **filters):
    """Move what the budget windows (those ``filters`` select) counted ``seconds`` into the
    past, as if those writes had been made that much earlier."""
    from datetime import timedelta

    from ormai_django.models import BudgetWindow

    for window in BudgetWindow.objects.filter(**filters):
        recent = [[t - seconds if t else t, calls, rows] for t, calls, rows in window.recent]
        expires_at = window.expires_at and window.expires_at - timedelta(seconds=seconds)
        BudgetWindow.objects.filter(pk=window.pk).update(recent=recent, expires_at=expires_at)


def counted(budget_prefix="", **filters):
    """``(calls, rows)`` the budget windows whose id starts with ``budget_prefix`` counted."""
    from ormai_django.models import BudgetWindow

    calls = rows = 0
    for window in BudgetWindow.objects.filter(budget__startswith=budget_prefix, **filters):
        calls += sum(e[1] for e in window.recent)
        rows += sum(e[2] for e in window.recent)
    return calls, rows
