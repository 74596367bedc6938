"""The interactions endpoint acknowledges at once and leaves the work to a Celery worker;
clicks that race (two approvers of a two-person rule, a click and Slack's retry of it)
decide once and run the call once (PostgreSQL: real threads, each with its connection)."""

import os
import threading
import time
from collections import Counter

import pytest
from celery import Celery, current_app
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings

from ormai_django.models import ApprovalRequest, AuditEvent, InteractionReceipt
from tests.approvals.fake_slack import click, fake_slack, signed, slack_settings
from tests.approvals.test_slack_buttons import URL, hold_upgrade, two_person_policy
from tests.factories import UserFactory

REDIS_URL = os.environ.get("ORMAI_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


def post(payload, retry=None):
    body, headers = signed(payload)
    if retry is not None:
        headers["HTTP_X_SLACK_RETRY_NUM"] = str(retry)
    return Client().post(URL, body, content_type="application/x-www-form-urlencoded", **headers)


@pytest.fixture
def people():
    UserFactory(username="lee", approver=True)
    UserFactory(username="kim", approver=True)


@pytest.mark.django_db(transaction=True)
def test_the_click_is_acknowledged_before_any_work_and_the_work_is_queued(people):
    """A real broker (Redis) and no worker: the endpoint answers 200 at once, Slack hears
    nothing yet, nothing is decided; the task waits in the queue."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"Redis is not reachable at {REDIS_URL} and CI=true: {exc}")
        pytest.skip(f"needs Redis at {REDIS_URL}")
    client.flushdb()
    previous = current_app._get_current_object()
    queued = Celery("ack-test", broker=REDIS_URL)
    with fake_slack() as fake:
        fake.add_user("U0LEE", "lee@shop.test")
        with override_settings(ORMAI={**settings.ORMAI, "SLACK": slack_settings(fake.url)}):
            queued.set_current()
            try:
                _, approval_id = hold_upgrade()  # its post is queued too, not run
                started = time.monotonic()
                answer = post(click("ormai.approve", approval_id, "U0LEE"))
                took = time.monotonic() - started
            finally:
                previous.set_current()
                queued.close()
        calls = list(fake.calls)

    assert answer.status_code == 200
    assert took < 3  # Slack's limit; in fact a few milliseconds
    assert calls == []  # no Web API call before the ack: not even users.info
    assert ApprovalRequest.objects.get(pk=approval_id).status == "pending"
    assert InteractionReceipt.objects.count() == 1
    waiting = client.lrange("celery", 0, -1)
    assert any(b"ormai_django.slack.handle_interaction" in message for message in waiting)
    client.flushdb()


def run_together(tasks):
    barrier = threading.Barrier(len(tasks))
    results, crashes = [None] * len(tasks), []

    def worker(index, task):
        try:
            barrier.wait(timeout=30)
            results[index] = task()
        except BaseException as exc:
            crashes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, t)) for i, t in enumerate(tasks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert crashes == []
    return results


@pytest.fixture
def eager_slack(monkeypatch, people):
    app = current_app._get_current_object()
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    monkeypatch.setitem(app.conf, "task_eager_propagates", True)
    with fake_slack() as fake:
        fake.add_user("U0LEE", "lee@shop.test")
        fake.add_user("U0KIM", "kim@shop.test")
        yield fake


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_approvers_clicking_at_once_on_a_two_person_rule_run_the_call_once(eager_slack):
    policy = two_person_policy()
    ormai = {**settings.ORMAI, "POLICY": policy, "SLACK": slack_settings(eager_slack.url)}
    with override_settings(ORMAI=ormai):
        for _ in range(3):
            subscription, approval_id = hold_upgrade(policy)
            clicks = [click("ormai.approve", approval_id, who) for who in ("U0LEE", "U0KIM")]

            answers = run_together([lambda p=p: post(p).status_code for p in clicks])

            assert answers == [200, 200]
            approval = ApprovalRequest.objects.get(pk=approval_id)
            assert approval.status == "executed"
            assert sorted(approval.decisions.values_list("approver", flat=True)) == ["kim", "lee"]
            runs = AuditEvent.objects.filter(approval=approval, tool="db.update", outcome="ok")
            assert runs.count() == 1
            subscription.refresh_from_db()
            assert subscription.seats == 5


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_click_and_slacks_retries_of_it_arriving_together_decide_once(eager_slack):
    policy = two_person_policy()
    ormai = {**settings.ORMAI, "POLICY": policy, "SLACK": slack_settings(eager_slack.url)}
    with override_settings(ORMAI=ormai):
        _, approval_id = hold_upgrade(policy)
        payload = click("ormai.approve", approval_id, "U0LEE")

        answers = run_together([lambda n=n: post(payload, retry=n).status_code for n in range(4)])

    assert Counter(answers) == {200: 4}
    approval = ApprovalRequest.objects.get(pk=approval_id)
    assert approval.decisions.count() == 1 and approval.status == "pending"
    told = eager_slack.of("chat.postEphemeral")
    assert [t["text"][:30] for t in told] == ["Your approval is recorded: 1 o"]
