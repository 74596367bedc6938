"""Which writes need a human: the approval rules, the write class, the blast radius."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ormai_django.context import ToolContext
from ormai_django.policy.policy import ModelPolicy, Policy

logger = logging.getLogger("ormai_django")


@dataclass(frozen=True)
class WriteCall:
    """What an approval rule's ``when`` sees: the call, measured before the decision."""

    tool: str
    model: str
    data: dict[str, Any]
    where: dict[str, Any] | None
    affected_rows: int
    reason: str
    context: ToolContext


@dataclass(frozen=True)
class ApprovalNeed:
    approvers: int
    expires_in: timedelta
    reasons: tuple[str, ...]


def approval_needed(policy: Policy, mp: ModelPolicy, call: WriteCall) -> ApprovalNeed | None:
    """The approval a write needs (the most approvers any matching rule asks), or None."""
    found: list[tuple[int, timedelta | None, str]] = []
    if mp.writes.write_class == "approval":
        found.append((1, None, f"every write to {mp.name} waits for a human"))
    limit = mp.writes.max_affected_rows
    if call.tool != "db.create" and call.affected_rows > limit:
        found.append(
            (1, None, f"it touches {call.affected_rows} rows, more than the {limit} allowed")
        )
    for rule in policy.approval_rules:
        if rule.tool not in (None, call.tool) or rule.model not in (None, mp.model):
            continue
        if rule.when is not None:
            try:
                matched = bool(rule.when(call))
            except Exception:
                # A rule that can't decide holds the write: fail closed.
                logger.exception("ormai_django: an approval rule's when() raised; holding")
                matched = True
            if not matched:
                continue
        found.append((rule.approvers, rule.expires_in, f"a {rule.tool or 'write'} rule"))
    if not found:
        return None
    expiries = [e for _, e, _ in found if e is not None]
    return ApprovalNeed(
        approvers=max(n for n, _, _ in found),
        expires_in=min(expiries) if expiries else policy.profile.approval_expiry,
        reasons=tuple(why for _, _, why in found),
    )
