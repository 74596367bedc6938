"""The official ``WebClient`` a ``SlackConfig`` configures, and what a call to Slack can fail
with."""

from __future__ import annotations

import http.client

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from ormai_django.slack.config import SlackConfig

# Slack's own errors (SlackApiError for ok: false), and the network's, which the client
# lets through.
SLACK_FAILURES = (SlackClientError, OSError, http.client.HTTPException)


def web_client(config: SlackConfig) -> WebClient:
    """The official client, pointed at ``config.api_url``; Slack's 429 answers are waited
    out and retried once (``Retry-After``)."""
    return WebClient(
        token=config.bot_token,
        base_url=config.api_url,
        timeout=config.timeout,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
