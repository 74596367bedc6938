"""The work behind each Slack task (``slack/tasks.py``): post, refresh, reply, escalate,
handle an interaction. It loads ``slack_sdk``, so it is imported when a task runs, not when a
process starts.

A task that can't reach Slack (a network failure, a 5xx) is retried a few times with
backoff; an answer Slack refuses (``ok: false``: a bad token, a channel the bot isn't in)
is logged and dropped: retrying wouldn't change it.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from slack_sdk.errors import SlackApiError

from ormai_django.models import ApprovalRequest, InteractionReceipt
from ormai_django.slack import interactions, messages
from ormai_django.slack.blocks import slack_date
from ormai_django.slack.client import SLACK_FAILURES, web_client
from ormai_django.slack.config import slack_config
from ormai_django.slack.people import slack_ids_for

logger = logging.getLogger("ormai_django.slack")

MAX_RETRIES = 4
RECEIPT_DAYS = 2


def _retry(task: Any, exc: Exception) -> Any:
    if isinstance(exc, SlackApiError):
        logger.error("Slack refused %s: %s", task.name, exc.response.get("error"))
        return False
    if task.request.retries >= MAX_RETRIES:
        logger.error("Slack unreachable for %s: %s", task.name, exc)
        return False
    raise task.retry(countdown=5 * 2**task.request.retries) from None


def post_message(task: Any, approval_id: str) -> bool:
    """Post the held call ``approval_id`` to the channel."""
    config = slack_config()
    if config is None:
        return False
    try:
        return messages.post(web_client(config), config, approval_id) is not None
    except SLACK_FAILURES as exc:
        return _retry(task, exc)


def update_message(task: Any, approval_id: str) -> bool:
    """Show the request as it is now (decided, executed, failed, expired, escalated)."""
    config = slack_config()
    if config is None:
        return False
    try:
        return messages.refresh(web_client(config), approval_id)
    except SLACK_FAILURES as exc:
        return _retry(task, exc)


def remind(task: Any, approval_id: str) -> bool:
    """A reminder in the message's thread: still waiting, how many approvals, until when."""
    config = slack_config()
    approval = ApprovalRequest.objects.filter(pk=approval_id).first()
    if config is None or approval is None or approval.status != "pending":
        return False
    done = approval.decisions.filter(verdict="approve", revision=approval.revision).count()
    text = (
        f":bell: Reminder: this write still waits for {approval.approvers_required - done} "
        f"more approval(s); it expires {slack_date(approval.expires_at)}."
    )
    try:
        return messages.reply(web_client(config), approval_id, text)
    except SLACK_FAILURES as exc:
        return _retry(task, exc)


def escalate(task: Any, approval_id: str, usernames: list[str]) -> bool:
    """Tell the escalation's approvers in the thread (a broadcast reply that mentions each),
    and show the escalation in the message."""
    config = slack_config()
    approval = ApprovalRequest.objects.filter(pk=approval_id).first()
    if config is None or approval is None or approval.status != "pending":
        return False
    User = get_user_model()
    users = list(User._default_manager.filter(**{f"{User.USERNAME_FIELD}__in": usernames}))
    try:
        client = web_client(config)
        who = ", ".join(slack_ids_for(client, config, users)) or "nobody who may approve"
        text = (
            f":rotating_light: Escalated to {who}: this write still waits for a decision; it "
            f"expires {slack_date(approval.expires_at)}."
        )
        messages.reply(client, approval_id, text, broadcast=True)
        return messages.refresh(client, approval_id)
    except SLACK_FAILURES as exc:
        return _retry(task, exc)


def handle_interaction(task: Any, payload: dict[str, Any]) -> str:
    """Do what a verified interaction asks (``interactions.handle``)."""
    config = slack_config()
    if config is None:
        return "ignored"
    InteractionReceipt.objects.filter(
        received_at__lt=timezone.now() - timedelta(days=RECEIPT_DAYS)
    ).delete()
    try:
        return interactions.handle(web_client(config), config, payload)
    except SLACK_FAILURES as exc:
        # The decision (if any) is recorded; only telling the user failed.
        logger.error("Slack call failed while handling an interaction: %s", exc)
        return "failed"
