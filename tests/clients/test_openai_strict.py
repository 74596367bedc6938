"""tool_definitions(format="openai", strict=True): every tool passes openai-agents' own
strict conversion unchanged (offline), and execute takes calls made from those schemas."""

import copy

import pytest

from ormai_django import tool_definitions
from sandbox_project.shop.models import Order
from tests.clients.test_provider_schema_rules import everything_policy
from tests.factories import CustomerFactory, OrderFactory
from tests.support import call_tool

strict_schema_module = pytest.importorskip("agents.strict_schema")

pytestmark = pytest.mark.django_db


def policy():
    return everything_policy()


def test_every_strict_definition_is_already_strict_for_openai_agents():
    definitions = tool_definitions(policy(), format="openai", strict=True)
    assert len(definitions) == 14
    for definition in definitions:
        function = definition["function"]
        assert function["strict"] is True
        schema = function["parameters"]
        # ensure_strict_json_schema rewrites what isn't strict; a strict schema comes back as is.
        assert strict_schema_module.ensure_strict_json_schema(copy.deepcopy(schema)) == schema
        assert set(schema["required"]) == set(schema["properties"]), function["name"]
        for node in _objects(schema):
            assert node.get("additionalProperties") is False, function["name"]


def test_the_plain_definitions_are_not_strict_where_filters_are_open():
    plain = {d["function"]["name"]: d for d in tool_definitions(policy(), format="openai")}
    where = plain["db_query"]["function"]["parameters"]["properties"]["where"]
    assert "strict" not in plain["db_query"]["function"]
    assert where["anyOf"][0]["additionalProperties"] is True


def _objects(schema):
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            yield schema
        for value in schema.values():
            yield from _objects(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _objects(value)


def test_strict_calls_run_like_plain_ones(ctx):
    p = policy()
    ann = CustomerFactory(tenant_id=7)
    pending = OrderFactory.create_batch(
        2, tenant_id=7, customer=ann, status="pending", total_cents=5000
    )
    OrderFactory(tenant_id=7, customer=ann, status="pending", total_cents=100)
    where = [
        {"field": "status", "op": "exact", "value": "pending"},
        {"field": "total_cents", "op": "gte", "value": 1000},
    ]
    query = call_tool(
        "db_query",
        ctx,
        p,
        model="Order",
        where=where,
        fields=None,
        order_by=None,
        limit=None,
        cursor=None,
    )
    assert sorted(r["id"] for r in query["rows"]) == sorted(o.pk for o in pending)
    updated = call_tool(
        "db_update",
        ctx,
        p,
        model="Order",
        id=None,
        where=where,
        data=[{"field": "status", "value": "cancelled"}],
        reason="The customer cancelled the large orders",
        idempotency_key=None,
        dry_run=None,
    )
    assert updated["outcome"] == "ok" and updated["affected_rows"] == 2
    assert Order.objects.filter(status="cancelled").count() == 2
    totals = call_tool(
        "db_aggregate",
        ctx,
        p,
        model="Order",
        where=None,
        group_by="status",
        aggregations=[{"name": "n", "function": "count", "field": "*"}],
    )
    assert {g["status"]: g["n"] for g in totals["groups"]} == {"cancelled": 2, "pending": 1}


def test_a_malformed_strict_list_is_a_clear_error(ctx):
    result = call_tool("db_query", ctx, policy(), model="Order", where=[{"field": "status"}])
    assert result["outcome"] == "error"
    assert result["error"]["code"] == "INVALID_ARGUMENTS"
    assert "field, op, value" in result["error"]["message"]
    empty = call_tool(
        "db_update",
        ctx,
        policy(),
        model="Order",
        where=[],
        data=[{"field": "status", "value": "x"}],
        reason="Clean up",
    )
    assert empty["outcome"] == "error"  # an empty condition list never means a whole table
