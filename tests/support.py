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
