"""The bench's hand-written floor (``bench/floor.py``) writes the records ``db.update`` writes:
its ratio is only a floor if it leaves out none of them."""

import pytest

from ormai_django.models import AuditEvent
from sandbox_project.shop.bench.floor import floor_update
from sandbox_project.shop.bench.tier_data import EVERY_ORDER, create_tier
from sandbox_project.shop.models import Customer, Note, Order

pytestmark = pytest.mark.django_db

MODELS = {"Customer": Customer, "Order": Order, "Note": Note}


def latest_history(tier):
    return list(
        Order.history.filter(tenant_id=tier.tenant)
        .order_by("-history_id")
        .values_list("id", "status", "history_type", "history_change_reason")[: tier.rows]
    )


def test_the_floor_by_hand_writes_the_rows_history_and_ledger_db_update_writes():
    tier = create_tier(MODELS, 0, 5, history_depth=1)
    ids = sorted(tier.orders().values_list("pk", flat=True))

    tool = tier.call("db.update", model="Order", where=EVERY_ORDER, data={"status": "cancelled"})
    tool_event = AuditEvent.objects.get(pk=tool["audit_id"])
    tool_history = latest_history(tier)
    changed = floor_update(
        tier.orders().filter(**EVERY_ORDER), "status", "refunded", "agent:ormai-bench"
    )
    floor_event = AuditEvent.objects.exclude(pk=tool_event.pk).latest("created_at")
    floor_history = latest_history(tier)

    assert changed == 5
    assert set(tier.orders().values_list("status", flat=True)) == {"refunded"}
    # One history row per row, of the row as the write left it, with the reason.
    assert sorted((i, s, t) for i, s, t, _ in floor_history) == [(i, "refunded", "~") for i in ids]
    assert sorted((i, s, t) for i, s, t, _ in tool_history) == [(i, "cancelled", "~") for i in ids]
    assert {r for *_, r in floor_history} == {r for *_, r in tool_history}
    # One audit row, its ledger in db.update's shape: each row's pk, before and after.
    assert tool_event.changes == [
        {"pk": i, "before": {"status": "pending"}, "after": {"status": "cancelled"}} for i in ids
    ]
    assert floor_event.changes == [
        {"pk": i, "before": {"status": "cancelled"}, "after": {"status": "refunded"}} for i in ids
    ]
    assert (floor_event.tool, floor_event.model, floor_event.outcome) == (
        "db.update",
        "shop.Order",
        "ok",
    )
    assert floor_event.affected_rows == tool_event.affected_rows == 5
