"""What the bench measures: a timed case, a counted call, and the bench they are built from.

The policy is built here with ``PolicyBuilder``: the sandbox's reading rules (same
deny and mask rules, tenant scope) and ``row_limits(max=max(1000, rows))``, with
writes open on the fields the write cases change. The bench's own rows are made
with ``bulk_create``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from django.utils import timezone

from ormai_django.context import ToolContext
from ormai_django.policy.builder import PolicyBuilder
from ormai_django.policy.policy import Policy
from ormai_django.policy.profiles import DEFAULT_PROD
from ormai_django.runtime import execute

TENANT = 7
OTHER_TENANT = 8
ORDER_STATUSES = ("pending", "paid", "shipped", "cancelled", "refunded")


@dataclass(frozen=True)
class Case:
    """One timed path: the bare ORM doing some work and the tool doing the same work."""

    name: str
    bare: Callable[[], Any]
    tool: Callable[[], dict[str, Any]]
    target: float | None = None  # the largest tool/bare ratio allowed; None: reported only
    agree: Callable[[Any, dict[str, Any]], bool] = lambda bare, tool: tool["outcome"] == "ok"
    # Run before each tool call, untimed (e.g. holding the call an approval then runs).
    setup: Callable[[], Any] | None = None
    # Run after each tool call, untimed (e.g. putting the history table back as it was).
    reset: Callable[[], Any] | None = None


@dataclass(frozen=True)
class StatementCase:
    """One tool call whose SQL statements are counted (the audit INSERT included)."""

    name: str
    call: Callable[[], dict[str, Any]]
    target: int | None = None  # the most statements allowed; None: reported only


@dataclass
class Bench:
    """What the case builders work with: the models, the policy, the context, the data."""

    models: dict[str, type]
    policy: Policy
    context: ToolContext
    rows: int
    customer_ids: list[int]
    write_rows: int = 10_000
    history_depth: int = 3

    def tool(self, name: str, **arguments: Any) -> Callable[[], dict[str, Any]]:
        return partial(execute, {"name": name, "arguments": arguments}, self.context, self.policy)

    def visible_fields(self, model: type) -> tuple[str, ...]:
        return self.policy.for_model(model).visible_field_names


def bench_policy(rows: int, hold_order_updates: bool = False) -> Policy:
    """The sandbox policy's reading rules, with pages as large as the bench reads, and
    writes open on the fields the write cases change (no rate limit, no blast-radius cap)."""
    builder = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Customer", "shop.Subscription", "shop.Order", "shop.Note"])
        .deny_fields("*password*", "*secret*", "*token*")
        .mask_fields(["customer.email", "customer.phone"])
        .tenant_scope("tenant_id")
        .row_limits(max=max(1000, rows))
        .enable_writes(
            models=["Customer", "Order"],
            writable_fields={"Customer": ["preferred_name"], "Order": ["status"]},
            max_affected_rows=1_000_000,
        )
        # The bench's own domain tools (bench/domain.py).
        .allow_tools(["bench.rename_customer", "bench.cancel_orders"])
    )
    if hold_order_updates:
        # The approval case: every Order update waits for one person.
        builder = builder.require_approval(tool="db.update", model="Order")
    return builder.build()


def create_data(models: dict[str, type], rows: int) -> list[int]:
    """``rows`` customers and orders in the bench tenant, a few in another; the tenant's ids."""
    customer, order = models["Customer"], models["Order"]
    now = timezone.now()
    made = customer.objects.bulk_create(
        customer(
            tenant_id=TENANT if i < rows else OTHER_TENANT,
            name=f"Bench Customer {i}",
            preferred_language="en",
            email=f"bench.customer{i}@example.com",
            phone=f"+1 415 555 {i % 10_000:04d}",
            password_hash=f"pbkdf2_sha256$bench{i}",
            api_token=f"tok_bench_{i}",
            is_vip=i % 7 == 0,
            created_at=now - timedelta(minutes=i),
        )
        for i in range(rows + max(1, rows // 10))
    )
    ids = [c.pk for c in made if c.tenant_id == TENANT]
    if None in ids:  # backends that don't return ids from bulk_create (MySQL)
        ids = list(customer.objects.filter(tenant_id=TENANT).values_list("id", flat=True))
    order.objects.bulk_create(
        order(
            tenant_id=TENANT,
            customer_id=ids[i % len(ids)],
            status=ORDER_STATUSES[i % len(ORDER_STATUSES)],
            total_cents=1_000 + i,
            currency="EUR",
            created_at=now - timedelta(minutes=i),
        )
        for i in range(rows)
    )
    return ids
