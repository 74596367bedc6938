"""What the API answers besides its endpoints (issue 19, small things): an unknown path under
its prefix is a JSON 404 in the error shape, not Django's HTML page; the OpenAPI schema lists
the 405, 500 and 503 answers the docs promise, on every operation; UNKNOWN_TOOL names every
tool a client is offered."""

import pytest
from django.test import Client

from ormai_django import tool_definitions
from tests.support import call_tool

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/ormai/nothing/", "/ormai/tools/list/", "/ormai/tools"])
def test_an_unknown_path_under_the_prefix_is_a_json_404(path):
    response = Client().get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "NOT_FOUND"
    assert "tools/call/" in error["message"]


def test_the_schema_lists_405_500_and_503_on_every_operation():
    schema = Client().get("/ormai/schema/", {"format": "json"}).json()
    operations = [op for ops in schema["paths"].values() for op in ops.values()]
    assert len(operations) == 9
    for operation in operations:
        assert {"405", "500", "503"} <= set(operation["responses"]), operation["operationId"]
    assert "POLICY_NOT_CONFIGURED" in operations[0]["responses"]["503"]["description"]


def test_unknown_tool_names_every_tool_a_client_is_offered(ctx):
    result = call_tool("db_nope", ctx)
    assert result["error"]["code"] == "UNKNOWN_TOOL"
    message = result["error"]["message"]
    for definition in tool_definitions(format="anthropic"):
        assert definition["name"] in message
