"""The load test's database: a scratch PostgreSQL database, seeded, and what the agents own.

``scratch_database`` makes ``<NAME>_ormai_load`` from the project's migrations the way
Django's test runner (and ``ormai_bench``) does, points this process's connection at it,
and drops it at the end unless asked to keep it. ``seed`` fills it with the sandbox's demo
data (``seed_shop``) and deals each tenant's orders out to the agents of that tenant, so
that every order is written by one agent only and "the last status acknowledged" for an
order is well defined.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.core.management.base import CommandError
from django.db import DatabaseError, connection

from sandbox_project.shop.models import Customer, Order, Subscription
from sandbox_project.shop.seed import TENANTS, seed_shop

SUFFIX = "_ormai_load"


@contextmanager
def scratch_database(keep: bool = False) -> Iterator[str]:
    """A PostgreSQL database made from the migrations; yields its name. Dropped at the end
    unless ``keep`` (then left as it is, and this process's connection points back at the
    configured database)."""
    if connection.vendor != "postgresql":
        raise CommandError(
            "ormai_loadtest needs PostgreSQL (the server's workers and the agents write "
            "concurrently, which SQLite serialises): run it with ORMAI_DB=postgres, "
            "e.g. `make loadtest`."
        )
    test_settings = connection.settings_dict.setdefault("TEST", {})
    saved = test_settings.get("NAME")
    old_name = connection.settings_dict["NAME"]
    test_settings["NAME"] = f"{old_name}{SUFFIX}"
    try:
        try:
            name = connection.creation.create_test_db(
                verbosity=0, autoclobber=True, serialize=False
            )
        except DatabaseError as exc:
            raise CommandError(f"could not create the scratch database: {exc}") from None
        try:
            yield name
        finally:
            if keep:
                connection.close()
                connection.settings_dict["NAME"] = old_name
                settings.DATABASES[connection.alias]["NAME"] = old_name
            else:
                connection.creation.destroy_test_db(old_name, verbosity=0)
    finally:
        test_settings["NAME"] = saved


@dataclass
class Holdings:
    """What one agent works on: its tenant, the orders only it writes (id -> status), and
    the tenant's customers (for notes) and subscriptions (id -> plan, for held calls)."""

    tenant_id: int
    orders: dict[int, str]
    customers: list[int] = field(default_factory=list)
    subscriptions: dict[int, str] = field(default_factory=dict)


def seed(agents: int) -> list[Holdings]:
    """Seed the sandbox data; agent ``i`` works in tenant 7 or 8 (alternately) and owns a
    disjoint share of that tenant's orders."""
    seed_shop()
    tenants = list(TENANTS)
    holdings = []
    for number in range(agents):
        tenant = tenants[number % len(tenants)]
        holdings.append(
            Holdings(
                tenant_id=tenant,
                orders={},
                customers=list(
                    Customer.objects.filter(tenant_id=tenant)
                    .order_by("pk")
                    .values_list("pk", flat=True)
                ),
                subscriptions=dict(
                    Subscription.objects.filter(tenant_id=tenant)
                    .order_by("pk")
                    .values_list("pk", "plan")
                ),
            )
        )
    for tenant in tenants:
        mine = [h for h in holdings if h.tenant_id == tenant]
        orders = list(
            Order.objects.filter(tenant_id=tenant).order_by("pk").values_list("pk", "status")
        )
        for index, (pk, status) in enumerate(orders):
            if mine:
                mine[index % len(mine)].orders[pk] = status
    if any(not h.orders for h in holdings):
        raise CommandError(
            f"{agents} agents are more than the seeded orders can be shared between; "
            "use fewer --agents."
        )
    return holdings
