"""The sandbox's policy: the production example of the design, as a Django project writes it."""

from datetime import timedelta

from ormai_django import DEFAULT_PROD, Policy, PolicyBuilder
from sandbox_project.shop.agent_tools import monthly_price


def build_policy() -> Policy:
    """Built lazily (``ORMAI["POLICY"]`` names this function) once the app registry is ready."""
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(
            ["shop.Customer", "shop.Subscription", "shop.Order", "shop.Note", "shop.Refund"]
        )
        .deny_fields("*password*", "*secret*", "*token*")
        .mask_fields(["customer.email", "customer.phone"])
        .tenant_scope("tenant_id")
        .enable_writes(
            models=["Customer"],
            writable_fields={"Customer": ["preferred_name", "preferred_language"]},
            require_reason=True,
            require_idempotency_key=False,
        )
        # Beyond the design's example: the models its approval and burst rules name are
        # open to writes too, so those rules apply (a rule on a read-only model never does).
        .enable_writes(
            models=["Subscription", "Order", "Note"],
            writable_fields={
                "Subscription": ["plan", "seats"],
                "Order": ["status"],
                "Note": ["customer", "body"],
            },
        )
        .max_writes_per_minute(10)
        .require_approval(tool="db.update", model="Subscription", approvers=1)
        .require_approval(
            tool="db.update", model="Order", when=lambda call: call.affected_rows > 50
        )
        .require_approval(tool="db.delete", model="Customer", approvers=2)
        .bounded_burst(model="Note", max_calls=20, max_rows=100, per=timedelta(minutes=1))
        # The shop's business actions (sandbox_project/shop/agent_tools.py).
        .allow_tools(["shop.refund_order", "shop.change_plan", "shop.send_receipt_email"])
        .require_approval(
            tool="shop.change_plan",
            when=lambda call: monthly_price(call.data["plan"], call.data["seats"]) > 500,
        )
        .build()
    )
