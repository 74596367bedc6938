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
from ormai_django.policy.policy import ApprovalRule, Policy

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
    """What a held call needs: the most approvers, the shortest expiry, every reason; the
    ids of the approval rules that matched, the earliest reminder and escalation they ask
    for, and everyone any of them escalates to."""

    approvers: int
    expires_in: timedelta
    reasons: tuple[str, ...]
    rule_ids: tuple[str, ...] = ()
    remind_after: timedelta | None = None
    escalate_after: timedelta | None = None
    escalate_to: tuple[str, ...] = ()


def approval_needed(
    policy: Policy,
    mp: ModelPolicy | None,
    call: WriteCall,
    escalations: Iterable[str] = (),
    *,
    irreversible: bool = False,
) -> ApprovalNeed | None:
    """The approval a write needs (the most approvers any matching rule asks), or None.

    ``mp`` is None for a domain tool: only the rules that name the tool apply, and an
    ``irreversible`` one waits for one approver unless such a rule says otherwise.
    ``escalations``: why budgets past their bound send the call to a human (one approver).
    """
    found: list[tuple[int, timedelta | None, str]] = []
    matched_rules: list[ApprovalRule] = []
    if policy.proposes(mp, call.tool):
        subject = mp.name if mp is not None else call.tool
        found.append((1, None, f"propose mode: every write to {subject} waits for a human"))
    if mp is not None and mp.writes.write_class == "approval":
        found.append((1, None, f"every write to {mp.name} waits for a human"))
    limit = mp.writes.max_affected_rows if mp is not None else None
    if limit is not None and call.tool != "db.create" and call.affected_rows > limit:
        found.append(
            (1, None, f"it touches {call.affected_rows} rows, more than the {limit} allowed")
        )
    named = [rule for rule in policy.approval_rules if rule.tool == call.tool]
    if mp is None and irreversible and not named:
        found.append(
            (
                1,
                None,
                f"{call.tool} can't be undone, so a human decides [rule irreversible:{call.tool}]",
            )
        )
    for rule in policy.approval_rules:
        if mp is None:
            if rule.tool != call.tool:
                continue
        elif rule.tool not in (None, call.tool) or rule.model not in (None, mp.model):
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
                f"model={mp.name}" if rule.model and mp is not None else "",
                "when=..." if rule.when else "",
            )
            if part
        )
        found.append(
            (rule.approvers, rule.expires_in, f"require_approval({scope}) [rule {rule.id}]")
        )
        matched_rules.append(rule)
    found += [(1, None, reason) for reason in escalations]
    if not found:
        return None
    expiries = [e for _, e, _ in found if e is not None]
    reminders = [r.remind_after for r in matched_rules if r.remind_after is not None]
    escalations = [r.escalate_after for r in matched_rules if r.escalate_after is not None]
    return ApprovalNeed(
        approvers=max(n for n, _, _ in found),
        expires_in=min(expiries) if expiries else policy.profile.approval_expiry,
        reasons=tuple(why for _, _, why in found),
        rule_ids=tuple(dict.fromkeys(r.id for r in matched_rules)),
        remind_after=min(reminders, default=None),
        escalate_after=min(escalations, default=None),
        escalate_to=tuple(dict.fromkeys(t for r in matched_rules for t in r.escalate_to)),
    )
