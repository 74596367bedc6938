"""``ToolContext``: who is calling, for whom, in which tenant and agent run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ormai_django import codes
from ormai_django.errors import ToolError

MAX_IDENTITY_LENGTH = 200


@dataclass(frozen=True)
class ToolContext:
    """The caller of a tool, passed by the host with every call.

        ToolContext(principal="agent:support-bot", tenant_id=7,
                    on_behalf_of="user:42", run_id="run-7c2d")

    ``principal`` is the agent; ``on_behalf_of`` the end user, if any; ``run_id``
    groups the calls of one agent run; ``tenant_id`` scopes tenant-scoped models
    (a context without one is denied on them). Audit rows carry all four.
    """

    principal: str
    tenant_id: Any = None
    on_behalf_of: str | None = None
    run_id: str | None = None


def check_context(context: Any) -> ToolContext:
    """The context as a ``ToolContext`` (a mapping of its fields is accepted too)."""
    if isinstance(context, Mapping):
        unknown = set(context) - {"principal", "tenant_id", "on_behalf_of", "run_id"}
        if unknown:
            raise ToolError(codes.INVALID_CONTEXT, f"Unknown context keys: {sorted(unknown)}")
        if "principal" not in context:
            raise ToolError(codes.INVALID_CONTEXT, "The context needs a 'principal'.")
        context = ToolContext(**context)
    if not isinstance(context, ToolContext):
        raise ToolError(codes.INVALID_CONTEXT, "The host must pass a ToolContext with the call.")
    if not isinstance(context.principal, str) or not context.principal.strip():
        raise ToolError(codes.INVALID_CONTEXT, "ToolContext.principal must be a non-empty string.")
    for name in ("principal", "on_behalf_of", "run_id"):
        value = getattr(context, name)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_IDENTITY_LENGTH):
            raise ToolError(
                codes.INVALID_CONTEXT,
                f"ToolContext.{name} must be a string of at most {MAX_IDENTITY_LENGTH} characters.",
            )
    tenant = context.tenant_id
    if tenant is not None and (isinstance(tenant, bool) or not isinstance(tenant, int | str)):
        raise ToolError(codes.INVALID_CONTEXT, "ToolContext.tenant_id must be an int or a string.")
    return context
