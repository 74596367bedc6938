"""``python manage.py ormai_bench [--format table|markdown|json] [--tiers 1,100,10000,100000]
[--repeat 15] [--check] [--write-docs [docs/performance.md]]``

Measures, in one run and on the database the settings point to, what the tool
pipeline costs over the bare ORM doing the same work: ``db.query``, ``db.get`` and
``db.aggregate`` (``sandbox_project/shop/bench/reads.py``), ``db.update`` of many rows
and of one (``bench/writes.py``), and the SQL statements one call issues, the audit
``INSERT`` included. Then, at each size tier (1, 100, 10,000 and 100,000 rows by
default), every write path side by side as a ratio to the bare ORM making the same
change: ormai_django's ``db.update``, ``db.delete`` (soft and hard), ``db.create`` and a
rollback of each, a domain tool, django-simple-history's ``bulk_update_with_history`` and
per-object ``save()``, and on PostgreSQL django-pghistory's row- and statement-level
triggers (``bench/tier_cases.py``, ``bench/libraries.py``); with the statements per write,
the growth of the time per row from 10,000 to 100,000 rows, and the peak memory of the big
tiers' ``db.update``.

By default the bench runs in a scratch database made from the project's migrations
(a temporary SQLite file, or ``<NAME>_ormai_bench`` on PostgreSQL) and dropped at
the end, so it leaves nothing behind; every call runs in autocommit, as in
production, so a write pays for its commit on both sides (``bench/measure.py`` says
how it times). ``--in-transaction`` runs on the configured database inside one
rolled-back transaction instead: quicker, but no write commits, which overstates
the write ratios (most on SQLite, whose bare update is then nearly free).
Timing runs with Django's debug cursor off (as in production: ``DEBUG`` would log every
statement and, on SQLite, quote its parameters with an extra query).

With ``--check`` the command exits non-zero when a target is missed (the issue's floor
targets included); without it, it only reports. ``--write-docs`` puts the markdown
results for this database between its markers in docs/performance.md and redraws
docs/img/performance.png. To add a path, see ``sandbox_project/shop/bench/__init__.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from sandbox_project.shop.bench import run_bench, run_tiers
from sandbox_project.shop.bench.machine import describe_machine, load_average
from sandbox_project.shop.bench.measure import scratch_database
from sandbox_project.shop.bench.report import collect, render_markdown, render_table
from sandbox_project.shop.bench.tiers import TIERS, rounds_for

DOCS = "docs/performance.md"


def parse_tiers(text: str) -> list[int]:
    if text.strip().lower() in ("", "none"):
        return []
    try:
        tiers = [int(part.replace("_", "")) for part in text.split(",")]
    except ValueError:
        raise CommandError(f"--tiers takes row counts like 1,100,10000, not {text!r}") from None
    if any(t < 1 for t in tiers):
        raise CommandError("--tiers: every row count must be a positive integer")
    return sorted(set(tiers))


class Command(BaseCommand):
    help = (
        "Measure the cost of the tools over the bare ORM (ratios, SQL statements per "
        "call, write paths at 1 to 100,000 rows beside django-simple-history and "
        "django-pghistory) in a scratch database made from the project's migrations (or, "
        "with --in-transaction, on the configured database inside a rolled-back transaction)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--rows", type=int, default=1000, help="Rows db.query returns (default 1000)."
        )
        parser.add_argument(
            "--repeat",
            type=int,
            default=15,
            help="Samples (A/B pairs) per path; the median is shown. The 10,000- and "
            "100,000-row tiers take at most 5 and 3.",
        )
        parser.add_argument(
            "--tiers",
            default=",".join(str(t) for t in TIERS),
            help="Row counts of the write-path tiers (default 1,100,10000,100000; 'none': "
            "leave the tiers out).",
        )
        parser.add_argument(
            "--format",
            choices=("table", "markdown", "json"),
            default="table",
            help="How to print the results (default table).",
        )
        parser.add_argument(
            "--write-docs",
            nargs="?",
            const=DOCS,
            default=None,
            metavar="PATH",
            help=f"Write the markdown results for this database into PATH (default {DOCS}) "
            "between its markers, and redraw the chart beside it (img/performance.png).",
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
        tiers: str,
        format: str,
        write_docs: str | None,
        **options: Any,
    ) -> None:
        tier_rows = parse_tiers(tiers)
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
        models["Note"] = apps.get_model("shop", "Note")
        progress = self.progress if options.get("verbosity", 1) >= 1 else None

        load_at_start = load_average()

        def measure_all() -> dict[str, Any]:
            timings, counts = run_bench(models, rows, repeat, write_rows, history_depth)
            tier_run = run_tiers(models, tier_rows, repeat, history_depth, progress)
            return {"timings": timings, "counts": counts, "tiers": tier_run}

        if in_transaction:
            with transaction.atomic():
                try:
                    measured = measure_all()
                    machine = describe_machine(load_at_start)
                finally:
                    transaction.set_rollback(True)  # the bench's rows and audit rows go away
            where = (
                f"inside one transaction on {connection.settings_dict['NAME']}, rolled back "
                "(commits are not measured)"
            )
        else:
            with scratch_database() as name:
                measured = measure_all()
                machine = describe_machine(load_at_start)
            where = f"in a scratch database ({name}), dropped at the end; every write commits"
        results = collect(
            vendor=connection.vendor,
            where=where,
            machine=machine,
            settings={
                "rows": rows,
                "repeat": repeat,
                "write_rows": write_rows,
                "history_depth": history_depth,
                "tiers": tier_rows,
                "rounds": {str(t): rounds_for(t, repeat) for t in tier_rows},
            },
            **measured,
        )
        self.report(results, format, check, write_docs)

    def progress(self, message: str) -> None:
        sys.stderr.write(f"ormai_bench: {message}\n")
        sys.stderr.flush()

    def report(
        self, results: dict[str, Any], format: str, check: bool, write_docs: str | None
    ) -> None:
        if format == "json":
            self.stdout.write(json.dumps(results, indent=2))
        else:
            render = render_markdown if format == "markdown" else render_table
            for line in render(results):
                self.stdout.write(line)
            self.stdout.write("")
            self.stdout.write(f"Measured {results['where']}; nothing was left in your database.")
        if write_docs:
            from sandbox_project.shop.bench.docs import write_docs as write

            path = Path(write_docs)
            if not path.is_absolute():
                path = Path(settings.BASE_DIR) / path
            for line in write(path, results):
                self.stderr.write(line)
        missed = results["missed"]
        if missed and check:
            raise CommandError("targets missed: " + "; ".join(missed))
        if missed and format != "json":
            self.stdout.write("Targets missed (use --check to fail on this): " + "; ".join(missed))
