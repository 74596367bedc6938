"""``require_preview(over_rows=N)``: a write of many rows runs only once it was previewed.

The preview is looked up in the audit log: a dry run (``dry_run: true``, or the
``db.update_dry_run`` tool) of the same call, by the same principal in the same tenant and
run, within the rule's window. "The same call" is the same write tool, model, id or where
and data; the reason, the idempotency key and ``dry_run`` don't count.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from ormai_django import codes, names
from ormai_django.audit import context_for_ledger, ledger_json
from ormai_django.errors import ToolDenied
from ormai_django.invocation import Invocation
from ormai_django.models import AuditEvent

# Arguments that don't make a call another call.
_NOT_COMPARED = ("reason", "idempotency_key", "dry_run")
# The most recent previews of the run that are compared with the call.
MAX_CANDIDATES = 50


def what_it_does(arguments: Any) -> Any:
    if not isinstance(arguments, dict):
        return None
    return {k: v for k, v in arguments.items() if k not in _NOT_COMPARED}


def check_previewed(inv: Invocation, tool: str, affected: int) -> None:
    """Refuse (``PREVIEW_REQUIRED``) a write of more rows than the policy lets run
    unpreviewed when this run didn't preview the exact call first."""
    policy = inv.policy
    limit = policy.preview_over_rows
    if limit is None or affected <= limit:
        return
    who = context_for_ledger(inv.context)
    preview_tool = names.dry_run_tool(tool)
    previews = AuditEvent.objects.filter(
        outcome=names.DRY_RUN,
        principal=who["principal"],
        tenant_id=who["tenant_id"],
        run_id=who["run_id"],
        tool__in=(tool, preview_tool),
        created_at__gte=timezone.now() - policy.preview_within,
    ).order_by("-created_at")
    wanted = what_it_does(ledger_json(inv.arguments))
    for arguments in previews.values_list("arguments", flat=True)[:MAX_CANDIDATES]:
        if what_it_does(arguments) == wanted:
            return
    how = (
        f"call {preview_tool} with the same arguments"
        if policy.allows_tool(preview_tool)
        else 'send it with "dry_run": true'
    )
    minutes = int(policy.preview_within.total_seconds() // 60)
    raise ToolDenied(
        codes.PREVIEW_REQUIRED,
        f"This {tool} would change {affected} rows, more than the {limit} the policy lets run "
        f"without a preview; nothing was changed. Preview this exact call first ({how}), "
        f"check would_change, then send it again unchanged within {minutes} minutes; or "
        f"narrow the where to at most {limit} rows.",
        rule=f"preview:over_rows={limit}",
        affected_rows=affected,
        over_rows=limit,
    )
