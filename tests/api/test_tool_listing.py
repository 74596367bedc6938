"""GET tools/: the tool definitions in each format, only what the token grants."""

import pytest

from tests.api.support import (
    TOOLS,
    agent,
)
from tests.support import token_for

pytestmark = pytest.mark.django_db


def test_tools_lists_the_definitions_in_each_format():
    client = agent()

    default = client.get(TOOLS).json()
    openai = client.get(TOOLS, {"format": "openai"}).json()
    anthropic = client.get(TOOLS, {"format": "anthropic"}).json()

    assert default["format"] == "json_schema"
    assert "db_query" in [t["name"] for t in default["tools"]]  # provider-safe by default
    dotted = client.get(TOOLS, {"names": "dotted"}).json()
    assert "db.query" in [t["name"] for t in dotted["tools"]]
    assert client.get(TOOLS, {"names": "camel"}).status_code == 400
    assert "db_query" in [t["function"]["name"] for t in openai["tools"]]
    assert "db_query" in [t["name"] for t in anthropic["tools"]]
    assert default["context"] == {
        "principal": "agent:support-bot",
        "tenant_id": 7,
        "on_behalf_of": None,
        "run_id": None,
    }


def test_tools_lists_only_what_the_token_grants():
    token = token_for(models=["Order"], tools=["db.query", "db.get"])

    tools = agent(token).get(TOOLS).json()["tools"]

    assert [t["name"] for t in tools] == ["db_query", "db_get"]
    assert tools[0]["input_schema"]["properties"]["model"]["enum"] == ["Order"]


def test_tools_with_an_unknown_format_is_400():
    response = agent().get(TOOLS, {"format": "yaml"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_ARGUMENTS"
