"""The MCP server: this policy's tools, each call run by ``execute`` as one caller.

    server = build_server(resolve_caller(get_policy(), principal="agent:support-bot", tenant="7"))

Tool names and input schemas are ``tool_definitions(policy, format="json_schema")``'s:
dotted (``db.query``), which MCP's tool-name rule (``[A-Za-z0-9._-]{1,128}``) allows, or
underscored (``db_query``) for clients that pass names on to a provider that forbids dots.
``approval.status`` checks on a held write; it is a tool of the registry like the others.
Every call goes through the one pipeline (``ormai_django.execute``), in Django's sync thread.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import mcp.types as types
from asgiref.sync import sync_to_async
from django.db import close_old_connections
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server

from ormai_django import codes
from ormai_django.audit import call_for_ledger, record_event
from ormai_django.context import ToolContext
from ormai_django.errors import ToolDenied, ToolError
from ormai_django.mcp.caller import Caller
from ormai_django.mcp.results import tool_result
from ormai_django.names import APPROVAL_STATUS
from ormai_django.policy.policy import Policy
from ormai_django.runtime import execute
from ormai_django.tools.registry import find_tool
from ormai_django.tools.schemas import tool_definitions
from ormai_django.version import __version__

logger = logging.getLogger("ormai_django")

# "provider" (db_query, the default: MCP clients pass names through to model providers that
# forbid dots) or "dotted" (db.query); "underscored" is the earlier name of "provider".
ToolNames = Literal["provider", "dotted", "underscored"]
SERVER_NAME = "ormai-django"
INSTRUCTIONS = (
    "Tools over this Django project's data, under its policy. Call db.describe first to see "
    "the models and fields you may read and write."
)
WRITE_INSTRUCTIONS = (
    " Writes need a 'reason'; 'dry_run': true previews one. A write that comes back "
    "'pending_approval' waits for a person: tell the user, don't resend it, and check on it "
    "with approval_status."
)
TOKEN_EXPIRED_DENIAL = ToolDenied(
    codes.TOKEN_EXPIRED,
    "The capability token this server runs with has expired; nothing ran. Tell the user: "
    "the server must be restarted with a new token.",
    rule="token",
)


def _annotations(name: str) -> types.ToolAnnotations:
    if name == APPROVAL_STATUS:
        return types.ToolAnnotations(title="Approval status", read_only_hint=True)
    spec = find_tool(name)
    if not spec.writes:
        return types.ToolAnnotations(read_only_hint=True, open_world_hint=False)
    return types.ToolAnnotations(
        read_only_hint=False,
        destructive_hint=spec.name != "db.create",
        idempotent_hint=False,
        open_world_hint=False,
    )


def mcp_tools(policy: Policy, tool_names: ToolNames = "provider") -> list[types.Tool]:
    """The MCP tools this policy offers (``approval.status`` among them when it offers a
    write tool), in ``tool_definitions``' JSON Schema shape."""
    tools = []
    for definition in tool_definitions(policy, format="json_schema", names="dotted"):
        spec = find_tool(definition["name"])
        tools.append(
            types.Tool(
                name=spec.name if tool_names == "dotted" else spec.provider_name,
                description=definition["description"],
                input_schema=definition["input_schema"],
                annotations=_annotations(spec.name),
            )
        )
    return tools


def run_tool(name: str, arguments: dict[str, Any], caller: Caller) -> dict[str, Any]:
    """One MCP tool call, synchronously, as ``caller``, through the pipeline."""
    if caller.expired():
        return _refused(name, arguments, caller, TOKEN_EXPIRED_DENIAL)
    return execute({"name": name, "arguments": arguments}, caller.context, caller.policy)


def _run_tool_between_fresh_connections(
    name: str, arguments: dict[str, Any], caller: Caller
) -> dict[str, Any]:
    # As Django does around a request: a server runs for hours, and the database may have
    # closed its side of an idle connection meanwhile.
    close_old_connections()
    try:
        return run_tool(name, arguments, caller)
    finally:
        close_old_connections()


def _refused(name: str, arguments: Any, caller: Caller, refusal: ToolError) -> dict[str, Any]:
    """A call refused before the pipeline, audited as the pipeline audits a refusal."""
    outcome = {"outcome": refusal.outcome, "error": refusal.as_error()}
    event = record_event(
        tool=name,
        context=caller.context,
        arguments=call_for_ledger({"arguments": arguments}),
        result=outcome,
        duration_ms=0.0,
    )
    outcome["audit_id"] = event.id
    return outcome


def _internal_error() -> dict[str, Any]:
    return {
        "outcome": "error",
        "error": {
            "code": codes.INTERNAL_ERROR,
            "message": "The call failed unexpectedly and changed nothing. "
            "Don't retry it unchanged; tell the user it failed.",
        },
    }


def build_server(caller: Caller, *, tool_names: ToolNames = "provider") -> Server[Any]:
    """A low-level MCP ``Server`` serving ``caller``'s tools; run it with a transport
    (``ormai_django.mcp.transports``)."""
    context: ToolContext = caller.context
    # A caller outside a soft launch isn't offered its writes.
    tools = mcp_tools(caller.policy.for_context(context), tool_names)
    run = sync_to_async(_run_tool_between_fresh_connections, thread_sensitive=True)

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=list(tools))

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        try:
            outcome = await run(params.name, params.arguments or {}, caller)
        except Exception:
            # execute() never raises; this is the audit of a refused call, or a bug.
            logger.exception("ormai_django: MCP call %r as %s failed", params.name, context)
            outcome = _internal_error()
        return tool_result(outcome)

    return Server(
        SERVER_NAME,
        version=__version__,
        title="ormai_django",
        instructions=INSTRUCTIONS
        + (WRITE_INSTRUCTIONS if caller.policy.allows_tool(APPROVAL_STATUS) else ""),
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
