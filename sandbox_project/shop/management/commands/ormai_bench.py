"""``python manage.py ormai_bench [--rows 1000] [--repeat 15] [--check]``

Measures, in one run and on the database the settings point to, what the tool
pipeline costs over the bare ORM doing the same work: ``db.query``, ``db.get`` and
``db.aggregate`` (``sandbox_project/shop/bench/reads.py``), ``db.update`` of many rows
and of one (``bench/writes.py``), and the SQL statements one call issues, the audit
``INSERT`` included.

By default the bench runs in a scratch database made from the project's migrations
(a temporary SQLite file, or ``<NAME>_ormai_bench`` on PostgreSQL) and dropped at
the end, so it leaves nothing behind; every call runs in autocommit, as in
production, so a write pays for its commit on both sides (``bench/measure.py`` says
how it times). ``--in-transaction`` runs on the configured database inside one
rolled-back transaction instead: quicker, but no write commits, which overstates
the write ratios (most on SQLite, whose bare update is then nearly free).
The table shows the median time per call of each path over ``--repeat`` samples,
and the median of the pairs' tool/bare ratios. Timing runs with Django's debug
cursor off (as in production: ``DEBUG`` would log every statement and, on SQLite,
quote its parameters with an extra query).

With ``--check`` the command exits non-zero when a target is missed; without it,
it only reports. To add a path, see ``sandbox_project/shop/bench/__init__.py``.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from sandbox_project.shop.bench import Counts, Timings, run_bench
from sandbox_project.shop.bench.measure import scratch_database


class Command(BaseCommand):
    help = (
        "Measure the cost of the tools over the bare ORM (ratios, SQL statements per "
        "call) in a scratch database made from the project's migrations (or, with "
        "--in-transaction, on the configured database inside a rolled-back transaction)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--rows", type=int, default=1000, help="Rows db.query returns (default 1000)."
        )
        parser.add_argument(
            "--repeat", type=int, default=15, help="Samples per path; the median is shown."
        )
        parser.add_argument(
            "--write-rows",
            type=int,
            default=10_000,
            help="Rows the bulk db.update case changes (default 10000).",
        )
        parser.add_argument(
            "--history-depth",
            type=int,
            default=3,
            help="History rows each bench order has before the write cases (default 3); the "
            "rows a timed call adds are deleted after it, untimed, so every sample writes into "
            "a history table of this size.",
        )
        parser.add_argument(
            "--check", action="store_true", help="Exit non-zero when a target is missed."
        )
        parser.add_argument(
            "--in-transaction",
            action="store_true",
            help="Run on the configured database inside one rolled-back transaction (quick, "
            "but no write commits, so write ratios are overstated) instead of a scratch one.",
        )

    def handle(
        self,
        *args: Any,
        rows: int,
        repeat: int,
        write_rows: int,
        history_depth: int,
        check: bool,
        in_transaction: bool,
        **options: Any,
    ) -> None:
        if rows < 1 or repeat < 1 or write_rows < 1:
            raise CommandError("--rows, --write-rows and --repeat must be positive integers")
        if history_depth < 0:
            raise CommandError("--history-depth must be zero or a positive integer")
        try:
            models = {name: apps.get_model("shop", name) for name in ("Customer", "Order")}
        except LookupError:
            raise CommandError(
                "ormai_bench measures the sandbox's shop app; run it in sandbox_project"
            ) from None
        self.write_rows, self.history_depth = write_rows, history_depth
        if in_transaction:
            with transaction.atomic():
                try:
                    timings, counts = run_bench(models, rows, repeat, write_rows, history_depth)
                finally:
                    transaction.set_rollback(True)  # the bench's rows and audit rows go away
            self.where = (
                f"inside one transaction on {connection.settings_dict['NAME']}, rolled back "
                "(commits are not measured)"
            )
        else:
            with scratch_database() as name:
                timings, counts = run_bench(models, rows, repeat, write_rows, history_depth)
            self.where = f"in a scratch database ({name}), dropped at the end; every write commits"
        self.report(rows, repeat, timings, counts, check)

    def report(
        self,
        rows: int,
        repeat: int,
        timings: Timings,
        counts: Counts,
        check: bool,
    ) -> None:
        write = self.stdout.write
        missed: list[str] = []
        write(
            f"ormai_bench on {connection.vendor} ({connection.settings_dict['NAME']}), "
            f"{rows} rows, median of {repeat} A/B pairs (ratio: median of the pairs' ratios)"
        )
        write(
            f"Bulk write cases: {self.write_rows} orders with {self.history_depth} history rows "
            "each; every timed call writes into a history table of that size."
        )
        write("")
        write(f"{'case':<34} {'bare ms':>9} {'tool ms':>9} {'ratio':>8}  {'target':<9} status")
        for case, bare, tool, ratio in timings:
            target, status = "-", ""
            if case.target is not None:
                target, status = f"<= {case.target:.1f}x", "ok"
                if ratio > case.target:
                    status = "MISSED"
                    missed.append(f"{case.name}: {ratio:.2f}x > {case.target:.1f}x")
            write(
                f"{case.name:<34} {bare * 1000:>9.3f} {tool * 1000:>9.3f} {ratio:>7.2f}x"
                f"  {target:<9} {status}".rstrip()
            )
        write("")
        write(f"{'SQL statements per call':<34} {'count':>9}  {'target':<9} status")
        for case, n in counts:
            target, status = "-", ""
            if case.target is not None:
                target, status = f"<= {case.target}", "ok"
                if n > case.target:
                    status = "MISSED"
                    missed.append(f"{case.name}: {n} statements > {case.target}")
            write(f"{case.name:<34} {n:>9}  {target:<9} {status}".rstrip())
        write("")
        write(f"Measured {self.where}; nothing was left in your database.")
        if missed and check:
            raise CommandError("targets missed: " + "; ".join(missed))
        if missed:
            write("Targets missed (use --check to fail on this): " + "; ".join(missed))
