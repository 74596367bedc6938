"""The queue's filters: "waiting for me" (what the logged-in approver could decide now)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ormai_django.models import ApprovalDecision, ApprovalRequest


def waiting_for(queryset: QuerySet[ApprovalRequest], username: str) -> QuerySet[ApprovalRequest]:
    """The requests ``username`` could decide now: pending, not expired, not asked for by
    them, not decided by them (in the call's current revision)."""
    decided = ApprovalDecision.objects.filter(
        approval=OuterRef("pk"), approver=username, revision=OuterRef("revision")
    )
    return (
        queryset.filter(status=ApprovalRequest.Status.PENDING, expires_at__gt=timezone.now())
        .exclude(Q(principal=username) | Q(on_behalf_of=username))
        .exclude(Exists(decided))
    )


class WaitingForMeFilter(admin.SimpleListFilter):
    title = _("waiting for")
    parameter_name = "waiting"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("me", _("me"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet | None:
        if self.value() == "me":
            return waiting_for(queryset, request.user.get_username())
        return None
