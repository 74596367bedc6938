"""Who a held call runs as once approved: its requester's context, under the policy the
requester held (a capability token's narrowing, never more)."""

from __future__ import annotations

from typing import Any

from ormai_django import codes
from ormai_django.context import ToolContext
from ormai_django.errors import PolicyWideningError, ToolDenied
from ormai_django.models import ApprovalRequest
from ormai_django.policy.loading import get_policy
from ormai_django.policy.policy import Policy


def requester_context(approval: ApprovalRequest) -> ToolContext:
    """The requester's ``ToolContext``, exactly as it was when the call was held."""
    saved = dict(approval.context or {})
    saved.pop("grant", None)
    if saved:
        return ToolContext(**saved)
    return ToolContext(
        principal=approval.principal,
        tenant_id=approval.tenant_id or None,
        on_behalf_of=approval.on_behalf_of or None,
        run_id=approval.run_id or None,
    )


def requester_policy(approval: ApprovalRequest, policy: Policy | None) -> Policy:
    """``policy`` (default ``ORMAI["POLICY"]``), narrowed as the requester's grant was;
    ``ToolDenied`` (``TOOL_NOT_ALLOWED``) when the policy no longer grants that much."""
    policy = policy or get_policy()
    grant = (approval.context or {}).get("grant")
    if grant is None:
        return policy
    # The requester held a narrowed policy (a capability token): the call runs under the
    # same narrowing, never under more than the requester was granted.
    try:
        return policy.narrowed(models=grant["models"], tools=grant["tools"])
    except PolicyWideningError as exc:
        raise ToolDenied(
            codes.TOOL_NOT_ALLOWED,
            "The policy no longer grants what the requester's capability token granted "
            f"({exc}); nothing was changed.",
            rule="token",
        ) from None


def call_to_run(approval: ApprovalRequest) -> dict[str, Any]:
    """The call that runs once approved: the edited one, if an approver edited it."""
    return approval.edited_call or approval.call
