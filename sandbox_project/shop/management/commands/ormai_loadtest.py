"""``python manage.py ormai_loadtest [--agents 8] [--calls 2000] [--workers 2] [--keep]``

Drives a real server (gunicorn on 127.0.0.1) over HTTP with concurrent simulated agents:
reads, writes with idempotency keys and deliberate retries, dry runs and held calls
through ``POST /ormai/tools/call/``, then the same single-row update through the tool
endpoint and a plain DRF bare-ORM endpoint. Prints throughput and p50/p99 latency per
surface, the mix, and a reconciliation against the database; exits non-zero when a check
fails. Needs PostgreSQL (``ORMAI_DB=postgres``; ``make loadtest``). It works in a scratch
database (``<NAME>_ormai_load``) dropped at the end unless ``--keep``. A benchmark, not a
test: see ``sandbox_project/shop/loadtest/`` and docs/integrations.md.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox_project.shop.loadtest.report import print_report
from sandbox_project.shop.loadtest.run import run_loadtest


class Command(BaseCommand):
    help = (
        "Load-test the HTTP tool endpoint with concurrent agents against a real gunicorn "
        "server on a scratch PostgreSQL database; compare a single-row update with a plain "
        "bare-ORM DRF endpoint; reconcile every acknowledged write with the database."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--agents", type=int, default=8, help="Concurrent simulated agents (default 8)."
        )
        parser.add_argument(
            "--calls",
            type=int,
            default=2000,
            help="Mixed tool calls in all, retries included; then as many single-row "
            "updates on each surface (default 2000).",
        )
        parser.add_argument(
            "--workers", type=int, default=2, help="gunicorn worker processes (default 2)."
        )
        parser.add_argument(
            "--threads", type=int, default=4, help="Threads per gunicorn worker (default 4)."
        )
        parser.add_argument(
            "--keep",
            action="store_true",
            help="Keep the scratch database (to look at its audit log) instead of dropping it.",
        )

    def handle(
        self,
        *args: Any,
        agents: int,
        calls: int,
        workers: int,
        threads: int,
        keep: bool,
        **options: Any,
    ) -> None:
        if min(agents, workers, threads) < 1:
            raise CommandError("--agents, --workers and --threads must be positive integers")
        if calls < 2 * agents:
            raise CommandError("--calls must be at least twice --agents (two calls per agent)")
        run = run_loadtest(
            agents=agents,
            calls=calls,
            workers=workers,
            threads=threads,
            keep=keep,
            progress=self.stdout.write,
        )
        print_report(run, agents, calls, self.stdout.write)
        failed = [check.name for check in run.checks if not check.ok]
        if failed:
            raise CommandError(f"reconciliation FAILED: {'; '.join(failed)}")
        self.stdout.write("")
        self.stdout.write(f"All {len(run.checks)} reconciliation checks ok.")
