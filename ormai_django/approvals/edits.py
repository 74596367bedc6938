"""Approve with changes: an approver corrects the held call's data before it runs.

Only what the agent itself could set may change: for ``db.create`` and ``db.update``, the
model's writable fields (under the requester's policy); for a domain tool, its input
fields. The edited call is validated and previewed again through the pipeline (a dry run,
audited and linked to the approval), so a correction the model's validation (or the tool's
rules) refuses is refused here, before any approval counts.
"""

from __future__ import annotations

from typing import Any

from ormai_django import codes, names
from ormai_django.approvals.requester import call_to_run, requester_context
from ormai_django.domain.declarations import declared
from ormai_django.domain.operation import editable_fields
from ormai_django.errors import ApprovalError, ToolError
from ormai_django.models import ApprovalRequest, AuditEvent
from ormai_django.policy.policy import Policy
from ormai_django.runtime import run_call

# The tools whose held call carries data an approver may correct.
EDITABLE_TOOLS = (names.DB_CREATE, names.DB_UPDATE)


def edited_call(
    approval: ApprovalRequest, edits: Any, policy: Policy, held: AuditEvent | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The call to run with ``edits`` applied to its ``data``, and its new preview (a dry
    run's outcome). Raises ``ApprovalError`` (``INVALID_EDITS``) when the edit can't be
    taken; nothing is recorded then."""
    if not isinstance(edits, dict) or not edits:
        raise ApprovalError(
            codes.INVALID_EDITS,
            'edits must be a non-empty object of field values, e.g. {"plan": "pro"}.',
        )
    call = call_to_run(approval)
    tool = call.get("name")
    domain_tool = declared(tool) if isinstance(tool, str) else None
    if tool not in EDITABLE_TOOLS and domain_tool is None:
        raise ApprovalError(
            codes.INVALID_EDITS,
            f"A held {tool} call has no data to edit; approve it or deny it as it is.",
        )
    arguments = dict(call.get("arguments") or {})
    if domain_tool is not None:
        # A domain tool's input fields (not reason, key or dry_run) are what may change.
        writable = set(editable_fields(domain_tool))
    else:
        writable = _writable_fields(policy, arguments.get("model"))
    refused = sorted(str(name) for name in edits if name not in writable)
    if refused:
        allowed = ", ".join(sorted(writable)) or "none"
        raise ApprovalError(
            codes.INVALID_EDITS,
            f"Only the fields the agent may write can be changed ({allowed}); "
            f"not {', '.join(refused)}.",
            fields=refused,
        )
    if domain_tool is not None:
        arguments.update(edits)
    else:
        arguments["data"] = {**(arguments.get("data") or {}), **edits}
    edited = {"name": tool, "arguments": arguments}
    preview = run_call(
        {"name": tool, "arguments": {**arguments, "dry_run": True}},
        requester_context(approval),
        policy,
        approval=approval,
        caused_by=held,
    )
    if preview.get("outcome") != names.DRY_RUN:
        error = preview.get("error") or {}
        raise ApprovalError(
            codes.INVALID_EDITS,
            f"The edited call would be refused ({error.get('code')}: {error.get('message')}); "
            "nothing was approved.",
            error=error,
        )
    return edited, preview


def _writable_fields(policy: Policy, model: Any) -> set[str]:
    """The writable fields (names and attnames) of the held call's model."""
    try:
        mp = policy.resolve(model)
    except ToolError:
        return set()
    writable = set(mp.writes.writable_fields)
    writable |= {mp.fields[name].field.attname for name in mp.writes.writable_fields}
    return writable
