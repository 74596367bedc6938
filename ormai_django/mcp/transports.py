"""Running the MCP server: over stdio (a client spawns it) or streamable HTTP on loopback.

The HTTP transport has no authentication of its own: whoever reaches the port calls the
tools as the server's caller. So it binds 127.0.0.1 unless told otherwise, and a
non-loopback address needs ``allow_remote=True`` (``--allow-remote``) on top of the host.
"""

from __future__ import annotations

import ipaddress
import sys
from typing import Any

from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

DEFAULT_HOST = "127.0.0.1"
HTTP_PATH = "/mcp"
LOOPBACK_NAMES = frozenset({"localhost"})


class BindRefused(Exception):
    """A host the HTTP transport won't bind without ``allow_remote``."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (127.0.0.0/8, ::1) or ``localhost``."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, *, allow_remote: bool = False) -> str:
    """``host`` if the HTTP transport may bind it; ``BindRefused`` otherwise."""
    if is_loopback(host) or allow_remote:
        return host
    raise BindRefused(
        f"Refusing to serve on {host}: the MCP server has no authentication of its own, so "
        f"anyone who reaches {host} would act as its principal. Keep the default "
        f"{DEFAULT_HOST}, or pass --allow-remote as well if this host is firewalled or "
        "behind an authenticating proxy."
    )


async def serve_stdio(server: Server[Any]) -> None:
    """Serve one client over this process's stdin and stdout until stdin closes."""
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


async def serve_streamable_http(
    server: Server[Any], *, host: str = DEFAULT_HOST, port: int = 8765, allow_remote: bool = False
) -> None:
    """Serve streamable HTTP at ``http://host:port/mcp`` until interrupted."""
    import uvicorn

    check_host(host, allow_remote=allow_remote)
    app = server.streamable_http_app(streamable_http_path=HTTP_PATH, host=host)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
    )
    print(f"ormai_mcp: serving MCP on {http_url(host, port)}", file=sys.stderr, flush=True)
    await uvicorn.Server(config).serve()


def http_url(host: str, port: int) -> str:
    """The endpoint a client connects to."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}{HTTP_PATH}"
