"""The MCP server of ormai_django (optional: ``pip install "ormai-django[mcp]"``).

``python manage.py ormai_mcp --principal agent:support-bot --tenant 7`` serves this
project's tools over stdio; ``--transport streamable-http --port 8765`` over HTTP on
127.0.0.1. The core never imports this package; it imports the ``mcp`` SDK.

    from ormai_django.mcp import build_server, resolve_caller, serve_stdio
"""

from ormai_django.mcp.caller import Caller, CallerError, resolve_caller
from ormai_django.mcp.server import build_server, mcp_tools
from ormai_django.mcp.transports import serve_stdio, serve_streamable_http

__all__ = [
    "Caller",
    "CallerError",
    "build_server",
    "mcp_tools",
    "resolve_caller",
    "serve_stdio",
    "serve_streamable_http",
]
