"""A where with no condition, in any spelling, never reaches a whole table (issue 19,
attack 3): a write refuses it before touching a row, and a read refuses the nested
spellings too rather than silently matching everything."""

import pytest

from sandbox_project.shop.models import Order
from tests.factories import OrderFactory
from tests.support import call_tool

pytestmark = pytest.mark.django_db

EMPTY = [
    {},
    {"and": [{}]},
    {"or": [{}]},
    {"and": [{}, {}]},
    {"or": [{"and": [{}]}]},
    {"not": {}},
    {"and": [{"or": [{}]}]},
]


@pytest.mark.parametrize("where", EMPTY, ids=str)
@pytest.mark.parametrize("tool", ["db.update", "db.delete"])
def test_a_write_with_an_empty_where_changes_nothing(ctx, tool, where):
    orders = OrderFactory.create_batch(3, tenant_id=7, status="pending")
    arguments = {"model": "Order", "where": where, "reason": "Cancel the stale orders"}
    if tool == "db.update":
        arguments["data"] = {"status": "cancelled"}
    result = call_tool(tool, ctx, **arguments)
    assert result["outcome"] == "error", result
    assert result["error"]["code"] == "INVALID_ARGUMENTS"
    assert "condition" in result["error"]["message"] or "whole" in result["error"]["message"]
    assert Order.objects.filter(pk__in=[o.pk for o in orders], status="pending").count() == 3


@pytest.mark.parametrize("where", EMPTY[1:], ids=str)
def test_a_read_refuses_an_empty_branch(ctx, where):
    OrderFactory.create_batch(2, tenant_id=7)
    result = call_tool("db.query", ctx, model="Order", where=where)
    assert result["outcome"] == "error"
    assert result["error"]["code"] == "INVALID_ARGUMENTS"


def test_a_branch_with_a_condition_still_filters(ctx):
    kept = OrderFactory(tenant_id=7, status="pending")
    OrderFactory(tenant_id=7, status="shipped")
    result = call_tool("db.query", ctx, model="Order", where={"or": [{"status": "pending"}]})
    assert [row["id"] for row in result["rows"]] == [kept.pk]
