"""The registry: every tool an agent can call, with its arguments and its handler.

It stands above the handlers (``reads``, ``writes``) and below the runtime, which finds a
call's tool here. Tools are named canonically with dots (``db.query``); ``find_tool``
accepts the provider spelling (``db_query``) too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ormai_django import codes, names
from ormai_django.domain.declarations import REGISTRY, RESERVED_ARGUMENTS, DomainTool, declared
from ormai_django.domain.handler import run_domain_tool
from ormai_django.domain.schema import input_fields
from ormai_django.errors import ToolError
from ormai_django.invocation import Invocation
from ormai_django.reads.aggregate import aggregate
from ormai_django.reads.approval_status import approval_status
from ormai_django.reads.query import get, query
from ormai_django.tools.describe import describe
from ormai_django.writes.pipeline import run_write


@dataclass(frozen=True)
class ToolSpec:
    name: str
    summary: str
    arguments: tuple[str, ...]
    required: tuple[str, ...]
    handler: Callable[[Invocation], dict[str, Any]]
    writes: bool = False

    @property
    def provider_name(self) -> str:
        """The name for providers that forbid dots in function names: ``db_query``."""
        return names.provider_name(self.name)


HELD = (
    "A write may come back 'pending_approval': people must approve it first; tell the user "
    "it is waiting (approval_id, expires_at) and don't send it again with a new key."
)

PREVIEW = (
    "Send the same arguments to the write tool afterwards to make the change. "
    "'would_require_approval' says whether it would be held; 'would_be_denied', if present, "
    "the refusal a budget would give it."
)

TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec(
            "db.describe",
            "Describe the models you can use: fields, types, which are masked, filterable or "
            "writable, and the lookups 'where' accepts. Call it first.",
            ("model",),
            (),
            describe,
        ),
        ToolSpec(
            "db.query",
            "List rows of a model that match 'where', with chosen 'fields', 'order_by', "
            "'limit' and 'cursor' (pass next_cursor back for the next page).",
            ("model", "where", "fields", "order_by", "limit", "cursor"),
            ("model",),
            query,
        ),
        ToolSpec(
            "db.get",
            "Fetch one row of a model by its id.",
            ("model", "id", "fields"),
            ("model", "id"),
            get,
        ),
        ToolSpec(
            "db.aggregate",
            "Count, sum, average, min or max over the rows that match 'where', optionally "
            "grouped by fields.",
            ("model", "where", "aggregations", "group_by"),
            ("model", "aggregations"),
            aggregate,
        ),
        ToolSpec(
            "db.create",
            "Create one row from 'data' (writable fields only), saying why in 'reason'. "
            "'dry_run': true previews it; an 'idempotency_key' makes a retry safe. " + HELD,
            ("model", "data", "reason", "idempotency_key", "dry_run"),
            ("model", "data"),
            run_write,
            writes=True,
        ),
        ToolSpec(
            "db.update",
            "Set 'data' (writable fields only) on one row ('id') or on the rows matching a "
            "non-empty 'where', saying why in 'reason'. 'dry_run': true shows every row's "
            "before and after without changing anything. " + HELD,
            ("model", "id", "where", "data", "reason", "idempotency_key", "dry_run"),
            ("model", "data"),
            run_write,
            writes=True,
        ),
        ToolSpec(
            "db.delete",
            "Delete one row ('id') or the rows matching a non-empty 'where' (a soft delete "
            "where the model has one), saying why in 'reason'. 'dry_run': true lists what "
            "would go, cascade included. " + HELD,
            ("model", "id", "where", "reason", "idempotency_key", "dry_run"),
            ("model",),
            run_write,
            writes=True,
        ),
        ToolSpec(
            names.DB_CREATE_DRY_RUN,
            "Preview db.create: the row it would create from 'data', validated, changing "
            "nothing (and whether it would be held for approval). " + PREVIEW,
            ("model", "data", "reason"),
            ("model", "data"),
            run_write,
        ),
        ToolSpec(
            names.DB_UPDATE_DRY_RUN,
            "Preview db.update: every row's before and after for the same arguments, "
            "changing nothing. " + PREVIEW,
            ("model", "id", "where", "data", "reason"),
            ("model", "data"),
            run_write,
        ),
        ToolSpec(
            names.DB_DELETE_DRY_RUN,
            "Preview db.delete: the rows it would delete, cascade included, changing "
            "nothing. " + PREVIEW,
            ("model", "id", "where", "reason"),
            ("model",),
            run_write,
        ),
        ToolSpec(
            "approval.status",
            "Check on a write that came back 'pending_approval': its status (pending, "
            "executed, denied, expired or failed), approvals so far and needed, when it "
            "expires, the deciders' notes, and the executed call's result once it ran. Pass "
            "the approval_id the write returned. If it was denied, the denial's note is the "
            "people's answer: tell the user that note as the reason, and don't send the "
            "write again. Look every minute or so, not every second (looks are rate-limited).",
            ("approval_id",),
            ("approval_id",),
            approval_status,
        ),
    )
}
BY_PROVIDER_NAME = {spec.provider_name: spec for spec in TOOLS.values()}


def domain_spec(tool: DomainTool) -> ToolSpec:
    """The registry's entry for a declared domain tool."""
    fields = input_fields(tool)
    return ToolSpec(
        tool.name,
        tool.description,
        (*fields, *RESERVED_ARGUMENTS),
        tuple(name for name, field in fields.items() if field.required),
        run_domain_tool,
        writes=tool.changes_things,
    )


def all_tools() -> list[ToolSpec]:
    """Every tool: the built-in ones, then the declared domain tools by name."""
    return [*TOOLS.values(), *(domain_spec(REGISTRY[name]) for name in sorted(REGISTRY))]


def find_tool(name: Any) -> ToolSpec:
    """The tool called ``db.query`` or ``db_query`` (or a domain tool, either spelling);
    ``UNKNOWN_TOOL`` otherwise."""
    if isinstance(name, str):
        spec = TOOLS.get(name) or BY_PROVIDER_NAME.get(name)
        if spec is not None:
            return spec
        tool = declared(name) or next(
            (t for t in REGISTRY.values() if t.provider_name == name), None
        )
        if tool is not None:
            return domain_spec(tool)
    # In the spelling clients are offered by default (tool_definitions, MCP): db_query.
    listed = ", ".join(names.provider_name(n) for n in [*TOOLS, *sorted(REGISTRY)])
    raise ToolError(
        codes.UNKNOWN_TOOL,
        f"Unknown tool {name!r}. Tools: {listed} (the dotted names, db.query, work too).",
    )
