"""The tools an agent can call: names, arguments, handlers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ormai_django import errors
from ormai_django.errors import ToolError
from ormai_django.tools import reads
from ormai_django.tools.invocation import Invocation
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
        return self.name.replace(".", "_")


HELD = (
    "A write may come back 'pending_approval': people must approve it first; tell the user "
    "it is waiting (approval_id, expires_at) and don't send it again with a new key."
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
            reads.describe,
        ),
        ToolSpec(
            "db.query",
            "List rows of a model that match 'where', with chosen 'fields', 'order_by', "
            "'limit' and 'cursor' (pass next_cursor back for the next page).",
            ("model", "where", "fields", "order_by", "limit", "cursor"),
            ("model",),
            reads.query,
        ),
        ToolSpec(
            "db.get",
            "Fetch one row of a model by its id.",
            ("model", "id", "fields"),
            ("model", "id"),
            reads.get,
        ),
        ToolSpec(
            "db.aggregate",
            "Count, sum, average, min or max over the rows that match 'where', optionally "
            "grouped by fields.",
            ("model", "where", "aggregations", "group_by"),
            ("model", "aggregations"),
            reads.aggregate,
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
    )
}


def find_tool(name: Any) -> ToolSpec:
    """The tool called ``db.query`` or ``db_query``; ``UNKNOWN_TOOL`` otherwise."""
    if isinstance(name, str):
        spec = TOOLS.get(name) or TOOLS.get(name.replace("_", ".", 1))
        if spec is not None:
            return spec
    raise ToolError(
        errors.UNKNOWN_TOOL,
        f"Unknown tool {name!r}. Tools: {', '.join(TOOLS)} (or with '_' for '.').",
    )
