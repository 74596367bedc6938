"""The Block Kit of a held call's message and of the deny modal.

The message is rebuilt from the request each time it is posted or updated, so every update
shows the request as it is (whatever order the updates arrive in). Everything the agent
wrote is escaped (``&``, ``<``, ``>``), so a reason can't mention ``@channel`` or forge a
link; long values are cut to Block Kit's limits.
"""

from __future__ import annotations

import json
from typing import Any

from ormai_django.models import ApprovalDecision, ApprovalRequest
from ormai_django.notifications import admin_url, preview_lines

APPROVE_ACTION = "ormai.approve"
DENY_ACTION = "ormai.deny"
ACTIONS_BLOCK = "ormai.decide"
DENY_CALLBACK = "ormai.deny"
NOTE_BLOCK = "note"
NOTE_ACTION = "note"
NOTE_MAX_LENGTH = 500
SECTION_CHARS = 2900  # Block Kit allows 3,000 characters in a section's text
HEADER_CHARS = 150

ENDINGS = {
    ApprovalRequest.Status.EXECUTED: ":white_check_mark: *Executed*",
    ApprovalRequest.Status.FAILED: ":warning: *Failed when it ran*",
    ApprovalRequest.Status.DENIED: ":no_entry: *Denied*",
    ApprovalRequest.Status.EXPIRED: ":hourglass: *Expired*: nobody decided in time",
}


def escape(text: Any) -> str:
    """Slack's three control characters (https://api.slack.com/reference/surfaces/formatting)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int = SECTION_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text)}}


def slack_date(value: Any) -> str:
    """A time every reader sees in their own time zone, with a UTC fallback."""
    fallback = value.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(value.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def summary(approval: ApprovalRequest) -> str:
    """One line: what is held (the message's notification text, the modal's first line)."""
    rows = approval.affected_rows
    count = "" if rows is None else f", {rows} row{'' if rows == 1 else 's'}"
    return f"{approval.tool} on {approval.model}{count} ({approval.id})"


def requester(approval: ApprovalRequest) -> str:
    who = escape(approval.principal)
    if approval.on_behalf_of:
        who += f" for {escape(approval.on_behalf_of)}"
    extra = [
        f"tenant {escape(approval.tenant_id)}" if approval.tenant_id else "",
        f"run {escape(approval.run_id)}" if approval.run_id else "",
    ]
    extra = [e for e in extra if e]
    return who + (f" ({', '.join(extra)})" if extra else "")


def held_message(approval: ApprovalRequest, escalated_to: list[str] | None = None) -> dict:
    """``{"text", "blocks"}`` for ``chat.postMessage`` / ``chat.update``: what, who, why, the
    rule, the preview, approvals so far and needed, the expiry; the buttons while pending,
    the ending (decision, who, note, the result) once it is over."""
    decisions = list(approval.decisions.all())
    current = [d for d in decisions if d.revision == approval.revision]
    approvals = [d for d in current if d.verdict == ApprovalDecision.Verdict.APPROVE]
    pending = approval.status == ApprovalRequest.Status.PENDING
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _cut(f"Approval needed: {approval.tool} on {approval.model}", HEADER_CHARS),
            },
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": _cut(f"*Requested by*\n{requester(approval)}", 1900)},
                {"type": "mrkdwn", "text": f"*Rows*\n{approval.affected_rows or 0}"},
                {
                    "type": "mrkdwn",
                    "text": f"*Approvals*\n{len(approvals)} of {approval.approvers_required}"
                    + (
                        f" ({', '.join(escape(d.approver) for d in approvals)})"
                        if approvals
                        else ""
                    ),
                },
                {"type": "mrkdwn", "text": f"*Expires*\n{slack_date(approval.expires_at)}"},
            ],
        },
        _section(f"*Reason:* {escape(approval.reason) or '(none given)'}"),
        _section(f"*Held because:* {escape(approval.why_held)}"),
        _section(
            "\n".join(preview_lines(approval.preview, approval.affected_rows))
            + _cut_short_note(approval)
        ),
    ]
    if approval.edited_call is not None:
        blocks.append(_section(f"*Edited by an approver:* {escape(json.dumps(approval.edits))}"))
    if escalated_to:
        blocks.append(_section(f":rotating_light: *Escalated to* {', '.join(escalated_to)}"))
    if pending:
        blocks.append(_buttons(approval.id))
    else:
        blocks.append(_section(_ending(approval, decisions)))
    link = admin_url(approval.pk)
    shown = f"<{link}|Review in the admin>" if link.startswith(("https://", "http://")) else ""
    blocks.append(
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": " · ".join(p for p in (approval.id, shown) if p)}
            ],
        }
    )
    state = "" if pending else f" [{approval.status}]"
    return {"text": f"Approval needed: {summary(approval)}{state}", "blocks": blocks}


def _cut_short_note(approval: ApprovalRequest) -> str:
    preview = approval.preview or {}
    if not preview.get("truncated") or approval.held_ids is None:
        return ""
    return (
        f"\n_The preview stops at {len(preview.get('would_change') or [])} rows; the write runs "
        f"only on the {len(approval.held_ids)} rows measured when it was held._"
    )


def _buttons(approval_id: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": ACTIONS_BLOCK,
        "elements": [
            {
                "type": "button",
                "action_id": APPROVE_ACTION,
                "text": {"type": "plain_text", "text": "Approve"},
                "style": "primary",
                "value": approval_id,
            },
            {
                "type": "button",
                "action_id": DENY_ACTION,
                "text": {"type": "plain_text", "text": "Deny"},
                "style": "danger",
                "value": approval_id,
            },
        ],
    }


def _ending(approval: ApprovalRequest, decisions: list[ApprovalDecision]) -> str:
    lines = [ENDINGS.get(approval.status, f"*{escape(approval.status)}*")]
    for d in decisions:
        verb = "approved" if d.verdict == ApprovalDecision.Verdict.APPROVE else "denied"
        note = f": “{escape(d.note)}”" if d.note else ""
        lines.append(f"• {escape(d.approver)} {verb}{note}")
    result = approval.result or {}
    if approval.status == ApprovalRequest.Status.EXECUTED:
        rows = result.get("affected_rows")
        lines.append(f"The write ran: {rows} row{'' if rows == 1 else 's'} changed.")
    elif approval.status == ApprovalRequest.Status.FAILED:
        lines.append(f"Nothing was changed: {escape(approval.failure)}")
    elif approval.status == ApprovalRequest.Status.EXPIRED:
        lines.append(f"It expired at {slack_date(approval.expires_at)}; the write did not run.")
    return "\n".join(lines)


def deny_modal(approval: ApprovalRequest, channel: str, ts: str) -> dict[str, Any]:
    """The modal ``views.open`` shows on Deny: a required one-line note (the agent tells the
    user this note as the reason)."""
    return {
        "type": "modal",
        "callback_id": DENY_CALLBACK,
        "private_metadata": json.dumps({"approval_id": approval.id, "channel": channel, "ts": ts}),
        "title": {"type": "plain_text", "text": "Deny this write"},
        "submit": {"type": "plain_text", "text": "Deny"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            _section(f"*{escape(summary(approval))}*\n{escape(approval.reason)}"),
            {
                "type": "input",
                "block_id": NOTE_BLOCK,
                "label": {"type": "plain_text", "text": "Why? The agent tells the user this."},
                "element": {
                    "type": "plain_text_input",
                    "action_id": NOTE_ACTION,
                    "multiline": False,
                    "max_length": NOTE_MAX_LENGTH,
                },
            },
        ],
    }
