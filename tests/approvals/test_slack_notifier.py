"""A write held for approval is posted to a Slack incoming webhook (when one is configured).

The webhook is a real HTTP server on 127.0.0.1; the Celery task runs eagerly in the test's
process (task_always_eager), so the whole chain runs: held write -> approval_requested ->
receiver -> notify_slack -> POST.
"""

import json
import logging
import socket
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from celery import Celery, current_app
from celery.signals import task_prerun
from django.conf import settings
from django.test import override_settings

from ormai_django import ToolContext, execute
from ormai_django.models import ApprovalRequest
from ormai_django.tasks import notify_slack
from tests.factories import CustomerFactory, OrderFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-slack")
ADMIN = "https://ops.example.com"
LOGGER = "ormai_django.notifications"


@contextmanager
def webhook_server(status=200):
    """A webhook on 127.0.0.1 answering ``status``; yields (url, posts received)."""
    posts = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            posts.append(
                {"path": self.path, "content_type": self.headers["Content-Type"], "body": body}
            )
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"server_error")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/services/T0/B0/secret", posts
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port():
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def slack_settings(url):
    return override_settings(
        ORMAI={**settings.ORMAI, "SLACK_WEBHOOK_URL": url, "ADMIN_BASE_URL": ADMIN}
    )


@pytest.fixture
def eager_celery(monkeypatch):
    """Tasks run in this process when enqueued, their exceptions propagate to the caller."""
    app = current_app._get_current_object()
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    monkeypatch.setitem(app.conf, "task_eager_propagates", True)
    return app


@pytest.fixture
def tasks_run():
    """Names of the Celery tasks that ran during the test."""
    names = []

    def record(sender=None, **kwargs):
        names.append(sender.name)

    task_prerun.connect(record, weak=False)
    yield names
    task_prerun.disconnect(record)


def hold_subscription_upgrade(capture, reason="Customer asked to upgrade to pro"):
    """A write the sandbox policy holds (db.update on Subscription, 1 approver); the held
    write's on-commit work (the signal, the enqueue) runs when the block exits."""
    subscription = SubscriptionFactory(plan="basic", seats=3)
    call = {
        "name": "db.update",
        "arguments": {
            "model": "Subscription",
            "id": subscription.id,
            "data": {"plan": "pro"},
            "reason": reason,
        },
    }
    with capture(execute=True):
        result = execute(call, AGENT)
    assert result["outcome"] == "pending_approval", result
    return subscription, result


def posted_text(post):
    assert post["content_type"] == "application/json"
    payload = json.loads(post["body"])
    assert set(payload) == {"text"}
    return payload["text"]


def test_a_held_write_is_posted_with_reason_preview_and_admin_link(
    django_capture_on_commit_callbacks, eager_celery, tasks_run
):
    with webhook_server() as (url, posts), slack_settings(url):
        subscription, result = hold_subscription_upgrade(django_capture_on_commit_callbacks)

    assert tasks_run == ["ormai_django.tasks.notify_slack"]
    assert len(posts) == 1
    assert posts[0]["path"] == "/services/T0/B0/secret"
    text = posted_text(posts[0])
    approval_id = result["approval_id"]
    assert "Customer asked to upgrade to pro" in text
    assert "db.update on shop.Subscription" in text
    assert "*Approvers required:* 1" in text
    assert "*Preview:* 1 row affected" in text
    assert f"#{subscription.id}: plan: basic → pro" in text
    assert f"{ADMIN}/admin/ormai_django/approvalrequest/{approval_id}/change/" in text
    expires = ApprovalRequest.objects.get(pk=approval_id).expires_at
    assert expires.strftime("%Y-%m-%d %H:%M:%S UTC") in text


def test_a_large_held_update_shows_the_first_rows_and_how_many_more(
    django_capture_on_commit_callbacks, eager_celery
):
    customer = CustomerFactory()
    OrderFactory.create_batch(55, customer=customer, status="pending")
    call = {
        "name": "db.update",
        "arguments": {
            "model": "Order",
            "where": {"status": "pending"},
            "data": {"status": "cancelled"},
            "reason": "Fraud sweep",
        },
    }
    with (
        webhook_server() as (url, posts),
        slack_settings(url),
        django_capture_on_commit_callbacks(execute=True),
    ):
        result = execute(call, AGENT)

    assert result["outcome"] == "pending_approval", result
    text = posted_text(posts[0])
    assert "*Preview:* 55 rows affected" in text
    assert text.count("status: pending → cancelled") == 3
    assert "… and 52 more" in text


def test_what_the_agent_wrote_cannot_ping_the_channel_or_forge_a_link(
    django_capture_on_commit_callbacks, eager_celery
):
    reason = "urgent <!channel> see <https://evil.example|the admin> & act"
    with webhook_server() as (url, posts), slack_settings(url):
        hold_subscription_upgrade(django_capture_on_commit_callbacks, reason=reason)

    text = posted_text(posts[0])
    assert "<!channel>" not in text
    assert "<https://evil.example" not in text
    assert "urgent &lt;!channel&gt; see &lt;https://evil.example|the admin&gt; &amp; act" in text


def test_nothing_is_posted_or_enqueued_without_a_webhook_url(
    django_capture_on_commit_callbacks, eager_celery, tasks_run
):
    with webhook_server() as (_, posts):
        override = {**settings.ORMAI, "SLACK_WEBHOOK_URL": None, "ADMIN_BASE_URL": ADMIN}
        with override_settings(ORMAI=override):
            _, result = hold_subscription_upgrade(django_capture_on_commit_callbacks)
            # The task itself posts nothing either, if something enqueues it anyway.
            sent = notify_slack.apply(args=[result["approval_id"]]).get()

    assert sent is False
    assert tasks_run == ["ormai_django.tasks.notify_slack"]  # only the explicit apply()
    assert posts == []


def test_a_webhook_answering_500_is_logged_and_the_write_stays_held(
    django_capture_on_commit_callbacks, eager_celery, caplog
):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    with webhook_server(status=500) as (url, posts), slack_settings(url):
        _, result = hold_subscription_upgrade(django_capture_on_commit_callbacks)

    assert len(posts) == 1  # it was tried
    approval = ApprovalRequest.objects.get(pk=result["approval_id"])
    assert approval.status == ApprovalRequest.Status.PENDING
    failures = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    assert len(failures) == 1
    message = failures[0].getMessage()
    assert f"Slack notification of {approval.id} failed" in message
    assert "500" in message
    assert "secret" not in message  # the webhook URL is a credential


def test_a_refused_connection_is_logged_and_the_task_reports_failure(
    django_capture_on_commit_callbacks, eager_celery, caplog
):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    dead = f"http://127.0.0.1:{closed_port()}/services/T0/B0/secret"
    with slack_settings(dead):
        _, result = hold_subscription_upgrade(django_capture_on_commit_callbacks)
        sent_again = notify_slack.apply(args=[result["approval_id"]]).get()

    assert sent_again is False
    assert ApprovalRequest.objects.get(pk=result["approval_id"]).status == "pending"
    failures = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(failures) == 2
    assert all(f"Slack notification of {result['approval_id']} failed" in m for m in failures)


def test_an_unreachable_broker_is_logged_and_the_write_stays_held(
    django_capture_on_commit_callbacks, caplog, monkeypatch
):
    """Celery installed but no broker running: .delay fails, the agent still gets its
    pending_approval and the request is stored."""
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # it would override broker=
    caplog.set_level(logging.WARNING, logger=LOGGER)
    previous = current_app._get_current_object()
    no_broker = Celery("no-broker", broker=f"redis://127.0.0.1:{closed_port()}/0")
    no_broker.set_current()
    try:
        with webhook_server() as (url, posts), slack_settings(url):
            _, result = hold_subscription_upgrade(django_capture_on_commit_callbacks)
    finally:
        previous.set_current()
        no_broker.close()

    assert posts == []
    assert ApprovalRequest.objects.get(pk=result["approval_id"]).status == "pending"
    errors = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].getMessage() == (
        f"Could not enqueue the Slack notification of {result['approval_id']}"
    )
    assert errors[0].exc_info is not None  # the traceback is kept for the operator


def test_a_decided_request_is_not_posted(eager_celery):
    with webhook_server() as (url, posts), slack_settings(url):
        subscription = SubscriptionFactory()
        call = {
            "name": "db.update",
            "arguments": {
                "model": "Subscription",
                "id": subscription.id,
                "data": {"plan": "pro"},
                "reason": "upgrade",
            },
        }
        result = execute(call, AGENT)  # on-commit work not run: nothing enqueued yet
        ApprovalRequest.objects.filter(pk=result["approval_id"]).update(status="denied")
        sent = notify_slack.apply(args=[result["approval_id"]]).get()

    assert sent is False
    assert posts == []
