"""Every error code of ormai_django, in one place.

Codes are public API: stable UPPER_SNAKE_CASE strings in every refusal's ``error.code``
and every exception's ``code`` (``ormai_django.errors``). Add new ones, never rename.
"""

# --- Tool calls, outcome "error": the call itself is malformed or failed -------------------
INVALID_JSON = "INVALID_JSON"
INVALID_CALL = "INVALID_CALL"
INVALID_CONTEXT = "INVALID_CONTEXT"
UNKNOWN_TOOL = "UNKNOWN_TOOL"
INVALID_ARGUMENTS = "INVALID_ARGUMENTS"
UNKNOWN_MODEL = "UNKNOWN_MODEL"
UNKNOWN_FIELD = "UNKNOWN_FIELD"
INVALID_CURSOR = "INVALID_CURSOR"
NOT_FOUND = "NOT_FOUND"
POLICY_NOT_CONFIGURED = "POLICY_NOT_CONFIGURED"
INTERNAL_ERROR = "INTERNAL_ERROR"
VALIDATION_FAILED = "VALIDATION_FAILED"
IDEMPOTENCY_KEY_CONFLICT = "IDEMPOTENCY_KEY_CONFLICT"
WRITE_CONFLICT = "WRITE_CONFLICT"

# --- Tool calls, outcome "denied": the policy said no -------------------------------------
FIELD_DENIED = "FIELD_DENIED"
LOOKUP_NOT_ALLOWED = "LOOKUP_NOT_ALLOWED"
RELATION_DENIED = "RELATION_DENIED"
TENANT_REQUIRED = "TENANT_REQUIRED"
WRITE_NOT_ALLOWED = "WRITE_NOT_ALLOWED"
REASON_REQUIRED = "REASON_REQUIRED"
FIELD_NOT_WRITABLE = "FIELD_NOT_WRITABLE"
IDEMPOTENCY_KEY_REQUIRED = "IDEMPOTENCY_KEY_REQUIRED"
RATE_LIMITED = "RATE_LIMITED"
# A write budget (write_budget) would go past its bound, or the call's run was stopped by one.
BUDGET_EXCEEDED = "BUDGET_EXCEEDED"
# A write over require_preview(over_rows=N) rows whose exact call wasn't previewed first.
PREVIEW_REQUIRED = "PREVIEW_REQUIRED"
CASCADE_NOT_ALLOWED = "CASCADE_NOT_ALLOWED"
APPROVAL_REQUIRED = "APPROVAL_REQUIRED"  # no longer returned: such writes are held
# A retry of a held call whose request is over.
APPROVAL_DENIED = "APPROVAL_DENIED"
APPROVAL_EXPIRED = "APPROVAL_EXPIRED"
# An approved where-write that now matches more rows than the people approved.
APPROVED_SCOPE_EXCEEDED = "APPROVED_SCOPE_EXCEEDED"
# A tool the caller's (narrowed) policy doesn't offer, e.g. a write under a read-only token.
TOOL_NOT_ALLOWED = "TOOL_NOT_ALLOWED"
# A soft-launched write or domain tool (enable_writes(..., tenants=[...])) whose launch group
# doesn't include this caller yet.
NOT_LAUNCHED = "NOT_LAUNCHED"
# A domain tool that changed a row of another tenant (rolled back).
CROSS_TENANT_WRITE = "CROSS_TENANT_WRITE"

# --- Domain tools, outcome "error": the tool's own code did what it must not --------------
# A change to a model the tool doesn't declare in writes=[...] (rolled back).
UNDECLARED_WRITE = "UNDECLARED_WRITE"
# A write the pipeline can't record row by row: raw SQL, update() on another manager (rolled back).
UNCAPTURED_WRITE = "UNCAPTURED_WRITE"

# --- Capability tokens (ormai_django.tokens): refused credentials ------------------------
TOKEN_INVALID = "TOKEN_INVALID"
TOKEN_EXPIRED = "TOKEN_EXPIRED"
TOKEN_WIDENS_POLICY = "TOKEN_WIDENS_POLICY"

# --- Decisions on held calls (ormai_django.approvals.ApprovalError) ------------------------
UNKNOWN_APPROVAL = "UNKNOWN_APPROVAL"
APPROVAL_NOT_PENDING = "APPROVAL_NOT_PENDING"
APPROVER_IS_REQUESTER = "APPROVER_IS_REQUESTER"
DUPLICATE_APPROVER = "DUPLICATE_APPROVER"
INVALID_APPROVER = "INVALID_APPROVER"
# Edits an approver made that the held call can't take (a field the agent may not write, a
# value its validation refuses, a call with no data to edit).
INVALID_EDITS = "INVALID_EDITS"
# APPROVAL_EXPIRED (above) too: an approval past its expires_at.

# --- Rollback (ormai_django.rollback.RollbackError) --------------------------------------
ALREADY_ROLLED_BACK = "ALREADY_ROLLED_BACK"
ROLLBACK_CONFLICT = "ROLLBACK_CONFLICT"
NOT_A_WRITE = "NOT_A_WRITE"
UNKNOWN_AUDIT_EVENT = "UNKNOWN_AUDIT_EVENT"
UNKNOWN_RUN = "UNKNOWN_RUN"
# A run id that several tenants share, named without its tenant (a budget reset).
AMBIGUOUS_RUN = "AMBIGUOUS_RUN"
# The ledger names a model, field or value the project no longer has, or the write can't be
# undone at all (an irreversible domain tool's).
NOT_REVERSIBLE = "NOT_REVERSIBLE"
# A domain tool's own inverse (compensate=) refused to run.
COMPENSATION_FAILED = "COMPENSATION_FAILED"
# INVALID_ARGUMENTS (above) too: a bad actor, reason or run id.

# --- Who a surface acts as (the MCP server's options) ------------------------------------
CONTEXT_REQUIRED = "CONTEXT_REQUIRED"
CONTEXT_CONFLICT = "CONTEXT_CONFLICT"

# --- Policies -----------------------------------------------------------------------------
# A policy that can't be built (PolicyConfigurationError).
POLICY_INVALID = "POLICY_INVALID"
# A narrowing that would grant more than the policy does (PolicyWideningError).
POLICY_WIDENING = "POLICY_WIDENING"
