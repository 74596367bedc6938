"""System checks for Slack, the webhooks and the approval.status rate."""

import pytest
from django.conf import settings
from django.test import override_settings

from ormai_django.checks import check_notifications


def ids_with(**ormai):
    with override_settings(ORMAI={**settings.ORMAI, **ormai}):
        return [m.id for m in check_notifications()]


def test_a_complete_configuration_passes():
    assert (
        ids_with(
            SLACK={"BOT_TOKEN": "xoxb-1", "SIGNING_SECRET": "s", "CHANNEL": "C1"},
            WEBHOOKS=[{"URL": "https://hooks.example/x", "SECRET": "s", "EVENTS": ["approval.*"]}],
            APPROVAL_STATUS_RATE="30/m",
        )
        == []
    )


def test_an_incomplete_slack_setting_is_an_error():
    assert ids_with(SLACK={"BOT_TOKEN": "xoxb-1"}) == ["ormai_django.E009"]


def test_slack_beside_the_old_webhook_notice_would_post_twice():
    both = ids_with(
        SLACK={"BOT_TOKEN": "xoxb-1", "SIGNING_SECRET": "s", "CHANNEL": "C1"},
        SLACK_WEBHOOK_URL="https://hooks.slack.com/services/T/B/x",
    )
    assert both == ["ormai_django.W005"]


@pytest.mark.parametrize(
    "hook",
    [
        {"URL": "ftp://hooks.example/x", "SECRET": "s"},
        {"URL": "https://hooks.example/x"},
        {"URL": "https://hooks.example/x", "SECRET": "s", "EVENTS": ["approval.requsted"]},
    ],
)
def test_an_unusable_webhook_is_an_error(hook):
    assert ids_with(WEBHOOKS=[hook]) == ["ormai_django.E010"]


def test_a_rate_that_is_not_a_rate_is_an_error():
    assert ids_with(APPROVAL_STATUS_RATE="sixty a minute") == ["ormai_django.E011"]
