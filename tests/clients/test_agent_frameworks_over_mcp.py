"""Real agent frameworks against ``ormai_mcp`` over streamable HTTP on 127.0.0.1, offline:
pydantic-ai's ``MCPToolset`` driven by a scripted ``FunctionModel`` that calls every tool the
server lists. With the default (provider-safe) names, no framework has to rename anything.
(langchain-mcp-adapters is left out: its releases need the MCP SDK 1.x, ours is 2.x; the
wiring is in docs/integrations.md.)"""

import re

import pytest

from ormai_django.models import ApprovalRequest, AuditEvent
from sandbox_project.shop.models import Customer, Note
from tests.factories import CustomerFactory, NoteFactory, OrderFactory, SubscriptionFactory
from tests.mcp.test_mcp_server import streamable_http_server

pytestmark = [pytest.mark.slow]


def seed():
    ann = CustomerFactory(tenant_id=7, preferred_name="Ann")
    return {
        "customer": ann,
        "order": OrderFactory(tenant_id=7, customer=ann, status="pending"),
        "paid": OrderFactory(tenant_id=7, customer=ann, status="paid", total_cents=5000),
        "note": NoteFactory(tenant_id=7, customer=ann),
        "subscription": SubscriptionFactory(tenant_id=7, customer=ann, plan="basic", seats=2),
    }


def first_calls(rows):
    reason = {"reason": "The customer asked for it on the phone"}
    return {
        "db_describe": {},
        "db_query": {"model": "Order"},
        "db_get": {"model": "Order", "id": rows["order"].pk},
        "db_aggregate": {"model": "Order", "aggregations": {"n": {"count": "*"}}},
        "db_create": {
            "model": "Note",
            "data": {"customer": rows["customer"].pk, "body": "Call back Friday"},
            **reason,
        },
        "db_update": {
            "model": "Customer",
            "id": rows["customer"].pk,
            "data": {"preferred_name": "Annie"},
            **reason,
        },
        "db_delete": {"model": "Note", "id": rows["note"].pk, **reason},
        "shop_refund_order": {"order_id": rows["paid"].pk, "amount_cents": 500, **reason},
        "shop_change_plan": {
            "subscription_id": rows["subscription"].pk,
            "plan": "pro",
            "seats": 2,
            **reason,
        },
        "shop_send_receipt_email": {"order_id": rows["paid"].pk, **reason},
    }


@pytest.mark.django_db(transaction=True)
def test_pydantic_ai_calls_every_listed_tool_through_its_mcp_toolset(shared_database, tmp_path):
    pytest.importorskip("pydantic_ai")
    from pydantic_ai import Agent
    from pydantic_ai.mcp import MCPToolset
    from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart, ToolReturnPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    rows = seed()
    calls = first_calls(rows)
    listed: list[str] = []
    returned: dict[str, str] = {}

    def script(messages, info: AgentInfo) -> ModelResponse:
        turn = sum(isinstance(m, ModelResponse) for m in messages)
        for message in messages:
            for part in getattr(message, "parts", []):
                if isinstance(part, ToolReturnPart):
                    returned[part.tool_name] = str(part.content)
        if turn == 0:
            listed.extend(tool.name for tool in info.function_tools)
            return ModelResponse(
                parts=[ToolCallPart(name, args) for name, args in calls.items() if name in listed]
            )
        if turn == 1:
            # The irreversible receipt was held; follow it (no ORM in here: the model runs on
            # the framework's event loop thread, outside this test's database connection).
            [held] = set(re.findall(r"appr_[0-9A-Za-z]+", returned["shop_send_receipt_email"]))
            return ModelResponse(parts=[ToolCallPart("approval_status", {"approval_id": held})])
        return ModelResponse(parts=[TextPart("done")])

    with streamable_http_server(shared_database, tmp_path) as url:
        agent = Agent(FunctionModel(script), toolsets=[MCPToolset(url)])
        result = agent.run_sync("Do the support work.")

    assert result.output == "done"
    assert sorted(listed) == sorted([*calls, "approval_status"])  # provider-safe names
    assert set(returned) == set(listed)  # every tool answered
    assert Customer.objects.get(pk=rows["customer"].pk).preferred_name == "Annie"
    assert Note.objects.filter(body="Call back Friday").exists()
    assert "pending" in returned["approval_status"]
    assert ApprovalRequest.objects.filter(tool="shop.send_receipt_email", status="pending").exists()
    principals = set(AuditEvent.objects.values_list("principal", flat=True))
    assert principals == {"agent:support-bot"}
