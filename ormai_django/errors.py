"""The one error hierarchy of ormai_django.

Every refusal in the pipeline is an :class:`ToolError` with a stable ``code``;
the runtime alone turns it into an outcome (``error`` or ``denied``). Codes are
public API: add new ones, never rename.
"""

from __future__ import annotations

from typing import Any

# Malformed calls (outcome "error").
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

# Policy refusals (outcome "denied").
FIELD_DENIED = "FIELD_DENIED"
LOOKUP_NOT_ALLOWED = "LOOKUP_NOT_ALLOWED"
RELATION_DENIED = "RELATION_DENIED"
TENANT_REQUIRED = "TENANT_REQUIRED"
WRITE_NOT_ALLOWED = "WRITE_NOT_ALLOWED"
REASON_REQUIRED = "REASON_REQUIRED"
FIELD_NOT_WRITABLE = "FIELD_NOT_WRITABLE"
IDEMPOTENCY_KEY_REQUIRED = "IDEMPOTENCY_KEY_REQUIRED"
RATE_LIMITED = "RATE_LIMITED"
CASCADE_NOT_ALLOWED = "CASCADE_NOT_ALLOWED"
APPROVAL_REQUIRED = "APPROVAL_REQUIRED"  # no longer returned: such writes are held
# A retry of a held call whose request is over (outcome "denied").
APPROVAL_DENIED = "APPROVAL_DENIED"
APPROVAL_EXPIRED = "APPROVAL_EXPIRED"
# An approved where-write that now matches more rows than the people approved.
APPROVED_SCOPE_EXCEEDED = "APPROVED_SCOPE_EXCEEDED"
# A tool the caller's (narrowed) policy doesn't offer, e.g. a write under a read-only token.
TOOL_NOT_ALLOWED = "TOOL_NOT_ALLOWED"

# Capability tokens (ormai_django.tokens): refused credentials.
TOKEN_INVALID = "TOKEN_INVALID"
TOKEN_EXPIRED = "TOKEN_EXPIRED"
TOKEN_WIDENS_POLICY = "TOKEN_WIDENS_POLICY"


class ToolError(Exception):
    """A call that can't run; ``outcome`` says whether the call was malformed or refused."""

    outcome = "error"

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def as_error(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}


class ToolDenied(ToolError):
    """The policy said no: the call was well formed but is not allowed for this context."""

    outcome = "denied"


class PolicyConfigurationError(Exception):
    """A policy that can't be built: unknown or ambiguous models, unknown fields, bad settings.

    ``problems`` lists every problem found, so a system check can report them all at once.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))
