"""Slack notifications of writes held for approval (optional: needs Celery).

Set ``ORMAI["SLACK_WEBHOOK_URL"]`` to a Slack incoming-webhook URL and each write held
for approval is posted to that channel: the reason, the model and tool, the approvers
required, the expiry, what it would change, and a link to its admin page
(``ORMAI["ADMIN_BASE_URL"]`` + ``/admin/ormai_django/approvalrequest/<id>/change/``).

The post runs in the Celery task ``ormai_django.tasks.notify_slack``, enqueued once the
held write has committed (the receiver lives in ``ormai_django.tasks``: this module only
builds and posts messages). Failing to enqueue it (no broker) or to post it (Slack down) is
logged and never reaches the write. ``OrmaiDjangoConfig.ready()`` connects the receiver
when Celery is installed; another channel connects its own receiver to
``ormai_django.signals.approval_requested``.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import logging
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from django.urls import NoReverseMatch, reverse

from ormai_django.conf import ormai_settings
from ormai_django.models import ApprovalRequest

logger = logging.getLogger("ormai_django.notifications")

POST_TIMEOUT_SECONDS = 5
PREVIEW_ROWS = 3  # the first rows of the preview shown in the message
FIELDS_PER_ROW = 6
VALUE_CHARS = 80


def send_slack_notification(approval_id: str) -> bool:
    """Post the held write ``approval_id`` to the webhook; True if Slack accepted it.

    Nothing is posted without ``SLACK_WEBHOOK_URL``, for an unknown id, or once the request
    was decided or expired (nobody needs to act any more)."""
    url = ormai_settings.SLACK_WEBHOOK_URL
    if not url:
        return False
    approval = ApprovalRequest.objects.filter(pk=approval_id).first()
    if approval is None:
        logger.warning("Slack notification skipped: no approval request %s", approval_id)
        return False
    if approval.status != ApprovalRequest.Status.PENDING:
        logger.info("Slack notification skipped: %s is %s", approval_id, approval.status)
        return False
    return post_to_webhook(url, slack_message(approval), approval_id)


def post_to_webhook(url: str, text: str, approval_id: str) -> bool:
    """POST ``{"text": text}`` as JSON; log (never raise) a failure. The URL is a secret
    (it grants posting to the channel), so it is never logged."""
    if not url.startswith(("https://", "http://")):
        logger.warning(
            "Slack notification of %s not sent: SLACK_WEBHOOK_URL isn't http(s)", approval_id
        )
        return False
    request = urllib.request.Request(
        url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=POST_TIMEOUT_SECONDS) as response:
            response.read()
    except (OSError, http.client.HTTPException) as exc:
        # OSError covers HTTPError (a non-2xx answer), URLError, refused connections, timeouts.
        logger.warning("Slack notification of %s failed: %s", approval_id, exc)
        return False
    except ValueError:  # a malformed URL; its message would quote the URL
        logger.warning("Slack notification of %s failed: malformed SLACK_WEBHOOK_URL", approval_id)
        return False
    return True


def slack_message(approval: Any) -> str:
    """The message text, in Slack's mrkdwn; what the agent wrote is escaped, so a reason
    can't mention @channel or forge a link."""
    expires = approval.expires_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    requester = approval.principal
    if approval.on_behalf_of:
        requester += f" on behalf of {approval.on_behalf_of}"
    if approval.tenant_id:
        requester += f", tenant {approval.tenant_id}"
    lines = [
        f"*Write held for approval:* {_escape(approval.tool)} on {_escape(approval.model)}",
        f"*Reason:* {_escape(approval.reason) or '(none given)'}",
        f"*Held because:* {_escape(approval.why_held)}",
        f"*Requested by:* {_escape(requester)}",
        f"*Approvers required:* {approval.approvers_required}",
        f"*Expires:* {expires}",
        *preview_lines(approval.preview, approval.affected_rows),
    ]
    link = admin_url(approval.pk)
    if link.startswith(("https://", "http://")):
        lines.append(f"<{link}|Review {approval.pk} in the admin>")
    else:
        lines.append(f"Review in the admin: {_escape(link)}")
    return "\n".join(lines)


def preview_lines(preview: dict[str, Any] | None, affected_rows: int | None) -> list[str]:
    """The preview summary: rows affected, the first rows' before -> after, any cascade."""
    preview = preview or {}
    rows = preview.get("would_change") or []
    count = affected_rows if affected_rows is not None else len(rows)
    lines = [f"*Preview:* {count} row{'' if count == 1 else 's'} affected"]
    for row in rows[:PREVIEW_ROWS]:
        label = "new row" if row.get("id") is None else f"#{_escape(_shown(row['id']))}"
        lines.append(f"• {label}: {_changes(row)}")
    if count > min(len(rows), PREVIEW_ROWS):
        lines.append(f"• … and {count - min(len(rows), PREVIEW_ROWS)} more")
    for label, cascade in (preview.get("cascade") or {}).items():
        lines.append(f"*Also deletes:* {cascade.get('count', 0)} of {_escape(label)}")
    return lines


def admin_url(approval_id: str) -> str:
    """The approval's admin change page, absolute when ``ADMIN_BASE_URL`` is set."""
    try:
        path = reverse("admin:ormai_django_approvalrequest_change", args=[approval_id])
    except NoReverseMatch:  # the admin isn't routed in this process: its default path
        path = f"/admin/ormai_django/approvalrequest/{quote(str(approval_id))}/change/"
    return str(ormai_settings.ADMIN_BASE_URL or "").rstrip("/") + path


def _changes(row: dict[str, Any]) -> str:
    """``field: before → after`` for each field of a preview row (a create shows only
    after, a delete only before), in the row's order."""
    fields: dict[str, dict[str, Any]] = {}
    for key, value in row.items():
        for suffix in ("_before", "_after"):
            if key.endswith(suffix):
                fields.setdefault(key[: -len(suffix)], {})[suffix] = value
    parts = []
    for name, values in list(fields.items())[:FIELDS_PER_ROW]:
        if "_before" in values and "_after" in values:
            shown = f"{_shown(values['_before'])} → {_shown(values['_after'])}"
        else:
            shown = _shown(values.get("_before", values.get("_after")))
        parts.append(f"{name}: {_escape(shown)}")
    if len(fields) > FIELDS_PER_ROW:
        parts.append(f"(+{len(fields) - FIELDS_PER_ROW} fields)")
    return "; ".join(parts)


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def _escape(text: Any) -> str:
    """Slack's three control characters (https://api.slack.com/reference/surfaces/formatting)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
