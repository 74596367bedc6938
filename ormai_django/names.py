"""Names every layer shares: the built-in tools, the outcomes, the audit's own tool names.

A leaf module: it imports nothing, so the policy, the handlers, the registry and the
surfaces can all name a tool without importing the one that defines it.
"""

from __future__ import annotations

import re

# The built-in tools, by their canonical (dotted) names.
DB_DESCRIBE = "db.describe"
DB_QUERY = "db.query"
DB_GET = "db.get"
DB_AGGREGATE = "db.aggregate"
DB_CREATE = "db.create"
DB_UPDATE = "db.update"
DB_DELETE = "db.delete"
APPROVAL_STATUS = "approval.status"
# The previews of the write tools as tools of their own (PolicyBuilder.expose_dry_run_tools()).
DRY_RUN_SUFFIX = "_dry_run"
DB_CREATE_DRY_RUN = DB_CREATE + DRY_RUN_SUFFIX
DB_UPDATE_DRY_RUN = DB_UPDATE + DRY_RUN_SUFFIX
DB_DELETE_DRY_RUN = DB_DELETE + DRY_RUN_SUFFIX

READ_TOOLS = (DB_DESCRIBE, DB_QUERY, DB_GET, DB_AGGREGATE)
WRITE_TOOLS = (DB_CREATE, DB_UPDATE, DB_DELETE)
DRY_RUN_TOOLS = (DB_CREATE_DRY_RUN, DB_UPDATE_DRY_RUN, DB_DELETE_DRY_RUN)
DB_TOOLS = (*READ_TOOLS, *WRITE_TOOLS, *DRY_RUN_TOOLS)
BUILTIN_TOOLS = (*DB_TOOLS, APPROVAL_STATUS)

# What the ledger names the steps that are not tool calls.
ROLLBACK = "rollback"
APPROVAL_APPROVE = "approval.approve"
APPROVAL_DENY = "approval.deny"
APPROVAL_EXPIRE = "approval.expire"
APPROVAL_REMIND = "approval.remind"
APPROVAL_ESCALATE = "approval.escalate"
BUDGET_RESET = "budget.reset"

# Outcomes (DESIGN section 6).
OK = "ok"
DRY_RUN = "dry_run"
PENDING_APPROVAL = "pending_approval"
DENIED = "denied"
ERROR = "error"
OUTCOMES = (OK, DRY_RUN, PENDING_APPROVAL, DENIED, ERROR)

# What OpenAI, Anthropic and most MCP clients accept as a function name.
PROVIDER_SAFE_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
# A canonical tool name: dotted words, e.g. "db.query", "billing.refund_invoice".
TOOL_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


def provider_name(name: str) -> str:
    """The spelling for providers that forbid dots: ``db.query`` -> ``db_query``."""
    return name.replace(".", "_")


def dry_run_tool(name: str) -> str:
    """The preview tool of a write tool: ``db.update`` -> ``db.update_dry_run``."""
    return name + DRY_RUN_SUFFIX


def previewed_tool(name: str) -> str | None:
    """The write tool a preview tool previews (``db.update_dry_run`` -> ``db.update``), or
    None when ``name`` is not a preview tool."""
    return name.removesuffix(DRY_RUN_SUFFIX) if name.endswith(DRY_RUN_SUFFIX) else None
