"""Which writes need a human: propose mode, the approval rules, the write class, the blast
radius, and the budgets that escalate (``on_exceed="approve"``, ``bounded_burst``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ormai_django.context import ToolContext
from ormai_django.policy.model_policy import ModelPolicy
from ormai_django.policy.policy import Policy

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


def approval_needed(
    policy: Policy, mp: ModelPolicy, call: WriteCall, escalations: Iterable[str] = ()
) -> ApprovalNeed | None:
    """The approval a write needs (the most approvers any matching rule asks), or None.

    ``escalations``: why budgets past their bound send the call to a human (one approver).
    """
    found: list[tuple[int, timedelta | None, str]] = []
    if policy.proposes(mp):
        found.append((1, None, f"propose mode: every write to {mp.name} waits for a human"))
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
        scope = ", ".join(
            part
            for part in (
                f"tool={rule.tool}" if rule.tool else "",
                f"model={mp.name}" if rule.model else "",
                "when=..." if rule.when else "",
            )
            if part
        )
        found.append((rule.approvers, rule.expires_in, f"require_approval({scope})"))
    found += [(1, None, reason) for reason in escalations]
    if not found:
        return None
    expiries = [e for _, e, _ in found if e is not None]
    return ApprovalNeed(
        approvers=max(n for n, _, _ in found),
        expires_in=min(expiries) if expiries else policy.profile.approval_expiry,
        reasons=tuple(why for _, _, why in found),
    )
