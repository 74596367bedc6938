"""A write call's arguments, checked against the policy before any SQL touches data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ormai_django import codes, names
from ormai_django.errors import ToolDenied, ToolError
from ormai_django.invocation import Invocation
from ormai_django.orm.values import check_string, has_visible_text, invalid
from ormai_django.policy.model_policy import ModelPolicy

MAX_REASON = 2000
MAX_KEY = 200


@dataclass(frozen=True)
class WriteRequest:
    tool: str
    mp: ModelPolicy
    data: dict[str, Any]
    pk: Any
    where: dict[str, Any] | None
    reason: str
    idempotency_key: str | None
    dry_run: bool

    @property
    def by_id(self) -> bool:
        return self.where is None


def dry_run_argument(args: dict[str, Any]) -> bool:
    """``dry_run``: true or false (null or absent: false)."""
    dry_run = args.get("dry_run", False)
    if dry_run is None:
        return False
    if not isinstance(dry_run, bool):
        raise invalid("'dry_run' must be true or false")
    return dry_run


def reason_argument(args: dict[str, Any], *, required: bool, needed: str, rule: str) -> str:
    """``reason``, stripped; ``REASON_REQUIRED`` (with the message ``needed`` and the
    ``rule`` that asks for it) when it is required and missing or shows nothing (only
    blank, invisible or filler characters)."""
    reason = args.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise ToolDenied(
            codes.REASON_REQUIRED, "'reason' must be a sentence saying why.", rule=rule
        )
    reason = (reason or "").strip()
    if required and not has_visible_text(reason):
        raise ToolDenied(codes.REASON_REQUIRED, needed, rule=rule)
    if len(reason) > MAX_REASON:
        raise invalid(f"'reason' is limited to {MAX_REASON} characters")
    check_string(reason, "'reason'")
    return reason


def idempotency_key_argument(
    args: dict[str, Any], *, required: bool, needed: str, rule: str
) -> str | None:
    """``idempotency_key``, checked; ``IDEMPOTENCY_KEY_REQUIRED`` (with the message
    ``needed`` and the ``rule`` that asks for it) when it is required and missing."""
    key = args.get("idempotency_key")
    if key is not None:
        if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY:
            raise invalid(f"'idempotency_key' must be a non-empty string of at most {MAX_KEY}")
        check_string(key, "'idempotency_key'")
        return key
    if required:
        raise ToolDenied(codes.IDEMPOTENCY_KEY_REQUIRED, needed, rule=rule)
    return None


def parse_write(inv: Invocation) -> WriteRequest:
    """The checked request; raises the refusal an agent can act on. A preview tool
    (``db.update_dry_run``) is its write tool's call with ``dry_run`` true."""
    args = inv.arguments
    tool = names.previewed_tool(inv.tool) or inv.tool
    mp = inv.resolve_model(args.get("model"))
    rules = mp.writes
    if not rules.enabled:
        raise ToolDenied(
            codes.WRITE_NOT_ALLOWED,
            f"{mp.name} is read-only for agents; db.describe shows which models accept writes.",
            rule=f"writes:{mp.label}",
        )
    dry_run = True if tool != inv.tool else dry_run_argument(args)
    reason = reason_argument(
        args,
        required=rules.require_reason,
        needed=f"Writes to {mp.name} need a 'reason': one sentence saying why, in the user's "
        "terms (it is recorded in the audit log and the row's history).",
        rule=f"reason:{mp.label}",
    )
    inv.reason = reason
    key = idempotency_key_argument(
        args,
        required=rules.require_idempotency_key and (inv.deciding or not dry_run),
        needed=f"Writes to {mp.name} need an 'idempotency_key': a unique string per intended "
        "change, sent again unchanged when you retry it.",
        rule=f"idempotency_key:{mp.label}",
    )
    inv.idempotency_key = key or ""
    data = args.get("data")
    if tool in (names.DB_CREATE, names.DB_UPDATE) and (not isinstance(data, dict) or not data):
        raise invalid("'data' must be a non-empty object of field values to write")
    pk, where = args.get("id"), args.get("where")
    if tool in (names.DB_UPDATE, names.DB_DELETE):
        if (pk is None) == (where is None):
            raise invalid(
                f"{inv.tool} needs exactly one of 'id' (one row) or 'where' (a non-empty "
                "filter); it never touches a whole table."
            )
        if where is not None and (not isinstance(where, dict) or not where):
            raise ToolError(
                codes.INVALID_ARGUMENTS,
                f"{inv.tool} with 'where' needs a non-empty filter; it never touches a whole "
                "table. Use 'id' for one row.",
            )
    return WriteRequest(
        tool=tool,
        mp=mp,
        data=dict(data or {}),
        pk=pk,
        where=where,
        reason=reason,
        idempotency_key=key,
        dry_run=dry_run,
    )
