"""Who a Slack user is here: the Django user who decides, holding the approve permission.

A Slack user is mapped by ``ORMAI["SLACK"]["USERS"]`` (Slack id -> a username, or an
e-mail) first, else by the e-mail ``users.info`` returns (the app needs ``users:read`` and
``users:read.email``), matched case-insensitively against exactly one active Django user.
The approver recorded is that user's username, as in the admin and the HTTP API.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from ormai_django.approvals.reminders import APPROVE_PERMISSION
from ormai_django.models import ApprovalRequest
from ormai_django.slack.config import SlackConfig


class NotAnApprover(Exception):
    """The Slack user can't decide here; the message says why, for that user."""


def _by_name(named: str) -> list[Any]:
    User = get_user_model()
    manager = User._default_manager
    found = list(manager.filter(**{User.USERNAME_FIELD: named}))
    if not found and "@" in named:
        found = list(manager.filter(email__iexact=named))
    return found


def approver_for(client: WebClient, config: SlackConfig, slack_user: str) -> Any:
    """The Django user behind ``slack_user``, who may approve; ``NotAnApprover`` otherwise."""
    named = config.users.get(slack_user)
    if named:
        users = _by_name(named)
        source = f"ORMAI['SLACK']['USERS'] maps you to {named!r}"
    else:
        email = _email_of(client, slack_user)
        users = list(get_user_model()._default_manager.filter(email__iexact=email))
        source = f"your Slack e-mail is {email}"
    users = [u for u in users if u.is_active]
    if len(users) != 1:
        raise NotAnApprover(
            f"You can't decide here: {source}, and that matches "
            f"{'no' if not users else 'more than one'} active user of the site. Ask an "
            "administrator to map your Slack account (ORMAI['SLACK']['USERS'])."
        )
    user = users[0]
    if not user.has_perm(APPROVE_PERMISSION):
        raise NotAnApprover(
            f"You can't decide here: {user.get_username()} doesn't hold the permission "
            "'Can approve or deny held agent writes' (ormai_django.approve_approvalrequest)."
        )
    return user


def _email_of(client: WebClient, slack_user: str) -> str:
    try:
        profile = client.users_info(user=slack_user)["user"].get("profile") or {}
    except SlackApiError as exc:
        raise NotAnApprover(
            f"You can't decide here: Slack didn't say who you are ({exc.response.get('error')})."
        ) from None
    email = profile.get("email")
    if not email:
        raise NotAnApprover(
            "You can't decide here: Slack shows no e-mail for you (the app needs the "
            "users:read.email scope), and ORMAI['SLACK']['USERS'] doesn't map you."
        )
    return str(email)


def is_requester(approval: ApprovalRequest, user: Any) -> bool:
    """Whether ``user`` is who asked for the call (its principal or on_behalf_of), by
    username or by e-mail: nobody approves their own call from Slack either."""
    names = {user.get_username()}
    if getattr(user, "email", ""):
        names.add(user.email.lower())
    asked = {approval.principal, approval.on_behalf_of, approval.on_behalf_of.lower()}
    return bool(names & (asked - {""}))


def slack_ids_for(client: WebClient, config: SlackConfig, users: list[Any]) -> list[str]:
    """Mentions (``<@U...>``, or the username where Slack doesn't know the user) of ``users``:
    through ``USERS`` read backwards, else ``users.lookupByEmail``."""
    backwards: dict[str, str] = {}
    for slack_id, named in config.users.items():
        backwards.setdefault(str(named).lower(), slack_id)
    shown = []
    for user in users:
        slack_id = backwards.get(user.get_username().lower()) or backwards.get(
            (user.email or "").lower()
        )
        if slack_id is None and user.email:
            try:
                slack_id = client.users_lookupByEmail(email=user.email)["user"]["id"]
            except SlackApiError:
                slack_id = None
        shown.append(f"<@{slack_id}>" if slack_id else user.get_username())
    return shown
