"""The events a webhook receives, as JSON: one envelope, a ``data`` object per type.

``approval.*`` events carry the request as ``approval.status`` shows it to the agent, and
more: who asked (principal, on_behalf_of, tenant, run), why (reason, why_held, rule_ids),
how many rows, the preview's first rows and the admin link. ``approval.decided`` adds the
decision (verdict, approver, note); ``approval.escalated`` the people told. Values the
policy masks are masked in the preview, as everywhere.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from ormai_django.ids import new_id
from ormai_django.models import ApprovalDecision, ApprovalRequest
from ormai_django.orm.rows import utc_iso
from ormai_django.reads.approval_status import status_of

APPROVAL_REQUESTED = "approval.requested"
APPROVAL_DECIDED = "approval.decided"
APPROVAL_EXPIRED = "approval.expired"
APPROVAL_REMINDED = "approval.reminded"
APPROVAL_ESCALATED = "approval.escalated"
BUDGET_EXCEEDED = "budget.exceeded"
EVENT_TYPES = (
    APPROVAL_REQUESTED,
    APPROVAL_DECIDED,
    APPROVAL_EXPIRED,
    APPROVAL_REMINDED,
    APPROVAL_ESCALATED,
    BUDGET_EXCEEDED,
)
PREVIEW_ROWS = 20


def envelope(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """``{"id": "evt_...", "type", "created_at", "data"}``."""
    return {
        "id": new_id("evt"),
        "type": event_type,
        "created_at": utc_iso(timezone.now()),
        "data": data,
    }


def approval_data(approval: ApprovalRequest, admin_url: str = "") -> dict[str, Any]:
    """What every ``approval.*`` event says about the request."""
    status = status_of(approval)
    status.pop("outcome", None)
    preview = approval.preview or {}
    rows = preview.get("would_change") or []
    return {
        **status,
        "principal": approval.principal,
        "on_behalf_of": approval.on_behalf_of,
        "tenant_id": approval.tenant_id,
        "run_id": approval.run_id,
        "reason": approval.reason,
        "why_held": approval.why_held,
        "rule_ids": approval.rule_ids or [],
        "affected_rows": approval.affected_rows,
        "preview": {
            "would_change": rows[:PREVIEW_ROWS],
            "truncated": bool(preview.get("truncated")) or len(rows) > PREVIEW_ROWS,
            **({"cascade": preview["cascade"]} if preview.get("cascade") else {}),
        },
        "created_at": utc_iso(approval.created_at),
        "admin_url": admin_url,
    }


def decision_data(decision: ApprovalDecision | None) -> dict[str, Any] | None:
    if decision is None:
        return None
    return {
        "verdict": decision.verdict,
        "approver": decision.approver,
        "note": decision.note,
        "edits": decision.edits,
        "at": utc_iso(decision.created_at),
    }


def people_data(users: list[Any]) -> list[dict[str, str]]:
    return [
        {"username": user.get_username(), "email": getattr(user, "email", "") or ""}
        for user in users
    ]


def budget_data(
    budget: dict[str, Any], scope_key: str, used: dict[str, Any], context: Any, tool: str
) -> dict[str, Any]:
    """``budget.exceeded``: the budget, the scope it counts, what was used, who and what."""
    return {
        "budget": budget,
        "scope_key": scope_key,
        "used": used,
        "tool": tool,
        "context": {
            key: getattr(context, key, None)
            for key in ("principal", "tenant_id", "on_behalf_of", "run_id")
        },
    }
