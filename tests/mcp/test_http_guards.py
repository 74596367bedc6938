"""The HTTP transport's guards, against a real ``ormai_mcp`` subprocess: a Host/Origin
allow-list for whatever loopback address is bound (DNS rebinding), a bearer token checked on
every request, and a busy port refused before anything says "serving"."""

import socket
import subprocess
import sys

import httpx2
import pytest
from mcp.client.streamable_http import streamable_http_client

from ormai_django.mcp.transports import transport_security
from tests.mcp.test_mcp_server import (
    AGENT,
    REPO,
    STARTUP_SECONDS,
    connected,
    server_env,
    streamable_http_server,
)
from tests.mcp.test_startup_time import INITIALIZE

pytestmark = pytest.mark.slow

TOKEN = "k" * 20 + "-test-bearer-token-0123456789"
SERVE_HTTP = (sys.executable, "manage.py", "ormai_mcp", "--transport", "streamable-http")
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def initialize(url, **headers):
    return httpx2.post(url, json=INITIALIZE, headers={**ACCEPT, **headers}, timeout=10)


def test_a_page_on_another_site_cannot_drive_a_server_on_any_loopback_address(
    shared_database, tmp_path
):
    # 127.0.0.2 is loopback, but the MCP SDK protects only 127.0.0.1, localhost and ::1.
    with streamable_http_server(shared_database, tmp_path, host="127.0.0.2") as url:
        port = url.split(":")[2].split("/")[0]
        rebound = initialize(url, Host="attacker.example")
        foreign_origin = initialize(url, Origin="http://attacker.example")
        same_site = initialize(url, Origin=f"http://127.0.0.2:{port}")

    assert rebound.status_code == 421
    assert foreign_origin.status_code == 403
    assert same_site.status_code == 200
    assert "mcp-session-id" in same_site.headers


def test_the_allow_list_follows_the_bound_address_in_every_spelling():
    def hosts(host):
        return transport_security(host, 8765).allowed_hosts

    assert "127.0.0.2:8765" in hosts("127.0.0.2")
    assert {"localhost:8765", "LOCALHOST:8765", "127.0.0.1:8765"} <= set(hosts("LOCALHOST"))
    assert {"[::1]:8765", "[0:0:0:0:0:0:0:1]:8765"} <= set(hosts("0:0:0:0:0:0:0:1"))
    assert "attacker.example:8765" not in hosts("127.0.0.2")
    remote = transport_security("10.0.0.5", 8765, ["mcp.internal", "proxy.internal:443"])
    assert sorted(remote.allowed_hosts) == [
        "10.0.0.5:8765",
        "mcp.internal:8765",
        "proxy.internal:443",
    ]
    assert transport_security("0.0.0.0", 8765, ["mcp.internal"]).allowed_hosts == [
        "mcp.internal:8765"
    ]


def test_with_a_bearer_token_every_request_must_carry_it(shared_database, tmp_path):
    options = ("--bearer-token", TOKEN)
    with streamable_http_server(shared_database, tmp_path, options=options) as url:
        missing = initialize(url)
        wrong = initialize(url, Authorization=f"Bearer {TOKEN[:-1]}x")
        deleted = httpx2.delete(url, headers={"Authorization": "Basic eDp5"}, timeout=10)
        right = initialize(url, Authorization=f"Bearer {TOKEN}")
        authorised = httpx2_client(TOKEN)
        with connected(streamable_http_client(url, http_client=authorised)) as client:
            names = [tool.name for tool in client.list_tools()]

    for refused in (missing, wrong, deleted):
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Bearer realm="ormai_mcp"'
        assert refused.json()["error"]["code"] == "UNAUTHENTICATED"
    assert right.status_code == 200
    assert "db_query" in names


def httpx2_client(token):
    return httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_a_busy_port_is_a_clear_error_before_anything_says_serving(shared_database):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        finished = subprocess.run(
            [*SERVE_HTTP, "--port", str(port), *AGENT],
            cwd=REPO,
            env=server_env(shared_database),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=STARTUP_SECONDS,
        )

    assert finished.returncode == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in finished.stderr
    assert "--port" in finished.stderr
    assert "serving MCP on" not in finished.stderr
    assert "Traceback" not in finished.stderr
