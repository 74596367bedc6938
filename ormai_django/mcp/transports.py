"""Running the MCP server: over stdio (a client spawns it) or streamable HTTP.

The HTTP transport has no authentication of its own, so this module gives it two
guards (docs/mcp.md, "Over HTTP"):

- a ``Host``/``Origin`` allow-list for whatever address is bound (the MCP SDK turns
  DNS-rebinding protection on only for ``127.0.0.1``, ``localhost`` and ``::1``, so
  ``127.0.0.2`` or ``LOCALHOST`` would otherwise answer a page on ``attacker.example``);
- a bearer token, required off loopback (``--allow-remote``) and optional on it, checked
  on every request before the SDK sees it.

The port is bound before anything says "serving", so a busy port is a clear error.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import socket
import sys
from collections.abc import Sequence
from typing import Any

from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.server.transport_security import TransportSecuritySettings

DEFAULT_HOST = "127.0.0.1"
HTTP_PATH = "/mcp"
LOOPBACK_NAMES = frozenset({"localhost"})
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", "[::]", ""})
MIN_TOKEN_LENGTH = 32
TOKEN_HINT = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


class BindRefused(Exception):
    """A host, port or token the HTTP transport won't serve with; the message says why."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (127.0.0.0/8, ::1) or ``localhost``."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(
    host: str,
    *,
    allow_remote: bool = False,
    bearer_token: str | None = None,
    allowed_hosts: Sequence[str] = (),
) -> str:
    """``host`` if the HTTP transport may bind it with these guards; ``BindRefused`` otherwise."""
    if bearer_token is not None and len(bearer_token) < MIN_TOKEN_LENGTH:
        raise BindRefused(
            f"The bearer token is {len(bearer_token)} characters; use at least "
            f"{MIN_TOKEN_LENGTH} random ones, e.g. from: {TOKEN_HINT}"
        )
    if is_loopback(host):
        return host
    if not allow_remote:
        raise BindRefused(
            f"Refusing to serve on {host}: anyone who reaches {host} would act as this "
            f"server's principal. Keep the default {DEFAULT_HOST}, or pass --allow-remote "
            "with --bearer-token (or $ORMAI_MCP_BEARER_TOKEN) so every request must carry it."
        )
    if bearer_token is None:
        raise BindRefused(
            f"--allow-remote needs a bearer token: the MCP transport has no authentication of "
            f"its own. Pass --bearer-token or set $ORMAI_MCP_BEARER_TOKEN (make one with: "
            f"{TOKEN_HINT}); clients send it as 'Authorization: Bearer <token>'."
        )
    if host in WILDCARD_HOSTS and not allowed_hosts:
        raise BindRefused(
            f"Serving on every interface ({host}) needs --allowed-host NAME for each host name "
            "clients use to reach this server (the Host header is checked against them)."
        )
    return host


def transport_security(
    host: str, port: int, allowed_hosts: Sequence[str] = ()
) -> TransportSecuritySettings:
    """The ``Host``/``Origin`` allow-list for a server bound to ``host:port``: the loopback
    names when it is loopback, else ``host`` itself, plus every ``allowed_hosts`` entry."""
    names = {host, host.lower()} if host not in WILDCARD_HOSTS else set()
    if is_loopback(host):
        names |= {"127.0.0.1", "localhost", "::1"}
    names |= {*allowed_hosts, *(name.lower() for name in allowed_hosts)}
    hosts = sorted({header for name in names for header in _host_headers(name, port)})
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts,
        allowed_origins=[f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")],
    )


def _host_headers(name: str, port: int) -> set[str]:
    """The ``Host`` values a client may send for ``name`` (an IPv6 address in brackets, as
    written and compressed; a ``NAME:PORT`` from ``--allowed-host`` as it is)."""
    if name.startswith("[") and "]:" in name:  # [IPV6]:PORT
        return {name}
    bare = name.strip("[]")
    if ":" not in bare:
        return {f"{name}:{port}"}
    if bare.count(":") == 1 and not name.startswith("["):
        return {name}
    return {f"[{bare}]:{port}", f"[{ipaddress.ip_address(bare).compressed}]:{port}"}


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket on ``host:port``; ``BindRefused`` when it can't be had."""
    try:
        infos = socket.getaddrinfo(host.strip("[]") or None, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise BindRefused(f"Cannot resolve --host {host}: {exc.strerror}.") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise BindRefused(
            f"Cannot listen on {host}:{port}: {exc.strerror}. Another process may be using "
            "the port; pick another with --port."
        ) from None
    return sock


class BearerTokenMiddleware:
    """Pure ASGI: every HTTP request must carry ``Authorization: Bearer <token>``, compared in
    constant time; anything else gets 401 before the MCP SDK sees it."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not self._authorised(scope):
            await self._refuse(send)
            return
        await self.app(scope, receive, send)

    def _authorised(self, scope: dict[str, Any]) -> bool:
        given = dict(scope.get("headers") or ()).get(b"authorization", b"")
        return hmac.compare_digest(given, self.expected)

    async def _refuse(self, send: Any) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": "UNAUTHENTICATED",
                    "message": "Send 'Authorization: Bearer <token>' with the token this "
                    "server was started with.",
                }
            }
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b'Bearer realm="ormai_mcp"'),
        ]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def serve_stdio(server: Server[Any]) -> None:
    """Serve one client over this process's stdin and stdout until stdin closes."""
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


async def serve_streamable_http(
    server: Server[Any],
    *,
    host: str = DEFAULT_HOST,
    port: int = 8765,
    allow_remote: bool = False,
    bearer_token: str | None = None,
    allowed_hosts: Sequence[str] = (),
    sock: socket.socket | None = None,
) -> None:
    """Serve streamable HTTP at ``http://host:port/mcp`` until interrupted, on ``sock`` if
    given (from ``bind``), else on a socket bound here after ``check_host``."""
    import uvicorn

    if sock is None:
        check_host(
            host, allow_remote=allow_remote, bearer_token=bearer_token, allowed_hosts=allowed_hosts
        )
        sock = bind(host, port)
    port = sock.getsockname()[1]
    app: Any = server.streamable_http_app(
        streamable_http_path=HTTP_PATH,
        host=host,
        transport_security=transport_security(host, port, allowed_hosts),
    )
    if bearer_token is not None:
        app = BearerTokenMiddleware(app, bearer_token)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    print(f"ormai_mcp: serving MCP on {http_url(host, port)}", file=sys.stderr, flush=True)
    await uvicorn.Server(config).serve(sockets=[sock])


def http_url(host: str, port: int) -> str:
    """The endpoint a client connects to."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}{HTTP_PATH}"
