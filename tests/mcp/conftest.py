"""The MCP tests' fixture that points a server subprocess at this test's database."""

from tests.mcp.test_mcp_server import shared_database  # noqa: F401
