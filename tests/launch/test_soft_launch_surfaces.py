"""Soft launch on the surfaces: the HTTP tool list and the MCP server offer a caller outside
the launch group none of its writes."""

import pytest
from django.conf import settings
from django.test import override_settings

from ormai_django import ToolContext
from ormai_django.mcp.caller import Caller
from ormai_django.policy.loading import get_policy
from tests.api.support import TOOLS, agent, post_call
from tests.factories import CustomerFactory
from tests.support import token_for

pytestmark = pytest.mark.django_db

LAUNCHED = {**settings.ORMAI, "POLICY": "tests.launch.policies.tenant_seven_launch"}


def names(client):
    return {t["name"] for t in client.get(TOOLS).json()["tools"]}


@override_settings(ORMAI=LAUNCHED)
def test_the_http_tool_list_follows_the_launch_group():
    inside = names(agent(token_for(tenant_id=7)))
    outside = names(agent(token_for(tenant_id=8)))
    assert {"db_update", "shop_refund_order"} <= inside
    assert not outside & {"db_create", "db_update", "db_delete", "shop_refund_order"}
    customer = CustomerFactory(tenant_id=8)
    response = post_call(
        agent(token_for(tenant_id=8)),
        "db.update",
        model="Customer",
        id=customer.pk,
        data={"preferred_name": "Ann"},
        reason="asked",
    )
    assert response.json()["error"]["code"] == "NOT_LAUNCHED"


@override_settings(ORMAI=LAUNCHED)
def test_the_mcp_server_follows_the_launch_group():
    pytest.importorskip("mcp")
    import anyio

    from ormai_django.mcp.server import build_server

    policy = get_policy()
    for tenant, expected in ((7, True), (8, False)):
        caller = Caller(context=ToolContext(principal="agent:mcp", tenant_id=tenant), policy=policy)
        server = build_server(caller)
        handler = server.get_request_handler("tools/list")
        listed = anyio.run(handler.handler, None, None)
        offered = {tool.name for tool in listed.tools}
        assert ("shop_refund_order" in offered) is expected
        assert ("db_update" in offered) is expected
        assert "db_query" in offered
