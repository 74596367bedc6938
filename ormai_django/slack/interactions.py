"""What a click or a modal's submission does (run in a Celery task, after the ack).

- **Approve** (``ormai.approve``): decides at once, as the Django user the Slack user maps
  to; the held call runs when it is the last approval needed.
- **Deny** (``ormai.deny``): opens a modal (``views.open``) for the one-line note, after
  checking the user could deny now (so nobody types a note for nothing).
- **The modal's submission**: denies with the note (the view refused an empty one).

A refusal (not an approver, the requester, already decided, expired, ...) is told to the
user who clicked, and only to them (``chat.postEphemeral``); nothing changes. The message
itself is updated by the approval signals (``receivers``), whoever decided and wherever.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from ormai_django.approvals import ApprovalError, approve, check_decision, deny
from ormai_django.slack import messages
from ormai_django.slack.blocks import (
    APPROVE_ACTION,
    DENY_ACTION,
    DENY_CALLBACK,
    NOTE_ACTION,
    NOTE_BLOCK,
    deny_modal,
)
from ormai_django.slack.config import SlackConfig
from ormai_django.slack.people import NotAnApprover, approver_for, is_requester

logger = logging.getLogger("ormai_django.slack")

REQUESTER = (
    "You asked for this write (you are its requester), so you can't approve or deny it: "
    "someone else must decide."
)


def handle(client: WebClient, config: SlackConfig, payload: dict[str, Any]) -> str:
    """Do what ``payload`` asks; returns what happened, for the log (``"approved"``,
    ``"denied"``, ``"modal"``, ``"refused"``, ``"ignored"``)."""
    if payload.get("type") == "block_actions":
        action = (payload.get("actions") or [{}])[0]
        if action.get("action_id") == APPROVE_ACTION:
            return _approve(client, config, payload, str(action.get("value") or ""))
        if action.get("action_id") == DENY_ACTION:
            return _open_deny(client, config, payload, str(action.get("value") or ""))
    if payload.get("type") == "view_submission":
        view = payload.get("view") or {}
        if view.get("callback_id") == DENY_CALLBACK:
            return _deny(client, config, payload, view)
    return "ignored"


def note_of(view: dict[str, Any]) -> str:
    """The note typed into the deny modal, stripped to one line."""
    values = (view.get("state") or {}).get("values") or {}
    typed = ((values.get(NOTE_BLOCK) or {}).get(NOTE_ACTION) or {}).get("value") or ""
    return " ".join(str(typed).split())


def _channel(payload: dict[str, Any]) -> str:
    return str(
        (payload.get("channel") or {}).get("id")
        or (payload.get("container") or {}).get("channel_id")
        or ""
    )


def _slack_user(payload: dict[str, Any]) -> str:
    return str((payload.get("user") or {}).get("id") or "")


def _decider(
    client: WebClient, config: SlackConfig, slack_user: str, channel: str, approval_id: str
) -> Any:
    """The Django user deciding, or None once the user has been told why not."""
    try:
        user = approver_for(client, config, slack_user)
        approval = check_decision(approval_id, user.get_username())
    except NotAnApprover as exc:
        messages.tell(client, channel, slack_user, str(exc))
        return None
    except ApprovalError as exc:
        messages.tell(client, channel, slack_user, _refusal(exc))
        return None
    if is_requester(approval, user):
        messages.tell(client, channel, slack_user, REQUESTER)
        return None
    return user


def _refusal(exc: ApprovalError) -> str:
    if exc.code == "APPROVER_IS_REQUESTER":
        return REQUESTER
    return f"Nothing was decided ({exc.code}): {exc.message}"


def _approve(client: WebClient, config: SlackConfig, payload: dict, approval_id: str) -> str:
    channel, slack_user = _channel(payload), _slack_user(payload)
    user = _decider(client, config, slack_user, channel, approval_id)
    if user is None:
        return "refused"
    try:
        outcome = approve(approval_id, user.get_username(), note="")
    except ApprovalError as exc:
        messages.tell(client, channel, slack_user, _refusal(exc))
        return "refused"
    if outcome["status"] == "pending":
        needed = outcome["approvers_required"] - outcome["approvals"]
        messages.tell(
            client,
            channel,
            slack_user,
            f"Your approval is recorded: {outcome['approvals']} of "
            f"{outcome['approvers_required']}; it runs when {needed} more approve.",
        )
    return "approved"


def _open_deny(client: WebClient, config: SlackConfig, payload: dict, approval_id: str) -> str:
    channel, slack_user = _channel(payload), _slack_user(payload)
    user = _decider(client, config, slack_user, channel, approval_id)
    if user is None:
        return "refused"
    ts = str((payload.get("container") or {}).get("message_ts") or "")
    approval = check_decision(approval_id, user.get_username())
    try:
        client.views_open(
            trigger_id=payload.get("trigger_id"), view=deny_modal(approval, channel, ts)
        )
    except SlackApiError as exc:
        # A trigger_id lives 3 seconds: a worker that took longer can't open the modal.
        logger.warning("Slack views.open for %s failed: %s", approval_id, exc)
        messages.tell(
            client,
            channel,
            slack_user,
            "The form for the note could not be opened in time; click Deny again.",
        )
        return "refused"
    return "modal"


def _deny(client: WebClient, config: SlackConfig, payload: dict, view: dict) -> str:
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        meta = {}
    approval_id, channel = str(meta.get("approval_id") or ""), str(meta.get("channel") or "")
    slack_user = _slack_user(payload)
    user = _decider(client, config, slack_user, channel, approval_id)
    if user is None:
        return "refused"
    try:
        deny(approval_id, user.get_username(), note=note_of(view))
    except ApprovalError as exc:
        messages.tell(client, channel, slack_user, _refusal(exc))
        return "refused"
    return "denied"
