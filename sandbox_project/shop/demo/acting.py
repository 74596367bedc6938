"""Act 5 of the demo: the shop's own business actions, as domain tools.

The support bot refunds part of a paid order with ``shop.refund_order`` (previewed first,
then done; a second refund of more than is left is refused by the tool's own rule), adds a
seat to a subscription with ``shop.change_plan`` (a bigger change waits for a person), and
asks ``shop.send_receipt_email`` to email a receipt: an email can't be unsent, so a person
approves it. Then the operator undoes what can be undone: the refund by its compensation
(a reversal, not a deletion), the seat by restoring the row; the receipt can't be rolled
back, and the command says so.

The act leaves the data as it found it (the refund stays, reversed; the held plan change
waits in the queue), so the demo can run again at once.
"""

from __future__ import annotations

from typing import Any

from django.core import mail
from django.db.models import Q

from ormai_django import ToolContext
from ormai_django.approvals import approve
from ormai_django.models import ApprovalRequest
from sandbox_project.shop.agent_tools import monthly_price
from sandbox_project.shop.demo.rolling_back import OPERATOR
from sandbox_project.shop.demo.runner import DemoRun, HostAction, HostFacts, Step
from sandbox_project.shop.models import Order, Subscription

APPROVER = "admin"


def refundable_order() -> Order:
    """A paid order of tenant 7 with no refund standing (earlier runs' are reversed)."""
    return (
        Order.objects.filter(tenant_id=7, status="paid", total_cents__gte=1000)
        .exclude(Q(refunds__isnull=False) & Q(refunds__reversed_at__isnull=True))
        .order_by("id")
        .first()
    )


def small_subscription() -> Subscription:
    """An active basic subscription of tenant 7 that one more seat keeps cheap."""
    return (
        Subscription.objects.filter(tenant_id=7, status="active", plan="basic", seats__lte=5)
        .order_by("id")
        .first()
    )


def acting_steps(facts: HostFacts) -> list[Step | HostAction]:
    """Act 5: refund, plan change, receipt, and undoing them."""
    order = refundable_order()
    subscription = small_subscription()
    half = order.total_cents // 2
    # The billing agent: a principal of this run's own, so its writes spend no other budget.
    billing_bot = ToolContext(
        principal=f"agent:billing-bot/{facts.run_stamp}",
        tenant_id=7,
        run_id=f"demo-billing/{facts.run_stamp}",
    )

    def refund(amount: int, **extra: Any) -> dict[str, Any]:
        arguments = {
            "order_id": order.id,
            "amount_cents": amount,
            "reason": f"Order #{order.id} arrived damaged; the customer keeps it.",
        }
        return {"name": "shop.refund_order", "arguments": {**arguments, **extra}}

    seat = {
        "name": "shop.change_plan",
        "arguments": {
            "subscription_id": subscription.id,
            "plan": "basic",
            "seats": subscription.seats + 1,
            "reason": "A new colleague joined the customer's team.",
        },
    }
    big = {
        "name": "shop.change_plan",
        "arguments": {
            "subscription_id": subscription.id,
            "plan": "pro",
            "seats": 40,
            "reason": "The customer's whole department wants in.",
        },
    }
    receipt = {
        "name": "shop.send_receipt_email",
        "arguments": {"order_id": order.id, "reason": "The customer asked for a receipt."},
    }

    def audit_id_of(run: DemoRun, tool_call: dict[str, Any]) -> str:
        index = max(i for i, call in enumerate(run.calls) if call == tool_call)
        return run.results[index]["audit_id"]

    sent_receipt: dict[str, str] = {}  # the executed receipt call's audit id

    def approve_receipt(run: DemoRun) -> str:
        held = run.results[max(i for i, c in enumerate(run.calls) if c == receipt)]
        before = len(getattr(mail, "outbox", []))  # the locmem backend makes it on first use
        decided = approve(held["approval_id"], APPROVER, note="The customer asked for it.")
        sent_receipt["audit_id"] = decided["result"]["audit_id"]
        sent = len(getattr(mail, "outbox", [])) - before
        return (
            f"(in the admin, {APPROVER} approves {held['approval_id']}: {decided['status']}; "
            f"{sent} email in the outbox)"
        )

    def order_status(run: DemoRun) -> str:
        order.refresh_from_db()
        return f"Host check: order {order.id} is {order.status}."

    def pending_plan_changes(run: DemoRun) -> str:
        waiting = ApprovalRequest.objects.filter(tool="shop.change_plan", status="pending")
        return f"Host check: {waiting.count()} plan change(s) wait in the approval queue."

    refund_for_real = refund(half, idempotency_key=f"demo-{facts.run_stamp}-refund")
    as_billing = {"context": billing_bot}
    return [
        Step(
            f"The user says order #{order.id} arrived damaged. A billing agent previews a "
            "refund of half of it with the shop's own tool: it runs and changes nothing.",
            refund(half, dry_run=True),
            expect="dry_run",
            **as_billing,
        ),
        Step(
            "Then refunds it, with a key so a retry can't refund twice.",
            refund_for_real,
            aside=order_status,
            **as_billing,
        ),
        Step(
            "Asked for more than is left, the tool's own rule refuses: never more than paid.",
            refund(order.total_cents),
            expect="error VALIDATION_FAILED",
            **as_billing,
        ),
        Step("One more seat for a subscription: a small change runs at once.", seat, **as_billing),
        Step(
            f"A move to 40 pro seats ({monthly_price('pro', 40)} a month, over 500) waits for "
            "a person.",
            big,
            expect="pending_approval",
            aside=pending_plan_changes,
            **as_billing,
        ),
        Step(
            "A receipt email can't be unsent: it waits for a person.",
            receipt,
            expect="pending_approval",
            **as_billing,
        ),
        HostAction(
            "A person approves the receipt in the admin; the email goes out.", edit=approve_receipt
        ),
        HostAction(
            "The refund was a mistake after all: the operator rolls it back. The tool's "
            "compensation runs (a reversal: the refund stays, marked reversed).",
            command=lambda run: [
                "ormai_rollback",
                audit_id_of(run, refund_for_real),
                "--actor",
                OPERATOR,
                "--reason",
                "Refunded by mistake; the carrier reimbursed the customer.",
            ],
        ),
        HostAction(
            "The seat comes off again: with no compensation, the rows the tool changed are "
            "restored from the ledger.",
            command=lambda run: [
                "ormai_rollback",
                audit_id_of(run, seat),
                "--actor",
                OPERATOR,
                "--reason",
                "The colleague's start was postponed.",
            ],
        ),
        HostAction(
            "And the receipt? An irreversible tool's call can't be rolled back.",
            command=lambda run: ["ormai_rollback", sent_receipt["audit_id"], "--actor", OPERATOR],
            exit_status=1,
        ),
    ]
