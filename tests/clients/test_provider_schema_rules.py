"""What OpenAI, Anthropic, Gemini and the MCP clients take, checked on every tool of every
format (DESIGN 15): provider-safe names, no type arrays, a top-level object, every optional
argument nullable, the API's own bounds in the schema; and a call that sends null for every
optional argument runs as if it had left them out."""

import pytest

from ormai_django import DEFAULT_PROD, PolicyBuilder, tool_definitions
from ormai_django.names import PROVIDER_SAFE_NAME
from tests.factories import CustomerFactory, OrderFactory
from tests.support import call_tool

pytestmark = pytest.mark.django_db

FORMATS = ["openai", "anthropic", "json_schema"]


def everything_policy():
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(
            ["shop.Customer", "shop.Order", "shop.Note", "shop.Refund", "shop.Subscription"]
        )
        .mask_fields(["customer.email"])
        .tenant_scope("tenant_id")
        .enable_writes(writable_fields={"Order": ["status"], "Note": ["body", "customer"]})
        .allow_tools(["shop.refund_order", "shop.change_plan", "shop.send_receipt_email"])
        .expose_dry_run_tools()
        .build()
    )


def named_schemas(fmt, policy):
    out = {}
    for d in tool_definitions(policy, format=fmt):
        if fmt == "openai":
            out[d["function"]["name"]] = d["function"]["parameters"]
        else:
            out[d["name"]] = d["input_schema"]
    return out


def walk(schema, path="$"):
    yield path, schema
    if isinstance(schema, dict):
        for key, value in schema.items():
            yield from walk(value, f"{path}.{key}")
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            yield from walk(value, f"{path}[{i}]")


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_tool_meets_the_providers_name_and_schema_rules(fmt):
    schemas = named_schemas(fmt, everything_policy())
    assert len(schemas) == 14  # 7 db tools, their 3 previews, approval_status, 3 domain tools
    for name, schema in schemas.items():
        assert PROVIDER_SAFE_NAME.match(name), name
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        for path, node in walk(schema):
            if isinstance(node, dict) and "type" in node:
                assert isinstance(node["type"], str), f"{name} {path}: a type array"
        for arg, prop in schema["properties"].items():
            if arg in schema.get("required", []):
                continue
            branches = prop.get("anyOf", [])
            assert {"type": "null"} in branches, f"{name}.{arg} doesn't accept null"


def test_the_api_bounds_are_in_the_schema():
    schemas = named_schemas("json_schema", everything_policy())
    order_by = schemas["db_query"]["properties"]["order_by"]["anyOf"]
    assert {"type": "string"} in order_by
    assert {"type": "array", "items": {"type": "string"}, "maxItems": 5} in order_by
    group_by = schemas["db_aggregate"]["properties"]["group_by"]["anyOf"]
    assert {"type": "array", "items": {"type": "string"}, "maxItems": 5} in group_by
    ids = schemas["db_get"]["properties"]["id"]
    assert ids["anyOf"] == [{"type": "integer"}, {"type": "string"}]


def test_null_for_every_optional_argument_means_not_given(ctx):
    policy = everything_policy()
    ann = CustomerFactory(tenant_id=7)
    order = OrderFactory(tenant_id=7, customer=ann, status="pending")
    query = call_tool(
        "db.query",
        ctx,
        policy,
        model="Order",
        where=None,
        fields=None,
        order_by=None,
        limit=None,
        cursor=None,
    )
    assert query["outcome"] == "ok" and query["count"] == 1
    got = call_tool("db.get", ctx, policy, model="Order", id=order.pk, fields=None)
    assert got["outcome"] == "ok"
    described = call_tool("db.describe", ctx, policy, model=None)
    assert described["outcome"] == "ok"
    grouped = call_tool(
        "db.aggregate",
        ctx,
        policy,
        model="Order",
        where=None,
        group_by=None,
        aggregations={"n": {"count": "*"}},
    )
    assert grouped["outcome"] == "ok", grouped
    updated = call_tool(
        "db.update",
        ctx,
        policy,
        model="Order",
        id=order.pk,
        where=None,
        data={"status": "paid"},
        reason="Paid by phone",
        idempotency_key=None,
        dry_run=None,
    )
    assert updated["outcome"] == "ok", updated
    order.refresh_from_db()
    assert order.status == "paid"
    refund = call_tool(
        "shop.refund_order",
        ctx,
        policy,
        order_id=order.pk,
        amount_cents=1,
        reason="Goodwill",
        idempotency_key=None,
        dry_run=None,
    )
    assert refund["outcome"] in ("ok", "error"), refund
    assert refund.get("error", {}).get("code") != "INVALID_ARGUMENTS"
