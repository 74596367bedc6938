"""Act 4 of the demo: a bad write, undone from the ledger.

An orders agent means to cancel one pending order of a customer and sends a ``where`` that
is too wide: every pending order of the customer is cancelled. An operator looks at the
inverse (a dry run of ``ormai_rollback``), rolls the write back, and the orders are pending
again. Then the conflict case: the agent marks one order paid, a colleague ships it in the
admin, and the rollback of the agent's write refuses to overwrite the colleague's change
until the operator forces it.

The act leaves the data as it found it (every write it makes is rolled back), so the demo
can run again at once.
"""

from __future__ import annotations

from typing import Any

from ormai_django import ToolContext
from sandbox_project.shop.demo.runner import DemoRun, HostAction, HostFacts, Step
from sandbox_project.shop.models import Order

OPERATOR = "ops:demo-admin"


def rollback_steps(facts: HostFacts) -> list[Step | HostAction]:
    """Act 4: a bad bulk update, its dry-run rollback, the rollback, and a conflict."""
    customer_id, customer_name = facts.pending_customer
    orders_bot = ToolContext(
        principal=f"agent:orders-bot/{facts.run_stamp}",
        tenant_id=7,
        run_id=f"demo-orders/{facts.run_stamp}",
    )
    pending = list(
        Order.objects.filter(customer_id=customer_id, status="pending")
        .order_by("-created_at", "-id")
        .values_list("id", flat=True)
    )
    latest = pending[0]

    def audit_id_of(run: DemoRun, tool_call: dict[str, Any]) -> str:
        index = max(i for i, call in enumerate(run.calls) if call == tool_call)
        return run.results[index]["audit_id"]

    too_wide = {
        "name": "db.update",
        "arguments": {
            "model": "Order",
            "where": {"customer": customer_id, "status": "pending"},
            "data": {"status": "cancelled"},
            "reason": f"{customer_name} asked to cancel their latest order (#{latest}).",
        },
    }
    mark_paid = {
        "name": "db.update",
        "arguments": {
            "model": "Order",
            "id": latest,
            "data": {"status": "paid"},
            "reason": f"{customer_name} says they paid order #{latest} by bank transfer.",
        },
    }

    def still_pending(run: DemoRun) -> str:
        statuses = dict(Order.objects.filter(pk__in=pending).values_list("id", "status"))
        return "Host check: " + ", ".join(f"order {pk} is {statuses[pk]}" for pk in pending)

    def colleague_ships(run: DemoRun) -> str:
        Order.objects.filter(pk=latest).update(status="shipped")
        return f"(a colleague, in the admin: order {latest} status 'paid' -> 'shipped')"

    return [
        Step(
            f"The user, {customer_name}, asks to cancel their latest order (#{latest}). The "
            "orders agent sends a where that is too wide: every pending order of the customer.",
            too_wide,
            context=orders_bot,
            expect_fields={"affected_rows": len(pending)},
        ),
        HostAction(
            "An operator notices and looks at the inverse first: a dry run changes nothing.",
            command=lambda run: [
                "ormai_rollback",
                audit_id_of(run, too_wide),
                "--dry-run",
                "--actor",
                OPERATOR,
            ],
        ),
        HostAction(
            "Then rolls the write back, with a reason for the audit log.",
            command=lambda run: [
                "ormai_rollback",
                audit_id_of(run, too_wide),
                "--actor",
                OPERATOR,
                "--reason",
                "The agent cancelled every pending order; the user meant one.",
            ],
        ),
        Step(
            "The conflict case. The agent marks the customer's latest order paid.",
            mark_paid,
            context=orders_bot,
            aside=still_pending,
        ),
        HostAction(
            "Meanwhile a colleague ships that order in the admin.",
            edit=colleague_ships,
        ),
        HostAction(
            "The operator tries to roll the agent's write back: the order changed since, so "
            "the rollback refuses and changes nothing.",
            command=lambda run: [
                "ormai_rollback",
                audit_id_of(run, mark_paid),
                "--actor",
                OPERATOR,
            ],
            exit_status=1,
        ),
        HostAction(
            "Having checked with the colleague, the operator overwrites it (--force); the "
            "rollback's own audit row says it was forced.",
            command=lambda run: [
                "ormai_rollback",
                audit_id_of(run, mark_paid),
                "--force",
                "--actor",
                OPERATOR,
                "--reason",
                "Payment not received after all; the shipment was stopped.",
            ],
        ),
    ]
