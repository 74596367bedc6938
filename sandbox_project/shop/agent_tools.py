"""The shop's business actions, as tools an agent can call (autodiscovered by ormai_django).

Where a row policy can't say what is right ("never refund more than was paid", "a plan
keeps at least the seats in use"), a domain tool can: its input serializer and its code are
the rules, and the pipeline around it (policy, reason, budgets, approval, audit, rollback)
is the same as for ``db.update``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Sum
from django.utils import timezone
from rest_framework import serializers

from ormai_django import agent_tool
from sandbox_project.shop.models import PRICE_PER_SEAT, Refund, Subscription


def monthly_price(plan: str, seats: int) -> Decimal:
    """What a plan with ``seats`` seats costs a month."""
    return PRICE_PER_SEAT[plan] * seats


# --- shop.refund_order ----------------------------------------------------------------


class RefundOrderInput(serializers.Serializer):
    order_id = serializers.IntegerField(min_value=1, help_text="The order to refund.")
    amount_cents = serializers.IntegerField(
        min_value=1, help_text="How much to give back, in cents; at most what is left to refund."
    )


def reverse_refund(call: Any, original: Any) -> dict[str, Any]:
    """The inverse of a refund: a reversal (the refund is marked reversed, the order's status
    comes back), not a deletion of the refund."""
    refund = call.get("shop.Refund", pk=original.result["refund_id"], reversed_at__isnull=True)
    refund.reversed_at = timezone.now()
    refund.save(update_fields=["reversed_at"])
    order = call.get("shop.Order", pk=refund.order_id)
    if order.status == "refunded":
        order.status = "shipped" if order.shipped_at else "paid"
        order.save(update_fields=["status"])
    return {"reversed_refund_id": refund.pk, "order_status": order.status}


@agent_tool(
    name="shop.refund_order",
    input=RefundOrderInput,
    description=(
        "Refund part or all of a paid or shipped order to the customer. Never more than is "
        "left to refund: refunds of one order add up to at most its total."
    ),
    writes=["shop.Refund", "shop.Order"],
    compensate=reverse_refund,
)
def refund_order(call: Any) -> dict[str, Any]:
    order = call.get("shop.Order", pk=call.data["order_id"])
    if order.status not in ("paid", "shipped"):
        raise serializers.ValidationError(
            {
                "order_id": f"order {order.pk} is {order.status}; only paid or shipped orders "
                "can be refunded"
            }
        )
    refunded = (
        call.filter("shop.Refund", order=order, reversed_at__isnull=True).aggregate(
            total=Sum("amount_cents")
        )["total"]
        or 0
    )
    left = order.total_cents - refunded
    amount = call.data["amount_cents"]
    if amount > left:
        raise serializers.ValidationError(
            {
                "amount_cents": f"only {left} of the order's {order.total_cents} cents are left "
                "to refund"
            }
        )
    refund = Refund.objects.create(
        tenant_id=order.tenant_id, order=order, amount_cents=amount, reason=call.reason
    )
    if amount == left:
        order.status = "refunded"
        order.save(update_fields=["status"])
    return {"refund_id": refund.pk, "refunded_cents": amount, "left_to_refund_cents": left - amount}


# --- shop.change_plan -------------------------------------------------------------------


class ChangePlanInput(serializers.Serializer):
    subscription_id = serializers.IntegerField(min_value=1)
    plan = serializers.ChoiceField(choices=Subscription.Plan.choices)
    seats = serializers.IntegerField(min_value=1, max_value=500)


@agent_tool(
    name="shop.change_plan",
    input=ChangePlanInput,
    description=(
        "Move a subscription to another plan and number of seats; the monthly price follows "
        "(per seat: basic 29, pro 19, enterprise 12). A plan keeps at least the seats in use; "
        "a change to more than 500 a month waits for a person."
    ),
    writes=["shop.Subscription"],
)
def change_plan(call: Any) -> dict[str, Any]:
    subscription = call.get("shop.Subscription", pk=call.data["subscription_id"])
    seats = call.data["seats"]
    if seats < subscription.seats_in_use:
        raise serializers.ValidationError(
            {
                "seats": f"{subscription.seats_in_use} seats are in use; the plan must keep at "
                "least that many"
            }
        )
    subscription.plan = call.data["plan"]
    subscription.seats = seats
    subscription.monthly_price = monthly_price(subscription.plan, seats)
    subscription.save()
    return {
        "subscription_id": subscription.pk,
        "plan": subscription.plan,
        "seats": seats,
        "monthly_price": str(subscription.monthly_price),
    }


# --- shop.send_receipt_email ------------------------------------------------------------


class ReceiptInput(serializers.Serializer):
    order_id = serializers.IntegerField(min_value=1)


@agent_tool(
    name="shop.send_receipt_email",
    input=ReceiptInput,
    description="Email the customer the receipt of one of their orders. An email can't be "
    "unsent, so a person approves it first.",
    irreversible=True,
)
def send_receipt_email(call: Any) -> dict[str, Any]:
    order = call.get("shop.Order", pk=call.data["order_id"], lock=False)
    if call.dry_run:
        return {"would_send": True, "order_id": order.pk}  # nothing leaves in a preview
    send_mail(
        subject=f"Your receipt for order {order.pk}",
        message=f"Order {order.pk}: {order.total_cents / 100:.2f} {order.currency}. Thank you!",
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[order.customer.email],
    )
    # The address stays out of the result: the policy masks Customer.email for agents.
    return {"sent": True, "order_id": order.pk}
