"""The MCP server: ``python manage.py ormai_mcp``, driven by the MCP SDK's own client.

Each test spawns the command as a subprocess (stdio, or streamable HTTP on 127.0.0.1)
against this test's own database: on PostgreSQL the ``test_...`` database by name; on
SQLite, whose test database lives in this process's memory, a file copy of it that this
test's connection is switched to as well. The client runs on an event loop in a thread of
its own, so the test stays synchronous and can use the ORM between calls (to seed rows and
approve a held write).
"""

import contextlib
import datetime as dt
import functools
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from anyio.from_thread import start_blocking_portal
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from ormai_django import ToolContext, execute, tool_definitions
from ormai_django.approvals import approve
from ormai_django.mcp import mcp_tools, resolve_caller
from ormai_django.mcp.caller import Caller
from ormai_django.mcp.server import run_tool
from ormai_django.models import AuditEvent
from ormai_django.tokens import issue_token
from sandbox_project.shop.models import Customer, Subscription
from tests.factories import CustomerFactory, OrderFactory, SubscriptionFactory

REPO = Path(__file__).resolve().parents[2]
AGENT = ("--principal", "agent:support-bot", "--tenant", "7", "--run-id", "run-mcp")
STARTUP_SECONDS = 60
REMOTE = ("--bearer-token", "t" * 40, *AGENT)


@pytest.fixture
def shared_database(transactional_db, tmp_path):
    """The environment that points a subprocess at this test's database (committed rows
    only, hence ``transactional_db``)."""
    original = connections[DEFAULT_DB_ALIAS]
    if original.vendor == "postgresql":
        yield {"ORMAI_DB": "postgres", "ORMAI_PG_NAME": original.settings_dict["NAME"]}
        return
    path = tmp_path / "shared.sqlite3"
    original.ensure_connection()
    target = sqlite3.connect(path)
    original.connection.backup(target)  # the migrated, empty test database
    target.close()
    shared = original.__class__({**original.settings_dict, "NAME": str(path)}, DEFAULT_DB_ALIAS)
    connections[DEFAULT_DB_ALIAS] = shared
    try:
        yield {"ORMAI_DB": "sqlite", "ORMAI_SQLITE_PATH": str(path)}
    finally:
        shared.close()
        connections[DEFAULT_DB_ALIAS] = original


def server_env(database_env, **extra):
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "sandbox_project.settings",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        **database_env,
        **extra,
    }


class McpClient:
    """A ``ClientSession`` on its own event loop thread, called synchronously."""

    def __init__(self, portal, session):
        self.portal = portal
        self.session = session

    def list_tools(self):
        return self.portal.call(self.session.list_tools).tools

    def call(self, name, arguments):
        result = self.portal.call(functools.partial(self.session.call_tool, name, arguments))
        outcome = json.loads(result.content[0].text)
        assert outcome == result.structured_content  # the text and the structure agree
        return result, outcome


@contextlib.contextmanager
def connected(transport_streams):
    with start_blocking_portal() as portal, contextlib.ExitStack() as stack:
        read, write = stack.enter_context(portal.wrap_async_context_manager(transport_streams))
        session = stack.enter_context(
            portal.wrap_async_context_manager(
                ClientSession(read, write, read_timeout_seconds=STARTUP_SECONDS)
            )
        )
        portal.call(session.initialize)
        yield McpClient(portal, session)


@pytest.fixture
def mcp_stdio(shared_database, tmp_path):
    """``mcp_stdio(*options, env=...)``: a client connected to ``ormai_mcp`` over stdio."""
    log_path = tmp_path / "server.log"

    @contextlib.contextmanager
    def start(*options, env=None):
        params = StdioServerParameters(
            command=sys.executable,
            args=["manage.py", "ormai_mcp", *options],
            env=server_env(shared_database, **(env or {})),
            cwd=str(REPO),
        )
        with log_path.open("a") as log, connected(stdio_client(params, errlog=log)) as client:
            yield client

    yield start
    if log_path.exists():
        print(log_path.read_text(errors="replace"))  # shown when the test fails


@pytest.mark.slow
def test_the_server_lists_the_policys_tools_with_their_json_schemas(mcp_stdio, policy):
    with mcp_stdio(*AGENT) as client:
        tools = client.list_tools()

    definitions = tool_definitions(policy, format="json_schema")
    listed = {tool.name: tool for tool in tools}
    assert [tool.name for tool in tools] == [d["name"] for d in definitions]
    assert "approval_status" in listed  # a tool of the registry, listed like the others
    for definition in definitions:
        tool = listed[definition["name"]]
        assert tool.input_schema == definition["input_schema"]
        assert tool.description == definition["description"]
    assert listed["db_query"].annotations.read_only_hint is True
    assert listed["db_delete"].annotations.destructive_hint is True
    assert listed["approval_status"].input_schema["required"] == ["approval_id"]


@pytest.mark.slow
def test_a_read_returns_the_rows_of_the_callers_tenant(mcp_stdio):
    mine = OrderFactory.create_batch(2, tenant_id=7)
    OrderFactory(customer=CustomerFactory(tenant_id=8))

    with mcp_stdio(*AGENT) as client:
        result, outcome = client.call("db.query", {"model": "Order", "order_by": ["id"]})

    assert result.is_error is False
    assert outcome["outcome"] == "ok"
    assert [row["id"] for row in outcome["rows"]] == [order.id for order in mine]
    event = AuditEvent.objects.get(id=outcome["audit_id"])
    assert (event.tool, event.principal, event.tenant_id, event.run_id) == (
        "db.query",
        "agent:support-bot",
        "7",
        "run-mcp",
    )


@pytest.mark.slow
def test_a_write_to_a_field_that_is_not_writable_is_an_error_result(mcp_stdio):
    customer = CustomerFactory(name="Ann Lee")
    write = {"model": "Customer", "id": customer.id, "data": {"name": "Mallory"}, "reason": "x"}

    with mcp_stdio(*AGENT) as client:
        result, outcome = client.call("db.update", write)

    assert result.is_error is True
    assert outcome["outcome"] == "denied"
    assert outcome["error"]["code"] == "FIELD_NOT_WRITABLE"
    assert Customer.objects.get(pk=customer.pk).name == "Ann Lee"
    assert AuditEvent.objects.get(id=outcome["audit_id"]).error_code == "FIELD_NOT_WRITABLE"


@pytest.mark.slow
def test_a_held_write_is_followed_by_approval_status_until_it_executes(mcp_stdio):
    subscription = SubscriptionFactory(seats=1)
    write = {
        "model": "Subscription",
        "id": subscription.id,
        "data": {"seats": 5},
        "reason": "The team grew to five people",
    }

    with mcp_stdio(*AGENT) as client:
        held, outcome = client.call("db.update", write)
        approval_id = outcome["approval_id"]
        _, pending = client.call("approval_status", {"approval_id": approval_id})
        approve(approval_id, "lee", note="Checked the invoice")
        _, executed = client.call("approval_status", {"approval_id": approval_id})

    assert held.is_error is False
    assert outcome["outcome"] == "pending_approval"
    assert approval_id.startswith("appr_")
    sentence = held.content[1].text
    assert f"Approval requested, id {approval_id}, expires {outcome['expires_at']}" in sentence
    assert "needs 1 approver(s)" in sentence
    assert "call approval_status with this id" in sentence
    assert {key: pending[key] for key in ("status", "approvals", "approvers_required")} == {
        "status": "pending",
        "approvals": 0,
        "approvers_required": 1,
    }
    assert pending["expires_at"] == outcome["expires_at"]
    assert pending["result"] is None
    assert (executed["status"], executed["approvals"]) == ("executed", 1)
    assert executed["result"]["outcome"] == "ok"
    assert executed["result"]["ids"] == [subscription.id]
    assert Subscription.objects.get(pk=subscription.pk).seats == 5
    looks = AuditEvent.objects.filter(tool="approval.status", principal="agent:support-bot")
    assert looks.count() == 2
    assert all(event.approval_id is None for event in looks)  # the approval's chain stays clean


@pytest.mark.slow
def test_approval_status_does_not_show_another_callers_approval(mcp_stdio):
    def hold(context):
        subscription = SubscriptionFactory(customer=CustomerFactory(tenant_id=context.tenant_id))
        arguments = {
            "model": "Subscription",
            "id": subscription.id,
            "data": {"seats": 2},
            "reason": "More seats",
        }
        result = execute({"name": "db.update", "arguments": arguments}, context)
        assert result["outcome"] == "pending_approval", result
        return result["approval_id"]

    other_agents = hold(ToolContext(principal="agent:other-bot", tenant_id=7))
    other_tenants = hold(ToolContext(principal="agent:support-bot", tenant_id=8))
    made_up = "appr_01J00000000000000000000000"
    asked = (other_agents, other_tenants, made_up)

    with mcp_stdio(*AGENT) as client:
        answers = [client.call("approval_status", {"approval_id": a}) for a in asked]

    messages = set()
    for approval_id, (result, outcome) in zip(asked, answers, strict=True):
        assert result.is_error is True
        assert outcome["error"]["code"] == "UNKNOWN_APPROVAL"
        messages.add(outcome["error"]["message"].replace(approval_id, "ID"))
    assert len(messages) == 1  # the same answer whether the id exists or not: no oracle


@pytest.mark.slow
def test_a_token_narrowed_server_lists_and_runs_only_what_the_token_grants(mcp_stdio, policy):
    token = issue_token(
        principal="agent:reporting", tenant_id=7, tools=["db.query", "db.get"], policy=policy
    )
    OrderFactory()

    with mcp_stdio(env={"ORMAI_CAPABILITY_TOKEN": token}) as client:
        names = [tool.name for tool in client.list_tools()]
        _, read = client.call("db.query", {"model": "Order"})
        refused, write = client.call("db.create", {"model": "Note", "data": {"body": "hi"}})
        _, status = client.call("approval_status", {"approval_id": "appr_x"})

    assert names == ["db_query", "db_get"]  # no write tool, so no approval_status either
    assert read["outcome"] == "ok" and read["count"] == 1
    assert refused.is_error is True
    assert write["error"]["code"] == "TOOL_NOT_ALLOWED"
    assert status["error"]["code"] == "TOOL_NOT_ALLOWED"
    assert AuditEvent.objects.get(id=read["audit_id"]).principal == "agent:reporting"


@pytest.mark.slow
def test_a_bad_token_stops_the_command_before_it_serves(tmp_path):
    env = server_env({"ORMAI_DB": "sqlite", "ORMAI_SQLITE_PATH": str(tmp_path / "unused.db")})
    env["ORMAI_CAPABILITY_TOKEN"] = "not-a-token"

    finished = subprocess.run(
        [sys.executable, "manage.py", "ormai_mcp"],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=STARTUP_SECONDS,
    )

    assert finished.returncode != 0
    assert "TOKEN_INVALID" in finished.stderr
    assert "Traceback" not in finished.stderr
    assert finished.stdout == ""  # nothing was served


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ((), "--principal agent:NAME"),
        (("--token", "x", "--principal", "agent:bot"), "drop --principal"),
        (("--transport", "streamable-http", "--host", "0.0.0.0", *AGENT), "--allow-remote"),
        (("--host", "127.0.0.1", *AGENT), "--host is for --transport streamable-http"),
        (("--bearer-token", "t" * 40, *AGENT), "--bearer-token is for --transport"),
        (
            ("--transport", "streamable-http", "--host", "10.0.0.5", "--allow-remote", *AGENT),
            "--allow-remote needs a bearer token",
        ),
        (
            ("--transport", "streamable-http", "--bearer-token", "short", *AGENT),
            "use at least 32",
        ),
        (
            ("--transport", "streamable-http", "--host", "0.0.0.0", "--allow-remote", *REMOTE),
            "--allowed-host NAME",
        ),
    ],
)
def test_the_command_refuses_a_missing_caller_or_an_exposed_host(options, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("ormai_mcp", *options)


@pytest.mark.django_db
def test_calls_after_the_servers_token_expired_are_denied_and_audited(policy):
    caller = Caller(
        context=ToolContext(principal="agent:reporting", tenant_id=7),
        policy=policy,
        from_token=True,
        expires_at=timezone.now() - dt.timedelta(seconds=1),
    )

    outcome = run_tool("db.query", {"model": "Order"}, caller)

    assert outcome["outcome"] == "denied"
    assert outcome["error"]["code"] == "TOKEN_EXPIRED"
    assert AuditEvent.objects.get(id=outcome["audit_id"]).error_code == "TOKEN_EXPIRED"


def test_provider_safe_names_by_default_and_dotted_as_the_opt_in(policy):
    caller = resolve_caller(policy, principal="agent:support-bot", tenant="7")
    names = [tool.name for tool in mcp_tools(caller.policy)]
    definitions = tool_definitions(policy, format="anthropic")
    assert names == [d["name"] for d in definitions]
    assert "approval_status" in names and all("." not in name for name in names)
    assert [tool.name for tool in mcp_tools(caller.policy, "underscored")] == names
    dotted = [tool.name for tool in mcp_tools(caller.policy, "dotted")]
    assert dotted == [name.replace("_", ".", 1) for name in names]
    assert "approval.status" in dotted and "shop.refund_order" in dotted


def free_port(host="127.0.0.1"):
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_for_port(process, port, log_path, host="127.0.0.1"):
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
            return
        time.sleep(0.2)
    pytest.fail(f"the HTTP server did not start:\n{log_path.read_text(errors='replace')}")


@contextlib.contextmanager
def streamable_http_server(database_env, tmp_path, *, host="127.0.0.1", options=()):
    """``ormai_mcp --transport streamable-http`` on a free port of ``host``, as AGENT (with
    ``options`` added); yields its URL and stops it afterwards (its output goes to
    ``tmp_path / "http.log"``)."""
    port = free_port(host)
    log_path = tmp_path / "http.log"
    command = [sys.executable, "manage.py", "ormai_mcp", "--transport", "streamable-http"]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*command, "--host", host, "--port", str(port), *options, *AGENT],
            cwd=REPO,
            env=server_env(database_env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(process, port, log_path, host)
            yield f"http://{host}:{port}/mcp"
        finally:
            process.terminate()
            process.wait(timeout=20)


@pytest.mark.slow
def test_streamable_http_serves_the_tools_on_loopback(shared_database, tmp_path, policy):
    with (
        streamable_http_server(shared_database, tmp_path) as url,
        connected(streamable_http_client(url)) as client,
    ):
        names = [tool.name for tool in client.list_tools()]

    expected = [d["name"] for d in tool_definitions(policy, format="json_schema")]
    assert names == expected
    assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp")
    assert f"serving MCP on {url}" in (tmp_path / "http.log").read_text()


def test_the_core_does_not_import_the_mcp_sdk():
    script = (
        "import sys, django; django.setup(); "
        "import ormai_django, ormai_django.runtime, ormai_django.approvals, "
        "ormai_django.tools.schemas, ormai_django.tokens, ormai_django.admin; "
        "print(sorted(m for m in sys.modules if m == 'mcp' or m.startswith('mcp.')))"
    )
    finished = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=server_env({}),
        capture_output=True,
        text=True,
        timeout=STARTUP_SECONDS,
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "[]"
