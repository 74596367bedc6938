"""Domain tools that only the tests declare (the ``testkit.`` namespace): each does one
thing the capture must record, or must refuse. Imported by the domain tool tests."""

import contextlib

from django.db import IntegrityError, connection, transaction
from rest_framework import serializers

from ormai_django import DEFAULT_PROD, PolicyBuilder, agent_tool
from sandbox_project.shop.models import Customer, Note, Order

TESTKIT = [
    "testkit.rename_customer",
    "testkit.cancel_orders",
    "testkit.delete_notes",
    "testkit.note_without_declaring",
    "testkit.raw_sql",
    "testkit.manager_update",
    "testkit.swallow_refusal",
    "testkit.other_tenant",
    "testkit.create_then_delete",
    "testkit.partial_rollback",
    "testkit.not_json",
    "testkit.reset_contact",
]


class CustomerInput(serializers.Serializer):
    customer_id = serializers.IntegerField(min_value=1)
    preferred_name = serializers.CharField(max_length=80, required=False, default="Annie")


class CustomerOrdersInput(serializers.Serializer):
    customer_id = serializers.IntegerField(min_value=1)


@agent_tool(
    name="testkit.rename_customer",
    input=CustomerInput,
    description="Set a customer's preferred name (one save()).",
    writes=["shop.Customer"],
)
def rename_customer(call):
    customer = call.get("shop.Customer", pk=call.data["customer_id"])
    customer.preferred_name = call.data["preferred_name"]
    customer.save()
    return {"customer_id": customer.pk, "preferred_name": customer.preferred_name}


@agent_tool(
    name="testkit.cancel_orders",
    input=CustomerOrdersInput,
    description="Cancel every pending order of a customer (one queryset update()).",
    writes=[Order],
)
def cancel_orders(call):
    cancelled = call.filter(Order, customer_id=call.data["customer_id"], status="pending").update(
        status="cancelled"
    )
    return {"cancelled": cancelled}


@agent_tool(
    name="testkit.delete_notes",
    input=CustomerOrdersInput,
    description="Delete every note of a customer (one queryset delete()).",
    writes=["shop.Note"],
)
def delete_notes(call):
    deleted, _ = call.filter("Note", customer_id=call.data["customer_id"]).delete()
    return {"deleted": deleted}


@agent_tool(
    name="testkit.note_without_declaring",
    input=CustomerOrdersInput,
    description="Cancels orders, and also writes a note it didn't declare.",
    writes=["shop.Order"],
)
def note_without_declaring(call):
    call.filter("Order", customer_id=call.data["customer_id"]).update(status="cancelled")
    Note.objects.create(
        tenant_id=call.context.tenant_id, customer_id=call.data["customer_id"], body="sneaky"
    )
    return {}


@agent_tool(
    name="testkit.raw_sql",
    input=CustomerOrdersInput,
    description="Writes a declared model with raw SQL.",
    writes=["shop.Order"],
)
def raw_sql(call):
    with connection.cursor() as cursor:
        cursor.execute(
            'UPDATE "shop_order" SET "status" = %s WHERE "customer_id" = %s',
            ["cancelled", call.data["customer_id"]],
        )
    return {}


@agent_tool(
    name="testkit.manager_update",
    input=CustomerOrdersInput,
    description="Writes a declared model with update() on its default manager.",
    writes=["shop.Order"],
)
def manager_update(call):
    Order.objects.filter(customer_id=call.data["customer_id"]).update(status="cancelled")
    return {}


@agent_tool(
    name="testkit.swallow_refusal",
    input=CustomerOrdersInput,
    description="Catches the refusal of an uncaptured write and carries on.",
    writes=["shop.Order"],
)
def swallow_refusal(call):
    with contextlib.suppress(Exception):  # what a careless tool does
        Order.objects.filter(customer_id=call.data["customer_id"]).update(status="cancelled")
    return {"pretended": "fine"}


@agent_tool(
    name="testkit.other_tenant",
    input=CustomerOrdersInput,
    description="Changes an order of tenant 8 by going around call.get().",
    writes=["shop.Order"],
)
def other_tenant(call):
    order = Order.objects.filter(tenant_id=8).first()
    order.status = "cancelled"
    order.save()
    return {}


@agent_tool(
    name="testkit.create_then_delete",
    input=CustomerOrdersInput,
    description="Creates a note and deletes it again.",
    writes=["shop.Note"],
)
def create_then_delete(call):
    note = Note.objects.create(
        tenant_id=call.context.tenant_id, customer_id=call.data["customer_id"], body="brief"
    )
    note.delete()
    return {}


@agent_tool(
    name="testkit.partial_rollback",
    input=CustomerOrdersInput,
    description="Saves a customer inside a savepoint, then rolls the savepoint back.",
    writes=["shop.Customer"],
)
def partial_rollback(call):
    customer = call.get(Customer, pk=call.data["customer_id"])
    try:
        with transaction.atomic():
            customer.preferred_name = "Temporary"
            customer.save()
            raise IntegrityError("pretend")
    except IntegrityError:
        pass
    return {}


@agent_tool(
    name="testkit.not_json",
    input=CustomerOrdersInput,
    description="Returns something that isn't JSON.",
    writes=["shop.Order"],
)
def not_json(call):
    return {"oops": object()}


@agent_tool(
    name="testkit.reset_contact",
    input=CustomerOrdersInput,
    description="Resets a customer's email (masked for agents) and API token (denied).",
    writes=["shop.Customer"],
)
def reset_contact(call):
    customer = call.get("shop.Customer", pk=call.data["customer_id"])
    customer.email = "new.address@example.org"
    customer.api_token = "tok_new_secret"
    customer.save()
    return {}


def kit_policy(**approval):
    """The sandbox's models, scoped by tenant, offering the testkit tools (and the shop's)."""
    builder = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(
            ["shop.Customer", "shop.Subscription", "shop.Order", "shop.Note", "shop.Refund"]
        )
        .mask_fields("customer.email", "customer.phone")
        .tenant_scope("tenant_id")
        .allow_tools(TESTKIT)
        .allow_tools(["shop.refund_order", "shop.change_plan", "shop.send_receipt_email"])
    )
    if approval:
        builder = builder.require_approval(**approval)
    return builder.build()
