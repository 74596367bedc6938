"""``python manage.py ormai_admin_load [--rows 1000000] [--approvals 10000] [--measure]``

Fills the configured database with a ledger the size of a busy deployment's, to see the
admin at scale: ``--rows`` audit events (runs of 20 events spread over ``--days`` days)
and ``--approvals`` pending approval requests, inserted in batches with ``bulk_create``.
Then, with ``--measure``, it times the admin's pages (audit list, dashboard, run page,
approval queue) through Django's test client as a superuser, prints their median server
time and number of queries, and with ``--explain`` the plan of each of their queries.

It adds to what is there; run it on a scratch database (``ORMAI_PG_NAME=...``), never on
one whose ledger matters: the rows are made up.
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.utils import timezone

from ormai_django.models import ApprovalRequest, AuditEvent
from sandbox_project.shop import admin_load

TARGET_MS = 300


class Command(BaseCommand):
    help = (
        "Insert made-up audit events and pending approvals in bulk (default 1,000,000 and "
        "10,000), then optionally time the admin's pages on them (--measure, --explain)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rows", type=int, default=1_000_000, help="Audit events to add.")
        parser.add_argument(
            "--approvals", type=int, default=10_000, help="Pending approvals to add."
        )
        parser.add_argument(
            "--days", type=float, default=90, help="Days back the runs are spread over."
        )
        parser.add_argument("--batch", type=int, default=5000, help="Rows per INSERT.")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--measure", action="store_true", help="Time the admin's pages.")
        parser.add_argument(
            "--explain", action="store_true", help="With --measure: print each query's plan."
        )
        parser.add_argument("--repeat", type=int, default=5, help="Timed loads of each page.")

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        started = time.perf_counter()
        rows = admin_load.audit_rows(options["rows"], now, options["days"], options["seed"])
        made = admin_load.insert(rows, AuditEvent, options["batch"])
        approvals = admin_load.pending_approvals(options["approvals"], now, options["seed"])
        held = admin_load.insert(approvals, ApprovalRequest, options["batch"])
        admin_load.analyze()
        self.stdout.write(
            f"Added {made:,} audit events and {held:,} pending approvals in "
            f"{time.perf_counter() - started:.1f} s ({connection.vendor}); the ledger has "
            f"{AuditEvent.objects.count():,} events."
        )
        if options["measure"]:
            self.measure(options["repeat"], options["explain"])

    def measure(self, repeat: int, explain: bool) -> None:
        user, _ = get_user_model().objects.get_or_create(
            username="ormai-admin-load", defaults={"is_staff": True, "is_superuser": True}
        )
        debug = connection.force_debug_cursor
        results = admin_load.measure_pages(user, repeat)
        connection.force_debug_cursor = debug
        self.stdout.write(f"{'page':<26} {'status':>6} {'median ms':>10} {'max ms':>8} queries")
        for page in results:
            self.stdout.write(
                f"{page['page']:<26} {page['status']:>6} {page['median_ms']:>10} "
                f"{page['max_ms']:>8} {len(page['queries']):>7}"
                + ("" if page["median_ms"] < TARGET_MS else f"  (over {TARGET_MS} ms)")
            )
        if explain:
            for page in results:
                self.stdout.write(f"\n== {page['page']} ({page['url']})")
                for sql in page["queries"]:
                    if "ormai_django_" not in sql or not sql.lstrip().upper().startswith("SELECT"):
                        continue
                    self.stdout.write(f"\n-- {sql}\n{admin_load.explain(sql)}")
