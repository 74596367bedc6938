"""Template tags of the ormai_django admin pages."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from ormai_django.models import ApprovalRequest

register = template.Library()


@register.simple_tag(takes_context=True)
def pending_approvals(context: dict[str, Any]) -> int | None:
    """How many held calls wait for a decision (pending, not expired); None for a user who
    may not see the queue. The admin index shows it above the app list."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not (
        user.has_perm("ormai_django.view_approvalrequest")
        or user.has_perm("ormai_django.approve_approvalrequest")
    ):
        return None
    return ApprovalRequest.objects.filter(
        status=ApprovalRequest.Status.PENDING, expires_at__gt=timezone.now()
    ).count()


@register.simple_tag(takes_context=True)
def may_view_audit(context: dict[str, Any]) -> bool:
    """Whether the logged-in user may see the audit log (and so its dashboard)."""
    user = getattr(context.get("request"), "user", None)
    return bool(user is not None and user.has_perm("ormai_django.view_auditevent"))
