"""The Slack integration costs a process nothing until it calls Slack: Django's set-up registers
the Slack tasks with Celery and connects the receivers without importing ``slack_sdk`` (which
``ormai_mcp`` would otherwise load before it answers ``initialize``); a task loads it when it
runs."""

import json
import os
import subprocess
import sys

import pytest
from slack_sdk import WebClient

from ormai_django.slack.config import DEFAULT_API_URL
from tests.mcp.test_mcp_server import REPO

pytestmark = pytest.mark.slow

PROBE = """
import json, sys
import django
django.setup()
from celery import current_app
from ormai_django import signals
print(json.dumps({
    "slack_sdk": "slack_sdk" in sys.modules,
    "tasks": sorted(n for n in current_app.tasks if n.startswith("ormai_django.slack.")),
    "receivers": signals.approval_requested.has_listeners(),
}))
from ormai_django.slack import work  # what a task imports when it runs
print(json.dumps({"slack_sdk": "slack_sdk" in sys.modules}))
"""


def test_setting_django_up_registers_the_slack_tasks_without_importing_slack_sdk():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "sandbox_project.settings",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    at_setup, after_work = (json.loads(line) for line in done.stdout.splitlines())
    assert at_setup == {
        "slack_sdk": False,
        "tasks": [
            "ormai_django.slack.escalate",
            "ormai_django.slack.handle_interaction",
            "ormai_django.slack.post_message",
            "ormai_django.slack.remind",
            "ormai_django.slack.update_message",
        ],
        "receivers": True,
    }
    assert after_work == {"slack_sdk": True}


def test_the_default_api_url_is_slack_sdks():
    assert DEFAULT_API_URL == WebClient.BASE_URL
