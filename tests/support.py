"""Helpers shared by the test modules of the write tools."""

from ormai_django import DEFAULT_PROD, PolicyBuilder
from ormai_django.models import AuditEvent
from sandbox_project.shop.models import Customer, Note, Order, Subscription


def event_of(result):
    """The audit row of a call's result."""
    return AuditEvent.objects.get(id=result["audit_id"])


def database_state():
    """Every row of the sandbox (soft-deleted ones included) and its history count: compare
    it before and after a call to show the call changed nothing."""
    state = {}
    for model in (Customer, Subscription, Order, Note):
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
