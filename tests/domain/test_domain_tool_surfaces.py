"""Domain tools on every surface, with no code per tool: Python (the other modules), HTTP
(the tool endpoints, a capability token's narrowing) and MCP (listed and called)."""

import pytest

from ormai_django.mcp import mcp_tools, resolve_caller
from ormai_django.mcp.server import run_tool
from ormai_django.models import AuditEvent
from sandbox_project.shop.models import Refund
from tests.api.support import agent, post_call
from tests.factories import CustomerFactory, OrderFactory
from tests.mcp.test_mcp_server import AGENT, mcp_stdio, shared_database  # noqa: F401
from tests.support import token_for

pytestmark = pytest.mark.django_db


def paid_order(total=1200):
    return OrderFactory(customer=CustomerFactory(tenant_id=7), status="paid", total_cents=total)


def test_over_http_the_tool_is_listed_and_runs_through_the_pipeline():
    order = paid_order()
    client = agent()

    listed = client.get("/ormai/tools/", {"format": "openai"}).json()
    done = post_call(
        client, "shop_refund_order", order_id=order.id, amount_cents=200, reason="Late delivery"
    )
    refused = post_call(
        client, "shop.refund_order", order_id=order.id, amount_cents=5000, reason="Too much"
    )

    names = [tool["function"]["name"] for tool in listed["tools"]]
    assert "shop_refund_order" in names
    assert done.status_code == 200
    assert done.json()["result"]["refunded_cents"] == 200
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "VALIDATION_FAILED"
    assert Refund.objects.count() == 1


def test_a_token_that_names_the_tool_grants_it_and_one_that_doesnt_refuses_it():
    order = paid_order()
    granted = agent(token_for(models=["Order", "Refund"], tools=["shop.refund_order"]))
    reader = agent(token_for(tools=["db.query"]))
    read_only = agent(token_for(read_only=True))

    ran = post_call(
        granted, "shop.refund_order", order_id=order.id, amount_cents=1, reason="Goodwill"
    )
    no = post_call(
        reader, "shop.refund_order", order_id=order.id, amount_cents=1, reason="Goodwill"
    )
    never = post_call(
        read_only, "shop.refund_order", order_id=order.id, amount_cents=1, reason="Goodwill"
    )

    assert ran.status_code == 200, ran.json()
    assert (no.status_code, no.json()["error"]["code"]) == (403, "TOOL_NOT_ALLOWED")
    assert (never.status_code, never.json()["error"]["code"]) == (403, "TOOL_NOT_ALLOWED")
    assert Refund.objects.count() == 1


def test_over_mcp_in_process_the_tool_is_listed_with_write_annotations_and_runs(policy):
    caller = resolve_caller(policy, principal="agent:support-bot", tenant="7")
    order = paid_order()

    tools = {tool.name: tool for tool in mcp_tools(caller.policy, "underscored")}
    outcome = run_tool(
        "shop_refund_order",
        {"order_id": order.id, "amount_cents": 300, "reason": "Damaged"},
        caller,
    )

    refund_tool = tools["shop_refund_order"]
    assert refund_tool.annotations.read_only_hint is False
    assert refund_tool.input_schema["required"] == ["order_id", "amount_cents"]
    assert outcome["outcome"] == "ok"
    assert AuditEvent.objects.get(id=outcome["audit_id"]).tool == "shop.refund_order"


@pytest.mark.slow
def test_over_mcp_stdio_a_client_lists_and_calls_the_tool(mcp_stdio):  # noqa: F811
    order = paid_order(total=900)

    with mcp_stdio(*AGENT) as client:
        names = [tool.name for tool in client.list_tools()]
        result, outcome = client.call(
            "shop.refund_order", {"order_id": order.id, "amount_cents": 900, "reason": "Lost"}
        )

    assert {"shop_refund_order", "shop_change_plan", "shop_send_receipt_email"} <= set(names)
    assert result.is_error is False
    assert outcome["result"]["left_to_refund_cents"] == 0
    assert Refund.objects.get().amount_cents == 900
