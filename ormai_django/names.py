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

READ_TOOLS = (DB_DESCRIBE, DB_QUERY, DB_GET, DB_AGGREGATE)
WRITE_TOOLS = (DB_CREATE, DB_UPDATE, DB_DELETE)
DB_TOOLS = (*READ_TOOLS, *WRITE_TOOLS)
BUILTIN_TOOLS = (*DB_TOOLS, APPROVAL_STATUS)

# What the ledger names the steps that are not tool calls.
ROLLBACK = "rollback"
APPROVAL_APPROVE = "approval.approve"
APPROVAL_DENY = "approval.deny"
APPROVAL_EXPIRE = "approval.expire"
APPROVAL_REMIND = "approval.remind"
APPROVAL_ESCALATE = "approval.escalate"

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
