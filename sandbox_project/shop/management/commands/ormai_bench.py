"""``python manage.py ormai_bench [--rows 1000] [--repeat 15] [--check]``

Measures, in one run and on the database the settings point to, what the tool
pipeline costs over the bare ORM doing the same work:

- ``db.query``: ``--rows`` rows of the sandbox ``Customer`` (email and phone
  masked, secrets denied) against
  ``list(Customer.objects.filter(tenant_id=7).order_by("id").values(<the same
  visible fields>)[:rows])``. Target: at most 2.0x.
- ``db.get``: one ``Customer`` by id against ``.filter(pk=...).values(...).first()``.
- ``db.aggregate``: count and sum of ``Order`` grouped by ``status`` against
  ``.values("status").annotate(...)``.
- The SQL statements one call issues, the audit ``INSERT`` included: ``db.get``
  (target: at most 3), ``db.query`` and ``db.aggregate``.

Method: the bench makes a scratch database from the project's migrations (a
temporary SQLite file, or ``<NAME>_ormai_bench`` on PostgreSQL), creates its own
rows there (``bulk_create``) and drops it at the end, so it leaves nothing behind;
every call runs in autocommit, as in production, so a write pays for its commit on
both sides. ``--in-transaction`` runs on the configured database inside one
rolled-back transaction instead: quicker, but no write commits, which overstates
the write ratios (most on SQLite, whose bare update is then nearly free).
Each case is checked first (both paths must return the same rows), warmed up,
then timed with ``time.perf_counter`` in A/B pairs whose order alternates; each
sample runs the path enough times to take ~10 ms. The table shows the median time
per call of each path over ``--repeat`` samples, and the median of the pairs'
tool/bare ratios (a pair is measured back to back, so a load spike on the machine
weighs on both of its sides). Timing runs with Django's debug cursor off (as in
production: ``DEBUG`` would log every statement and, on SQLite, quote its
parameters with an extra query); statement counts use ``CaptureQueriesContext``.
The policy is built here with ``PolicyBuilder``: the sandbox's reading rules
(same deny and mask rules, tenant scope) and ``row_limits(max=max(1000, rows))``.

With ``--check`` the command exits non-zero when a target is missed; without it,
it only reports. To add a path (a write, say), add a function to ``CASE_BUILDERS``
that returns ``Case`` objects: a name, a bare callable, a tool callable, an
optional target ratio and an ``agree`` check.
"""

from __future__ import annotations

import gc
import math
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from ormai_django.context import ToolContext
from ormai_django.policy.builder import PolicyBuilder
from ormai_django.policy.policy import Policy
from ormai_django.policy.profiles import DEFAULT_PROD
from ormai_django.runtime import execute
from sandbox_project.shop.bench_writes import write_cases, write_statement_cases

TENANT = 7
OTHER_TENANT = 8
QUERY_TARGET = 2.0
GET_STATEMENTS_TARGET = 3
SAMPLE_SECONDS = 0.01
WARMUP_CALLS = 3
ORDER_STATUSES = ("pending", "paid", "shipped", "cancelled", "refunded")


@dataclass(frozen=True)
class Case:
    """One timed path: the bare ORM doing some work and the tool doing the same work."""

    name: str
    bare: Callable[[], Any]
    tool: Callable[[], dict[str, Any]]
    target: float | None = None  # the largest tool/bare ratio allowed; None: reported only
    agree: Callable[[Any, dict[str, Any]], bool] = lambda bare, tool: tool["outcome"] == "ok"


@dataclass(frozen=True)
class StatementCase:
    """One tool call whose SQL statements are counted (the audit INSERT included)."""

    name: str
    call: Callable[[], dict[str, Any]]
    target: int | None = None  # the most statements allowed; None: reported only


@dataclass
class Bench:
    """What the case builders work with: the models, the policy, the context, the data."""

    models: dict[str, type]
    policy: Policy
    context: ToolContext
    rows: int
    customer_ids: list[int]
    write_rows: int = 10_000

    def tool(self, name: str, **arguments: Any) -> Callable[[], dict[str, Any]]:
        return partial(execute, {"name": name, "arguments": arguments}, self.context, self.policy)

    def visible_fields(self, model: type) -> tuple[str, ...]:
        return self.policy.for_model(model).visible_field_names


def bench_policy(rows: int) -> Policy:
    """The sandbox policy's reading rules, with pages as large as the bench reads, and
    writes open on the fields the write cases change (no rate limit, no blast-radius cap)."""
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Customer", "shop.Subscription", "shop.Order", "shop.Note"])
        .deny_fields("*password*", "*secret*", "*token*")
        .mask_fields(["customer.email", "customer.phone"])
        .tenant_scope("tenant_id")
        .row_limits(max=max(1000, rows))
        .enable_writes(
            models=["Customer", "Order"],
            writable_fields={"Customer": ["preferred_name"], "Order": ["status"]},
            max_affected_rows=1_000_000,
        )
        .build()
    )


def create_data(models: dict[str, type], rows: int) -> list[int]:
    """``rows`` customers and orders in the bench tenant, a few in another; the tenant's ids."""
    customer, order = models["Customer"], models["Order"]
    now = timezone.now()
    made = customer.objects.bulk_create(
        customer(
            tenant_id=TENANT if i < rows else OTHER_TENANT,
            name=f"Bench Customer {i}",
            preferred_language="en",
            email=f"bench.customer{i}@example.com",
            phone=f"+1 415 555 {i % 10_000:04d}",
            password_hash=f"pbkdf2_sha256$bench{i}",
            api_token=f"tok_bench_{i}",
            is_vip=i % 7 == 0,
            created_at=now - timedelta(minutes=i),
        )
        for i in range(rows + max(1, rows // 10))
    )
    ids = [c.pk for c in made if c.tenant_id == TENANT]
    if None in ids:  # backends that don't return ids from bulk_create (MySQL)
        ids = list(customer.objects.filter(tenant_id=TENANT).values_list("id", flat=True))
    order.objects.bulk_create(
        order(
            tenant_id=TENANT,
            customer_id=ids[i % len(ids)],
            status=ORDER_STATUSES[i % len(ORDER_STATUSES)],
            total_cents=1_000 + i,
            currency="EUR",
            created_at=now - timedelta(minutes=i),
        )
        for i in range(rows)
    )
    return ids


def read_cases(bench: Bench) -> list[Case]:
    customer, order = bench.models["Customer"], bench.models["Order"]
    fields = bench.visible_fields(customer)
    rows = bench.rows
    pk = bench.customer_ids[len(bench.customer_ids) // 2]

    def same_ids(bare: list[dict[str, Any]], tool: dict[str, Any]) -> bool:
        if tool["outcome"] != "ok" or [r["id"] for r in tool["rows"]] != [r["id"] for r in bare]:
            return False
        # The tool must be doing the masking work the case is named after.
        return any(t["email"] != b["email"] for t, b in zip(tool["rows"], bare, strict=True))

    def same_groups(bare: list[dict[str, Any]], tool: dict[str, Any]) -> bool:
        if tool["outcome"] != "ok":
            return False
        return {g["status"]: g["n"] for g in tool["groups"]} == {r["status"]: r["n"] for r in bare}

    aggregations = {"n": {"count": "id"}, "total": {"sum": "total_cents"}}
    return [
        Case(
            f"db.query {rows} rows, masked",
            lambda: list(
                customer.objects.filter(tenant_id=TENANT).order_by("id").values(*fields)[:rows]
            ),
            bench.tool("db.query", model="Customer", limit=rows),
            target=QUERY_TARGET,
            agree=same_ids,
        ),
        Case(
            "db.get 1 row, masked",
            lambda: customer.objects.filter(tenant_id=TENANT, pk=pk).values(*fields).first(),
            bench.tool("db.get", model="Customer", id=pk),
            agree=lambda bare, tool: tool["outcome"] == "ok" and tool["row"]["id"] == bare["id"],
        ),
        Case(
            "db.aggregate group_by status",
            lambda: list(
                order.objects.filter(tenant_id=TENANT)
                .values("status")
                .annotate(n=Count("id"), total=Sum("total_cents"))
                .order_by("status")
            ),
            bench.tool("db.aggregate", model="Order", group_by="status", aggregations=aggregations),
            agree=same_groups,
        ),
    ]


def read_statement_cases(bench: Bench) -> list[StatementCase]:
    pk = bench.customer_ids[0]
    return [
        StatementCase(
            "db.get", bench.tool("db.get", model="Customer", id=pk), GET_STATEMENTS_TARGET
        ),
        StatementCase(
            f"db.query ({bench.rows} rows)",
            bench.tool("db.query", model="Customer", limit=bench.rows),
        ),
        StatementCase(
            "db.aggregate",
            bench.tool(
                "db.aggregate",
                model="Order",
                group_by="status",
                aggregations={"n": {"count": "id"}},
            ),
        ),
    ]


# Each builder turns the bench's data into cases.
CASE_BUILDERS: list[Callable[[Bench], list[Case]]] = [read_cases, write_cases]
STATEMENT_BUILDERS: list[Callable[[Bench], list[StatementCase]]] = [
    read_statement_cases,
    write_statement_cases,
]
# Transaction control is not work the call does (and inside the bench's transaction
# BEGIN/COMMIT become savepoints).
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def _sample(fn: Callable[[], Any], inner: int) -> float:
    """Seconds per call of ``fn``, over ``inner`` calls."""
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def measure(case: Case, repeat: int) -> tuple[float, float, float]:
    """Median seconds per call of each path, and the median of the A/B pairs' ratios."""
    bare_result, tool_result = case.bare(), case.tool()
    if not case.agree(bare_result, tool_result):
        raise CommandError(
            f"{case.name}: the tool and the bare ORM don't return the same thing "
            f"(tool outcome {tool_result.get('outcome')!r}, error {tool_result.get('error')}); "
            "the bench would compare different work."
        )
    for _ in range(WARMUP_CALLS):
        case.bare()
        case.tool()
    inner = max(1, min(1000, math.ceil(SAMPLE_SECONDS / max(_sample(case.bare, 1), 1e-7))))
    bare_times: list[float] = []
    tool_times: list[float] = []
    gc.collect()
    for i in range(repeat):
        pairs = [(case.bare, bare_times), (case.tool, tool_times)]
        for fn, out in pairs if i % 2 == 0 else reversed(pairs):
            out.append(_sample(fn, inner))
    # A ratio per adjacent pair: a load spike on the machine hits both sides of a pair.
    ratio = statistics.median(t / b for b, t in zip(bare_times, tool_times, strict=True))
    return statistics.median(bare_times), statistics.median(tool_times), ratio


def count_statements(case: StatementCase) -> int:
    with CaptureQueriesContext(connection) as captured:
        result = case.call()
    if result["outcome"] != "ok":
        raise CommandError(f"{case.name}: expected outcome ok, got {result}")
    return sum(1 for q in captured.captured_queries if not q["sql"].startswith(TRANSACTION_CONTROL))


@contextmanager
def scratch_database() -> Iterator[str]:
    """A throwaway database with the project's migrations, made and dropped the way Django's
    test runner does: a temporary file for SQLite, ``<NAME>_ormai_bench`` for PostgreSQL."""
    test_settings = connection.settings_dict.setdefault("TEST", {})
    saved = test_settings.get("NAME")
    old_name = connection.settings_dict["NAME"]
    folder = tempfile.mkdtemp(prefix="ormai_bench_")
    if connection.vendor == "sqlite":
        # A file, as a deployed SQLite database is (in memory, commits would cost nothing).
        test_settings["NAME"] = os.path.join(folder, "bench.sqlite3")
    else:
        test_settings["NAME"] = f"{old_name}_ormai_bench"
    try:
        name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        try:
            yield name
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)
    finally:
        test_settings["NAME"] = saved
        shutil.rmtree(folder, ignore_errors=True)


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
        check: bool,
        in_transaction: bool,
        **options: Any,
    ) -> None:
        if rows < 1 or repeat < 1 or write_rows < 1:
            raise CommandError("--rows, --write-rows and --repeat must be positive integers")
        try:
            models = {name: apps.get_model("shop", name) for name in ("Customer", "Order")}
        except LookupError:
            raise CommandError(
                "ormai_bench measures the sandbox's shop app; run it in sandbox_project"
            ) from None
        if in_transaction:
            with transaction.atomic():
                try:
                    timings, counts = self.run_bench(models, rows, repeat, write_rows)
                finally:
                    transaction.set_rollback(True)  # the bench's rows and audit rows go away
            self.where = (
                f"inside one transaction on {connection.settings_dict['NAME']}, rolled back "
                "(commits are not measured)"
            )
        else:
            with scratch_database() as name:
                timings, counts = self.run_bench(models, rows, repeat, write_rows)
            self.where = f"in a scratch database ({name}), dropped at the end; every write commits"
        self.report(rows, repeat, timings, counts, check)

    def run_bench(
        self, models: dict[str, type], rows: int, repeat: int, write_rows: int
    ) -> tuple[list[tuple[Case, float, float, float]], list[tuple[StatementCase, int]]]:
        policy = bench_policy(rows)
        masked = {n for n, f in policy.for_model(models["Customer"]).fields.items() if f.masked}
        if masked != {"email", "phone"}:
            raise CommandError(f"the bench policy masks {sorted(masked)}, not email and phone")
        bench = Bench(
            models=models,
            policy=policy,
            context=ToolContext(principal="agent:ormai-bench", tenant_id=TENANT, run_id="bench"),
            rows=rows,
            customer_ids=create_data(models, rows),
            write_rows=write_rows,
        )
        counts = [(c, count_statements(c)) for b in STATEMENT_BUILDERS for c in b(bench)]
        # Timed as in production: the debug cursor (DEBUG=True) adds work to every statement.
        with override_settings(DEBUG=False):
            timings = [(c, *measure(c, repeat)) for b in CASE_BUILDERS for c in b(bench)]
        return timings, counts

    def report(
        self,
        rows: int,
        repeat: int,
        timings: list[tuple[Case, float, float, float]],
        counts: list[tuple[StatementCase, int]],
        check: bool,
    ) -> None:
        write = self.stdout.write
        missed: list[str] = []
        write(
            f"ormai_bench on {connection.vendor} ({connection.settings_dict['NAME']}), "
            f"{rows} rows, median of {repeat} A/B pairs (ratio: median of the pairs' ratios)"
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
