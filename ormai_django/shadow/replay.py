"""Replaying the audit log against a candidate policy, and reading back recorded shadow
verdicts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from ormai_django.context import ToolContext
from ormai_django.errors import ToolError
from ormai_django.models import AuditEvent
from ormai_django.policy.policy import Policy
from ormai_django.runtime import decide_call
from ormai_django.shadow.report import ShadowReport
from ormai_django.tools.registry import find_tool
from ormai_django.verdicts import verdict_of

# Rows read from the audit log at a time.
CHUNK = 500


def live_verdict(event: AuditEvent) -> dict[str, Any]:
    """What the live policy answered, as the audit row recorded it."""
    verdict = verdict_of({"outcome": event.outcome})
    if event.error_code:
        verdict["code"] = event.error_code
    return verdict


def why_skipped(event: AuditEvent) -> str | None:
    """Why a row is no call to decide again (None: it is one)."""
    try:
        spec = find_tool(event.tool)
    except ToolError:
        return "not a tool call"  # rollbacks, approval decisions, expiries
    if event.outcome == AuditEvent.Outcome.DRY_RUN:
        return "dry runs"
    if not isinstance(event.arguments, dict):
        return "unparsed calls"
    if event.approval_id and event.outcome != AuditEvent.Outcome.PENDING_APPROVAL:
        return "approved calls (their request is compared)"
    if spec.writes and event.caused_by_id:
        return "idempotent replays"
    return None


def context_of(event: AuditEvent) -> ToolContext:
    return ToolContext(
        principal=event.principal,
        tenant_id=event.tenant_id or None,
        on_behalf_of=event.on_behalf_of or None,
        run_id=event.run_id or None,
    )


def events_since(since: timedelta | None) -> Any:
    events = AuditEvent.objects.order_by("created_at", "id")
    if since is not None:
        events = events.filter(created_at__gte=timezone.now() - since)
    return events


def replay(
    policy: Policy, *, since: timedelta | None = timedelta(days=7), source: str = ""
) -> ShadowReport:
    """Decide every call of the audit log since ``since`` again under ``policy``, deciding
    only, and report what would change. Calls are decided against the rows as they are
    now (a row deleted since is ``undecided``), and without the budgets (their windows are
    about now, not then)."""
    report = ShadowReport(source or "candidate", _since_text(since), "replay")
    for event in events_since(since).iterator(chunk_size=CHUNK):
        skipped = why_skipped(event)
        if skipped:
            report.skipped[skipped] += 1
            continue
        call = {"name": event.tool, "arguments": event.arguments}
        result = decide_call(call, context_of(event), policy, check_budgets=False)
        report.add(event, live_verdict(event), verdict_of(result))
    return report


def recorded(*, since: timedelta | None = timedelta(days=7)) -> ShadowReport:
    """The verdicts ``ORMAI["SHADOW_POLICY"]`` recorded beside the live calls since
    ``since``, compared with what the live policy answered."""
    events = events_since(since).exclude(shadow_verdict=None)
    report = ShadowReport("recorded shadow verdicts", _since_text(since), "recorded")
    sources = set()
    for event in events.iterator(chunk_size=CHUNK):
        shadow = event.shadow_verdict
        if not isinstance(shadow, dict) or shadow.get("verdict") == "unavailable":
            report.skipped["shadow policy unavailable"] += 1
            continue
        sources.add(str(shadow.get("policy", "")))
        report.add(event, live_verdict(event), shadow)
    if sources:
        report.source = ", ".join(sorted(sources))
    return report


def _since_text(since: timedelta | None) -> str:
    if since is None:
        return "the beginning"
    return (timezone.now() - since).isoformat(timespec="seconds")
