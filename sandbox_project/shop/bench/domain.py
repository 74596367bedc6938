"""The domain-tool paths of ``ormai_bench``.

- A domain tool that changes one row (``call.get()`` then ``save()``), against ``db.update``
  of the same row: what the capture costs (the function, the signals, the statement
  watcher, the serializer). Target: at most 1.5x.
- A domain tool that changes many rows with ``call.filter(...).update(...)``: its SQL
  statements for 10 rows and for 1,000 rows, which must be the same number (the capture
  reads and records every row in a constant number of statements per batch).

``bench.set_order_status`` is the tier matrix's domain tool (``bench/tier_cases.py``): it
sets the status of every order the call can see, the change ``db.update`` makes there.

The three tools are the bench's own (``bench.*``), declared here, and allowed by the bench's
policy.
"""

from __future__ import annotations

import itertools
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from ormai_django import agent_tool
from sandbox_project.shop.bench.cases import Bench, Case, StatementCase
from sandbox_project.shop.bench.measure import count_statements

BENCH_TOOLS = ["bench.rename_customer", "bench.cancel_orders", "bench.set_order_status"]
DOMAIN_TARGET = 1.5
BULK_TENANT = 71


class RenameInput(serializers.Serializer):
    customer_id = serializers.IntegerField(min_value=1)
    preferred_name = serializers.CharField(max_length=80)


class OwnerInput(serializers.Serializer):
    customer_id = serializers.IntegerField(min_value=1)


@agent_tool(
    name="bench.rename_customer",
    input=RenameInput,
    description="The bench's one-row domain tool.",
    writes=["shop.Customer"],
)
def rename_customer(call: Any) -> dict[str, Any]:
    customer = call.get("shop.Customer", pk=call.data["customer_id"])
    customer.preferred_name = call.data["preferred_name"]
    customer.save()
    return {"customer_id": customer.pk}


@agent_tool(
    name="bench.cancel_orders",
    input=OwnerInput,
    description="The bench's many-row domain tool.",
    writes=["shop.Order"],
)
def cancel_orders(call: Any) -> dict[str, Any]:
    rows = call.filter("shop.Order", customer_id=call.data["customer_id"])
    return {"changed": rows.update(status="cancelled")}


class StatusInput(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["pending", "paid", "shipped", "cancelled", "refunded"]
    )


@agent_tool(
    name="bench.set_order_status",
    input=StatusInput,
    description="The bench's domain tool for the size tiers: every visible order gets a status.",
    writes=["shop.Order"],
)
def set_order_status(call: Any) -> dict[str, Any]:
    return {"changed": call.filter("shop.Order").update(status=call.data["status"])}


def domain_cases(bench: Bench) -> list[Case]:
    pk = bench.customer_ids[2]
    names = itertools.cycle(("Domain A", "Domain B"))
    plain = bench.tool(
        "db.update", model="Customer", id=pk, reason="bench: rename", data={"preferred_name": ""}
    )
    domain = bench.tool(
        "bench.rename_customer", customer_id=pk, preferred_name="", reason="bench: rename"
    )

    def db_update() -> dict[str, Any]:
        plain.args[0]["arguments"]["data"]["preferred_name"] = next(names)
        return plain()

    def domain_tool() -> dict[str, Any]:
        domain.args[0]["arguments"]["preferred_name"] = next(names)
        return domain()

    return [
        Case(
            "domain tool 1 row vs db.update 1 row",
            db_update,
            domain_tool,
            target=DOMAIN_TARGET,
            agree=lambda bare, tool: (
                bare["outcome"] == tool["outcome"] == "ok" and tool["affected_rows"] == 1
            ),
        )
    ]


def domain_statement_cases(bench: Bench) -> list[StatementCase]:
    customer, order = bench.models["Customer"], bench.models["Order"]
    now = timezone.now()

    def owner_of(count: int) -> int:
        owner = customer.objects.create(
            tenant_id=bench.context.tenant_id,
            name=f"Bench {count}",
            email="b@example.com",
            password_hash="x",
            created_at=now,
        )
        order.objects.bulk_create(
            order(
                tenant_id=owner.tenant_id,
                customer=owner,
                status="pending",
                total_cents=1,
                created_at=now,
            )
            for _ in range(count)
        )
        return owner.pk

    def cancel(owner: int) -> Any:
        return bench.tool("bench.cancel_orders", customer_id=owner, reason="bench: cancel")

    few = StatementCase("domain tool update() of 10 rows", cancel(owner_of(10)))
    many = StatementCase(
        "domain tool update() of 1000 rows",
        cancel(owner_of(1000)),
        target=count_statements(StatementCase("(warm-up)", cancel(owner_of(10)))),
    )
    return [few, many]
