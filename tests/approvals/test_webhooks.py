"""Signed outgoing webhooks: approval and budget events posted as JSON to any endpoint,
signed with its secret (HMAC-SHA256 over the timestamp and the body), retried with backoff.

The endpoint is a real HTTP server on 127.0.0.1 that checks every request's signature with
``ormai_django.webhooks.verify_signature``; Celery runs eagerly (a retry runs at once).
"""

import json
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from celery import current_app
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from ormai_django import ToolContext, execute, signals
from ormai_django.approvals import approve, deny, expire_approvals
from ormai_django.models import ApprovalRequest
from ormai_django.webhooks import sign, verify_signature
from ormai_django.webhooks.tasks import backoff
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "whsec_test_5f0c1d2e"
AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-hooks")


@contextmanager
def endpoint(statuses=()):
    """A webhook receiver; it answers the ``statuses`` given, in turn, then 200. Yields
    (url, deliveries): each delivery's headers, parsed body, and whether it verified."""
    deliveries = []
    answers = list(statuses)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            deliveries.append(
                {
                    "headers": dict(self.headers),
                    "event": json.loads(body),
                    "verified": verify_signature(
                        SECRET,
                        body,
                        self.headers.get("X-Ormai-Timestamp"),
                        self.headers.get("X-Ormai-Signature"),
                    ),
                }
            )
            status = answers.pop(0) if answers else 200
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hooks/ormai", deliveries
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def eager_celery(monkeypatch):
    """Tasks run in this process; a retry runs again at once (its countdown is not waited)."""
    app = current_app._get_current_object()
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    monkeypatch.setitem(app.conf, "task_eager_propagates", False)


def hooks(*endpoints):
    return override_settings(ORMAI={**settings.ORMAI, "WEBHOOKS": list(endpoints)})


def hold_upgrade():
    subscription = SubscriptionFactory(plan="basic")
    held = execute(
        {
            "name": "db.update",
            "arguments": {
                "model": "Subscription",
                "id": subscription.id,
                "data": {"plan": "pro"},
                "reason": "The customer asked for Pro",
            },
        },
        AGENT,
    )
    assert held["outcome"] == "pending_approval", held
    return held["approval_id"]


def test_requested_and_decided_events_are_signed_and_say_what_who_why(eager_celery):
    with endpoint() as (url, deliveries), hooks({"URL": url, "SECRET": SECRET}):
        approval_id = hold_upgrade()
        approve(approval_id, "lee", note="Pro is in budget")

    assert [d["event"]["type"] for d in deliveries] == ["approval.requested", "approval.decided"]
    assert all(d["verified"] for d in deliveries)
    requested, decided = (d["event"] for d in deliveries)
    assert requested["id"].startswith("evt_")
    assert deliveries[0]["headers"]["X-Ormai-Event"] == "approval.requested"
    assert deliveries[0]["headers"]["X-Ormai-Delivery"] == requested["id"]
    data = requested["data"]
    approval = ApprovalRequest.objects.get(pk=approval_id)
    assert (data["approval_id"], data["status"], data["tool"]) == (
        approval_id,
        "pending",
        "db.update",
    )
    assert (data["principal"], data["tenant_id"], data["run_id"]) == (
        "agent:support-bot",
        "7",
        "run-hooks",
    )
    assert data["reason"] == "The customer asked for Pro"
    assert data["rule_ids"] == approval.rule_ids and data["why_held"] == approval.why_held
    assert data["preview"]["would_change"][0]["plan_after"] == "pro"
    assert data["admin_url"].endswith(f"/admin/ormai_django/approvalrequest/{approval_id}/change/")
    assert decided["data"]["status"] == "executed"
    assert decided["data"]["decision"]["approver"] == "lee"
    assert decided["data"]["decision"]["note"] == "Pro is in budget"
    assert decided["data"]["result"]["outcome"] == "ok"


def test_denied_and_expired_requests_are_told(eager_celery):
    with endpoint() as (url, deliveries), hooks({"URL": url, "SECRET": SECRET}):
        denied = hold_upgrade()
        deny(denied, "kim", note="Not this quarter")
        late = hold_upgrade()
        ApprovalRequest.objects.filter(pk=late).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
        assert expire_approvals() == 1

    by_type = [(d["event"]["type"], d["event"]["data"]["approval_id"]) for d in deliveries]
    assert by_type == [
        ("approval.requested", denied),
        ("approval.decided", denied),
        ("approval.requested", late),
        ("approval.expired", late),
    ]
    assert deliveries[1]["event"]["data"]["decision"]["note"] == "Not this quarter"
    assert deliveries[3]["event"]["data"]["status"] == "expired"


def test_an_endpoint_gets_only_the_events_it_asks_for(eager_celery):
    with (
        endpoint() as (everything, all_deliveries),
        endpoint() as (pager, pager_deliveries),
        hooks(
            {"URL": everything, "SECRET": SECRET},
            {"URL": pager, "SECRET": SECRET, "EVENTS": ["approval.expired", "budget.*"]},
        ),
    ):
        deny(hold_upgrade(), "kim", note="no")

    assert len(all_deliveries) == 2
    assert pager_deliveries == []


def test_budget_exceeded_is_posted_from_its_signal(eager_celery):
    budget = {
        "id": "bud_run_rows",
        "scope": "run",
        "model": None,
        "max_calls": None,
        "max_rows": 500,
        "per_seconds": None,
        "on_exceed": "deny",
    }
    with endpoint() as (url, deliveries), hooks({"URL": url, "SECRET": SECRET}):
        signals.budget_exceeded.send(
            sender=None,
            budget=budget,
            scope_key="run:7:run-hooks",
            used={"calls": 12, "rows": 498},
            context=AGENT,
            tool="db.update",
        )

    (delivery,) = deliveries
    assert delivery["verified"]
    event = delivery["event"]
    assert event["type"] == "budget.exceeded"
    assert event["data"] == {
        "budget": budget,
        "scope_key": "run:7:run-hooks",
        "used": {"calls": 12, "rows": 498},
        "tool": "db.update",
        "context": {
            "principal": "agent:support-bot",
            "tenant_id": 7,
            "on_behalf_of": None,
            "run_id": "run-hooks",
        },
    }


def test_a_failing_endpoint_is_retried_with_the_same_delivery_id_until_it_takes_it(
    eager_celery,
):
    with endpoint(statuses=[503, 500]) as (url, deliveries), hooks({"URL": url, "SECRET": SECRET}):
        hold_upgrade()

    assert len(deliveries) == 3
    assert len({d["headers"]["X-Ormai-Delivery"] for d in deliveries}) == 1
    assert all(d["verified"] for d in deliveries)  # each attempt is signed afresh
    assert [backoff(n) for n in range(9)] == [10, 20, 40, 80, 160, 320, 640, 1280, 2560]
    assert backoff(20) == 3600


def test_a_refusal_by_the_endpoint_is_not_retried(eager_celery, caplog):
    with endpoint(statuses=[400]) as (url, deliveries), hooks({"URL": url, "SECRET": SECRET}):
        approval_id = hold_upgrade()

    assert len(deliveries) == 1
    assert ApprovalRequest.objects.get(pk=approval_id).status == "pending"
    assert any("not delivered: the endpoint answered 400" in r.getMessage() for r in caplog.records)


def test_a_receiver_refuses_a_tampered_stale_or_unsigned_body():
    body = b'{"type":"approval.requested"}'
    now = int(time.time())
    good = sign(SECRET, now, body)

    assert verify_signature(SECRET, body, str(now), good)
    assert not verify_signature(SECRET, body + b" ", str(now), good)
    assert not verify_signature("another secret", body, str(now), good)
    assert not verify_signature(SECRET, body, str(now - 301), sign(SECRET, now - 301, body))
    assert not verify_signature(SECRET, body, None, good)
    assert not verify_signature(SECRET, body, "soon", good)
    assert good.startswith("v1=") and len(good) == 3 + 64
