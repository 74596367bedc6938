"""A ledger of agent runs to try the admin at scale: ``AuditEvent`` rows as runs leave
them (reads, refusals, held writes, approvals, writes with before/after, failures) and
pending ``ApprovalRequest`` rows, written with ``bulk_create`` (the ledger's queryset allows
inserts; it refuses only updates, deletes and upserts), and the admin's pages timed on them.

Used by ``manage.py ormai_admin_load`` and by the query-count tests.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import time
from collections.abc import Iterator
from typing import Any

from django.db import connection, reset_queries, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings

from ormai_django.ids import new_id
from ormai_django.models import ApprovalRequest, AuditEvent

EVENTS_PER_RUN = 20
TENANTS = 20
PRINCIPALS = 40
MODELS = ("shop.Order", "shop.Customer", "shop.Subscription", "shop.Note", "shop.Refund")
# One run's events: (tool, outcome, error code) in the order an agent makes them.
RUN_SCRIPT = (
    ("db.describe", "ok", ""),
    ("db.query", "ok", ""),
    ("db.get", "ok", ""),
    ("db.query", "ok", ""),
    ("db.update", "denied", "FIELD_NOT_WRITABLE"),
    ("db.query", "ok", ""),
    ("db.update", "ok", ""),
    ("db.aggregate", "ok", ""),
    ("db.query", "ok", ""),
    ("db.update", "pending_approval", ""),
    ("approval.status", "ok", ""),
    ("db.create", "ok", ""),
    ("db.query", "error", "INVALID_WHERE"),
    ("db.query", "ok", ""),
    ("db.get", "ok", ""),
    ("db.delete", "denied", "APPROVAL_REQUIRED"),
    ("db.update", "ok", ""),
    ("db.query", "ok", ""),
    ("db.update", "dry_run", ""),
    ("db.get", "ok", ""),
)


def run_events(run: int, start: dt.datetime, rng: random.Random) -> Iterator[AuditEvent]:
    """The events of load run number ``run``, the first at ``start``, a few seconds apart."""
    tenant = str(run % TENANTS + 1)
    principal = f"agent:bot-{run % PRINCIPALS}"
    model = MODELS[run % len(MODELS)]
    moment = start
    for step, (tool, outcome, code) in enumerate(RUN_SCRIPT):
        moment += dt.timedelta(seconds=rng.randint(1, 20))
        pk = run * 10 + step
        writes = outcome == "ok" and tool in ("db.update", "db.create")
        changes = None
        if writes and tool == "db.update":
            changes = [{"pk": pk, "before": {"status": "pending"}, "after": {"status": "paid"}}]
        elif writes:
            changes = [{"pk": pk, "after": {"id": pk, "status": "pending", "tenant_id": tenant}}]
        yield AuditEvent(
            id=new_id("aud"),
            created_at=moment,
            tool=tool,
            model="" if tool in ("db.describe", "approval.status") else model,
            principal=principal,
            tenant_id=tenant,
            run_id=f"load-run-{run}",
            reason="Load test: the customer asked" if tool.startswith("db.") else "",
            arguments={"model": model.split(".")[1], "where": {"id": pk}},
            outcome=outcome,
            error_code=code,
            error_message=f"{code}: refused in the load test" if code else "",
            affected_rows=1 if writes else None,
            changes=changes,
            duration_ms=round(rng.uniform(0.5, 12), 3),
        )


def audit_rows(count: int, now: dt.datetime, days: float, seed: int = 1) -> Iterator[AuditEvent]:
    """``count`` events of ``count / 20`` runs, which start evenly at random over the last
    ``days`` days before ``now``."""
    rng = random.Random(seed)
    runs = -(-count // EVENTS_PER_RUN)
    span = dt.timedelta(days=days).total_seconds()
    made = 0
    for run in range(runs):
        start = now - dt.timedelta(seconds=rng.uniform(EVENTS_PER_RUN * 20, span))
        for event in run_events(run, start, rng):
            if made == count:
                return
            made += 1
            yield event


def pending_approvals(count: int, now: dt.datetime, seed: int = 1) -> Iterator[ApprovalRequest]:
    """``count`` pending requests held over the last 14 days, each expiring 3 days after it
    was held (so the older ones are overdue)."""
    rng = random.Random(seed)
    for index in range(count):
        created = now - dt.timedelta(seconds=rng.uniform(60, 14 * 86400))
        model = MODELS[index % len(MODELS)]
        arguments = {
            "model": model.split(".")[1],
            "id": index,
            "data": {"status": "cancelled"},
            "reason": "Load test: cancel",
        }
        yield ApprovalRequest(
            id=new_id("appr"),
            created_at=created,
            expires_at=created + dt.timedelta(days=3),
            tool="db.update",
            model=model,
            call={"name": "db.update", "arguments": arguments},
            preview={"would_change": [{"id": index, "status_before": "paid", "status_after": "x"}]},
            affected_rows=1,
            reason="Load test: cancel",
            why_held="Updates of this model need one approval.",
            principal=f"agent:bot-{index % PRINCIPALS}",
            tenant_id=str(index % TENANTS + 1),
            run_id=f"load-approval-run-{index}",
        )


def insert(rows: Iterator[Any], model: type, batch: int) -> int:
    """Insert ``rows`` ``batch`` at a time, each batch in its own transaction."""
    done = 0
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == batch:
            with transaction.atomic():
                model.objects.bulk_create(chunk)
            done += len(chunk)
            chunk = []
    if chunk:
        with transaction.atomic():
            model.objects.bulk_create(chunk)
        done += len(chunk)
    return done


def analyze() -> None:
    """Fresh planner statistics (and, on PostgreSQL, a visibility map for index-only scans),
    as autovacuum would leave them after a bulk load."""
    tables = ("ormai_django_auditevent", "ormai_django_approvalrequest")
    with connection.cursor() as cursor:
        for table in tables:
            if connection.vendor == "postgresql":
                cursor.execute(f"VACUUM (ANALYZE) {table}")
            else:
                cursor.execute(f"ANALYZE {table}")


def admin_pages(run: AuditEvent | None) -> dict[str, str]:
    """The pages measured, by name: path and query string."""
    pages = {
        "audit list": "/admin/ormai_django/auditevent/",
        "audit list, one run": "/admin/ormai_django/auditevent/?run_id=load-run-7&tenant_id=8",
        "audit list, denied": "/admin/ormai_django/auditevent/?outcome__exact=denied",
        "dashboard": "/admin/ormai_django/auditevent/dashboard/",
        "approval queue": "/admin/ormai_django/approvalrequest/",
        "approval queue, pending": "/admin/ormai_django/approvalrequest/?status__exact=pending",
    }
    if run is not None:
        pages["run page"] = (
            f"/admin/ormai_django/auditevent/run/?tenant_id={run.tenant_id}&run_id={run.run_id}"
        )
    return pages


def measure_pages(user: Any, repeat: int = 5) -> list[dict[str, Any]]:
    """Each admin page's median server time (ms, through Django's test client, with the
    debug cursor off), its status and its queries (the SQL, for EXPLAIN)."""
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    sample = AuditEvent.objects.filter(run_id="load-run-7").first()
    results = []
    for name, url in admin_pages(sample).items():
        reset_queries()  # each request starts the log afresh; so does the capture
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        queries = [q["sql"] for q in captured.captured_queries]  # before the log is reset
        times = []
        with override_settings(DEBUG=False):
            for _ in range(repeat):
                started = time.perf_counter()
                client.get(url)
                times.append((time.perf_counter() - started) * 1000)
        results.append(
            {
                "page": name,
                "url": url,
                "status": response.status_code,
                "median_ms": round(statistics.median(times), 1),
                "max_ms": round(max(times), 1),
                "queries": queries,
            }
        )
    return results


def explain(sql: str) -> str:
    """The plan PostgreSQL (EXPLAIN ANALYZE) or SQLite (EXPLAIN QUERY PLAN) runs ``sql`` with."""
    prefix = (
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
        if connection.vendor == "postgresql"
        else "EXPLAIN QUERY PLAN "
    )
    with connection.cursor() as cursor:
        cursor.execute(prefix + sql)
        return "\n".join(" ".join(str(c) for c in row) for row in cursor.fetchall())
