"""``ORMAI["SLACK"]`` read into a ``SlackConfig``. It imports nothing of ``slack_sdk``: every
process reads it (the receivers check it before enqueuing), and only the ones that call Slack
load the SDK (``slack/client.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ormai_django.conf import ormai_settings

DEFAULT_API_URL = "https://slack.com/api/"  # slack_sdk's WebClient.BASE_URL
DEFAULT_TIMEOUT = 10


@dataclass(frozen=True)
class SlackConfig:
    """The Slack settings: ``bot_token`` (``xoxb-...``), ``signing_secret``, ``channel``
    (an id, ``C...``), ``api_url`` (the Web API's base URL: Slack's unless a test points it
    at a fake), ``users`` (Slack user id -> Django username or e-mail, consulted before
    ``users.info``), ``timeout`` (seconds per Web API call)."""

    bot_token: str
    signing_secret: str
    channel: str
    api_url: str = DEFAULT_API_URL
    users: dict[str, str] = field(default_factory=dict)
    timeout: int = DEFAULT_TIMEOUT


def slack_config() -> SlackConfig | None:
    """The configuration, or None while ``ORMAI["SLACK"]`` isn't a complete one (system
    check E009 says what is missing)."""
    raw: Any = ormai_settings.SLACK
    if not isinstance(raw, dict):
        return None
    if not all(isinstance(raw.get(k), str) and raw.get(k) for k in REQUIRED):
        return None
    users = raw.get("USERS") or {}
    return SlackConfig(
        bot_token=raw["BOT_TOKEN"],
        signing_secret=raw["SIGNING_SECRET"],
        channel=raw["CHANNEL"],
        api_url=raw.get("API_URL") or DEFAULT_API_URL,
        users=dict(users) if isinstance(users, dict) else {},
        timeout=int(raw.get("TIMEOUT") or DEFAULT_TIMEOUT),
    )


REQUIRED = ("BOT_TOKEN", "SIGNING_SECRET", "CHANNEL")
