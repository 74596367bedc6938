"""The message of a held call in the channel: posted once, then updated in place.

``post`` stores the message's channel and ``ts`` (``ApprovalMessage``); ``refresh`` rebuilds
it from the request and ``chat.update``s it; ``reply`` posts in its thread (reminders,
escalations). Every function takes a request id and reads the request as it is now, so a
task that runs late or twice shows the current state, never an old one.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone
from slack_sdk import WebClient

from ormai_django import names
from ormai_django.models import ApprovalMessage, ApprovalRequest
from ormai_django.slack.blocks import held_message
from ormai_django.slack.config import SlackConfig

logger = logging.getLogger("ormai_django.slack")
SERVICE = "slack"


def _request(approval_id: str) -> ApprovalRequest | None:
    return ApprovalRequest.objects.prefetch_related("decisions").filter(pk=approval_id).first()


def escalated_to(approval: ApprovalRequest) -> list[str]:
    """The usernames told when the request escalated (its ``approval.escalate`` row)."""
    row = approval.events.filter(tool=names.APPROVAL_ESCALATE).order_by("-created_at").first()
    return list((row.arguments or {}).get("told") or []) if row is not None else []


def message_for(approval: ApprovalRequest) -> dict[str, Any]:
    return held_message(approval, escalated_to(approval))


def post(client: WebClient, config: SlackConfig, approval_id: str) -> ApprovalMessage | None:
    """Post the request's message to ``config.channel`` (once: a second call finds it)."""
    approval = _request(approval_id)
    if approval is None:
        logger.warning("Slack message skipped: no approval request %s", approval_id)
        return None
    existing = ApprovalMessage.objects.filter(approval=approval, service=SERVICE).first()
    if existing is not None:
        return existing
    shown = _state(approval)
    answer = client.chat_postMessage(
        channel=config.channel, unfurl_links=False, **message_for(approval)
    )
    message, _ = ApprovalMessage.objects.get_or_create(
        approval=approval,
        service=SERVICE,
        defaults={"channel": answer["channel"], "ts": answer["ts"]},
    )
    now = _request(approval_id)
    if now is not None and _state(now) != shown:
        # Decided while the post was on its way: that decision's update found no message.
        refresh(client, approval_id)
    return message


def _state(approval: ApprovalRequest) -> tuple[Any, ...]:
    return (approval.status, approval.revision, len(approval.decisions.all()))


def refresh(client: WebClient, approval_id: str) -> bool:
    """``chat.update`` the request's message to show it as it is now; False if it has none."""
    message = ApprovalMessage.objects.filter(approval_id=approval_id, service=SERVICE).first()
    approval = _request(approval_id)
    if message is None or approval is None:
        return False
    client.chat_update(channel=message.channel, ts=message.ts, **message_for(approval))
    ApprovalMessage.objects.filter(pk=message.pk).update(updated_at=timezone.now())
    return True


def reply(client: WebClient, approval_id: str, text: str, *, broadcast: bool = False) -> bool:
    """Post ``text`` in the thread of the request's message; False if it has none."""
    message = ApprovalMessage.objects.filter(approval_id=approval_id, service=SERVICE).first()
    if message is None:
        return False
    client.chat_postMessage(
        channel=message.channel, thread_ts=message.ts, text=text, reply_broadcast=broadcast
    )
    return True


def tell(client: WebClient, channel: str, slack_user: str, text: str) -> None:
    """An ephemeral message to the one user who clicked: a refusal, and why."""
    client.chat_postEphemeral(channel=channel, user=slack_user, text=text)
