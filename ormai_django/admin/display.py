"""Shared display helpers of the ormai_django admin pages."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from django.contrib import messages
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ormai_django.models import ApprovalRequest

Decide = Callable[[str, Any, str], dict[str, Any]]

MAX_CONSEQUENCE_LINKS = 50


def pretty_json(value: Any) -> str:
    return format_html(
        "<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    )


def cell_text(value: Any) -> str:
    """A preview value as a table cell: text as it is; null, numbers and "" as JSON, so an
    empty string and a null don't look alike."""
    if isinstance(value, str) and value:
        return value
    return json.dumps(value, ensure_ascii=False)


def preview_rows(preview: Any) -> list[dict[str, Any]]:
    """The preview's ``would_change`` as table rows: ``{"id", "fields": [{"name", "before",
    "after", "changed"}]}``, a side missing (a create has no before, a delete no after) as
    None."""
    rows = []
    entries = preview.get("would_change") if isinstance(preview, Mapping) else None
    for entry in entries or []:
        if not isinstance(entry, Mapping):
            continue
        names: dict[str, None] = {}
        for key in entry:
            for suffix in ("_before", "_after"):
                if key.endswith(suffix) and len(key) > len(suffix):
                    names[key[: -len(suffix)]] = None
        fields = []
        for name in names:
            before = entry.get(f"{name}_before", ...)
            after = entry.get(f"{name}_after", ...)
            fields.append(
                {
                    "name": name,
                    "before": None if before is ... else cell_text(before),
                    "after": None if after is ... else cell_text(after),
                    "changed": before != after,
                }
            )
        rows.append({"id": cell_text(entry.get("id")), "fields": fields})
    return rows


def is_overdue(approval: ApprovalRequest, now: Any = None) -> bool:
    """Past its ``expires_at`` (expired, or pending until the expiry task marks it)."""
    if approval.status == ApprovalRequest.Status.EXPIRED:
        return True
    pending = approval.status == ApprovalRequest.Status.PENDING
    return pending and approval.expires_at <= (now or timezone.now())


def decision_message(approval_id: str, outcome: Mapping[str, Any]) -> tuple[int, str]:
    """What the admin tells the user after ``approve()`` / ``deny()`` returned."""
    status = outcome["status"]
    if status == ApprovalRequest.Status.DENIED:
        return messages.SUCCESS, str(_("Denied %(id)s; the held call will not run.")) % {
            "id": approval_id
        }
    if status == ApprovalRequest.Status.PENDING:
        given, needed = outcome["approvals"], outcome["approvers_required"]
        text = _(
            "Approved %(id)s: %(given)d / %(needed)d approvals; it runs when %(more)d more approve."
        )
        return messages.SUCCESS, str(text) % {
            "id": approval_id,
            "given": given,
            "needed": needed,
            "more": needed - given,
        }
    result = outcome.get("result") or {}
    if status == ApprovalRequest.Status.EXECUTED:
        text = _("Approved %(id)s: the call ran and changed %(rows)s row(s) (audit %(audit)s).")
        return messages.SUCCESS, str(text) % {
            "id": approval_id,
            "rows": result.get("affected_rows"),
            "audit": result.get("audit_id"),
        }
    error = result.get("error") or {}
    text = _("Approved %(id)s, but the call failed when it ran: %(code)s: %(message)s")
    return messages.ERROR, str(text) % {
        "id": approval_id,
        "code": error.get("code", ""),
        "message": error.get("message", ""),
    }


class ReadOnlyAdminMixin:
    """Nobody adds, edits or deletes these rows through the admin: the ledger is
    append-only, and a held call changes only through approve() / deny()."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
