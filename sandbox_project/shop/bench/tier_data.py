"""The rows and the policy of one size tier (``bench/tiers.py``).

Tier ``rows`` gets its own tenant, with one customer owning ``rows`` orders and ``rows``
notes, each with ``history_depth`` history rows, so a tier's writes never touch another
tier's rows. Hard deletes and the rows a rollback re-creates use a second tenant of the
tier, filled and emptied around each call (untimed). Once a tier's rows are in, the
database gathers its planner statistics (``ANALYZE``), as autovacuum or a DBA would have
done on any table that size: a planner that takes 10,000 fresh rows for a hundred picks
plans no real table gets, on both sides of a pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from ormai_django.context import ToolContext
from ormai_django.orm.history import write_history
from ormai_django.policy.builder import PolicyBuilder
from ormai_django.policy.policy import Policy
from ormai_django.policy.profiles import DEFAULT_PROD
from ormai_django.runtime import execute

TIER_TENANT_BASE = 200
SCRATCH_TENANT_OFFSET = 50
BATCH = 2_000
# The where of the tier's updates: every order (the bare side filters only by tenant).
EVERY_ORDER = {"total_cents__gte": 0}


def tier_policy() -> Policy:
    """Writes open on the tier's orders and notes, no budget, no blast-radius cap."""
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Customer", "shop.Order", "shop.Note"])
        .tenant_scope("tenant_id")
        .enable_writes(
            models=["Order", "Note"],
            writable_fields={
                "Order": ["status", "customer", "total_cents", "currency", "created_at"]
            },
            max_affected_rows=10_000_000,
        )
        .allow_tools(["bench.set_order_status"])
        .build()
    )


@dataclass
class TierBench:
    """What a tier's case builders work with."""

    models: dict[str, type]
    policy: Policy
    rows: int
    tenant: int
    scratch_tenant: int
    owners: dict[int, int]  # tenant: the id of its customer, who owns its orders and notes
    history_depth: int

    def context(self, run_id: str = "bench", tenant: int | None = None) -> ToolContext:
        return ToolContext(
            principal="agent:ormai-bench", tenant_id=tenant or self.tenant, run_id=run_id
        )

    def call(
        self, name: str, run_id: str = "bench", tenant: int | None = None, **arguments: Any
    ) -> dict[str, Any]:
        result = execute(
            {"name": name, "arguments": {"reason": "bench", **arguments}},
            self.context(run_id, tenant),
            self.policy,
        )
        if result.get("outcome") != "ok":
            raise RuntimeError(f"{name}: {result}")
        return result

    def orders(self) -> Any:
        return self.models["Order"].objects.filter(tenant_id=self.tenant)

    def notes(self) -> Any:
        return self.models["Note"].objects.filter(tenant_id=self.tenant)

    def scratch_orders(self) -> Any:
        return self.models["Order"].objects.filter(tenant_id=self.scratch_tenant)

    def new_orders(self, tenant: int | None = None, model: type | None = None) -> list[Any]:
        """``rows`` unsaved orders of a tenant's customer (the scratch tenant by default)."""
        order = model or self.models["Order"]
        tenant = self.scratch_tenant if tenant is None else tenant
        now = timezone.now()
        return [
            order(
                tenant_id=tenant,
                customer_id=self.owners[tenant],
                status="pending",
                total_cents=i,
                created_at=now,
            )
            for i in range(self.rows)
        ]


def create_tier(models: dict[str, type], index: int, rows: int, history_depth: int) -> TierBench:
    customer, order, note = models["Customer"], models["Order"], models["Note"]
    tenant = TIER_TENANT_BASE + index
    now = timezone.now()
    owners = {
        t: customer.objects.create(
            tenant_id=t,
            name=f"Bench Tier {rows}",
            email=f"bench.tier{rows}@example.com",
            password_hash="pbkdf2_sha256$bench",
            created_at=now,
        ).pk
        for t in (tenant, tenant + SCRATCH_TENANT_OFFSET)
    }
    bench = TierBench(
        models=models,
        policy=tier_policy(),
        rows=rows,
        tenant=tenant,
        scratch_tenant=tenant + SCRATCH_TENANT_OFFSET,
        owners=owners,
        history_depth=history_depth,
    )
    order.objects.bulk_create(bench.new_orders(tenant), batch_size=BATCH)
    note.objects.bulk_create(
        (
            note(tenant_id=tenant, customer_id=owners[tenant], body=f"note {i}", created_at=now)
            for i in range(rows)
        ),
        batch_size=BATCH,
    )
    for _ in range(history_depth):
        earlier = now - timedelta(days=1)
        write_history(order._base_manager.filter(tenant_id=tenant), "~", "bench", earlier)
        write_history(note._base_manager.filter(tenant_id=tenant), "~", "bench", earlier)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return bench


def history_mark(*models: type) -> Any:
    """A callable that deletes the history rows of ``models`` added after this call, so every
    sample writes into history tables of the same size (see ``bench/writes.py``)."""
    marks = []
    for model in models:
        historical = model.history.model
        last = historical.objects.order_by("-history_id").values_list("history_id", flat=True)
        marks.append((historical, last.first() or 0))

    def reset() -> None:
        for historical, last in marks:
            historical.objects.filter(history_id__gt=last).delete()

    return reset
