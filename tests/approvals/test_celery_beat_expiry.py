"""A real Celery worker with beat expires overdue approvals (the auto-deny).

The integration test starts ``celery -A sandbox_project worker --beat`` as a separate
process against Redis on 127.0.0.1:6379 (database 5, flushed first) and the test's own
PostgreSQL database, then waits for the overdue request to be expired and audited.
``ORMAI_TEST_REDIS_URL`` names another Redis database, so that test runs in two checkouts at
once don't flush each other's.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from ormai_django import ToolContext, execute
from ormai_django.approvals import EXPIRY_PRINCIPAL
from ormai_django.models import ApprovalRequest, AuditEvent
from sandbox_project import celery_app
from tests.factories import SubscriptionFactory

# A database of its own (flushed by the test); ORMAI_TEST_REDIS_URL gives each checkout one.
REDIS_URL = os.environ.get("ORMAI_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
EXPIRY_TIMEOUT_SECONDS = 90
REPO = Path(__file__).resolve().parents[2]
AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-beat")


def test_the_beat_schedule_runs_the_expiry_every_minute_and_the_purge_hourly():
    celery_app.loader.import_default_modules()
    schedule = celery_app.conf.beat_schedule

    assert schedule == settings.CELERY_BEAT_SCHEDULE  # CELERY_* settings configure the app
    tasks = {entry["task"]: entry["schedule"] for entry in schedule.values()}
    assert set(tasks) == {
        "ormai_django.tasks.expire_approvals",
        "ormai_django.tasks.remind_approvals",
        "ormai_django.tasks.purge_idempotency_records",
    }
    assert all(name in celery_app.tasks for name in tasks)  # the worker knows each of them
    if "ORMAI_EXPIRY_INTERVAL" not in os.environ:
        assert tasks["ormai_django.tasks.expire_approvals"] == 60.0
        assert tasks["ormai_django.tasks.remind_approvals"] == 60.0
    assert tasks["ormai_django.tasks.purge_idempotency_records"] == 3600.0


def require_redis():
    """Redis at REDIS_URL, its database flushed; skip locally without it, fail in CI."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        message = f"Redis is not reachable at {REDIS_URL} ({exc})"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"{message} and CI=true: the Celery integration test must run in CI.")
        pytest.skip(f"{message}: the Celery worker test needs it (it is required in CI).")
    client.flushdb()
    return client


def hold_and_make_overdue():
    """A write held by the sandbox policy, then made overdue."""
    subscription = SubscriptionFactory(plan="basic")
    call = {
        "name": "db.update",
        "arguments": {
            "model": "Subscription",
            "id": subscription.id,
            "data": {"plan": "pro"},
            "reason": "Customer asked to upgrade",
        },
    }
    result = execute(call, AGENT)
    assert result["outcome"] == "pending_approval", result
    ApprovalRequest.objects.filter(pk=result["approval_id"]).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    return result["approval_id"]


def start_worker(tmp_path, log_file):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "sandbox_project.settings",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        # The worker shares the test's database (pytest-django's test_... database).
        "ORMAI_DB": "postgres",
        "ORMAI_PG_NAME": connection.settings_dict["NAME"],
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_RESULT_BACKEND": REDIS_URL,
        "ORMAI_EXPIRY_INTERVAL": "1",
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "sandbox_project",
        "worker",
        "--beat",
        "-l",
        "info",
        "--schedule",
        str(tmp_path / "beat-schedule"),
        "--pool",
        "solo",
        "--hostname",
        f"ormai-test-{uuid.uuid4().hex[:8]}@%h",
        "--without-gossip",
        "--without-mingle",
    ]
    return subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: beat's child goes with it
    )


def stop_worker(process):
    process.terminate()  # warm shutdown: the worker stops beat too
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):  # what is left of its group (beat's child)
        os.killpg(process.pid, signal.SIGKILL)


def expired_and_audited(approval_id):
    return (
        ApprovalRequest.objects.filter(pk=approval_id, status="expired").exists()
        and AuditEvent.objects.filter(approval_id=approval_id, tool="approval.expire").exists()
    )


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_with_beat_expires_an_overdue_approval(tmp_path):
    redis_client = require_redis()
    approval_id = hold_and_make_overdue()
    log_path = tmp_path / "worker.log"

    with log_path.open("wb") as log_file:
        worker = start_worker(tmp_path, log_file)
        try:
            deadline = time.monotonic() + EXPIRY_TIMEOUT_SECONDS
            while not expired_and_audited(approval_id):
                if worker.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        finally:
            stop_worker(worker)
    redis_client.flushdb()
    log = log_path.read_text(errors="replace")

    assert expired_and_audited(approval_id), f"not expired in time; worker log:\n{log[-5000:]}"
    approval = ApprovalRequest.objects.get(pk=approval_id)
    assert approval.decided_at is not None
    event = AuditEvent.objects.get(approval_id=approval_id, tool="approval.expire")
    assert event.principal == EXPIRY_PRINCIPAL
    assert event.caused_by.outcome == "pending_approval"
    assert "ormai_django.tasks.expire_approvals" in log  # beat sent it, the worker ran it
