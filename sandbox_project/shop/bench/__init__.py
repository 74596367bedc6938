"""The benchmark of ``python manage.py ormai_bench``: what the tools cost over the bare ORM.

``run_bench`` creates the bench's rows on the current database, counts the
statements of each ``StatementCase`` and times each ``Case``. To add a path (a
delete, say), add a function to ``CASE_BUILDERS`` (or ``STATEMENT_BUILDERS``) that
returns ``Case`` objects: a name, a bare callable, a tool callable, an optional
target ratio and an ``agree`` check; see ``reads.py`` and ``writes.py``.

``run_tiers`` measures the write paths at each size tier (``tiers.py``): ormai_django's and a
domain tool's (``tier_cases.py``) beside django-simple-history and django-pghistory
(``libraries.py``), and the peak memory of the big tiers' ``db.update``. To add a path
there, add a ``TierCase`` to one of those builders. ``report.py`` prints the results as a
table, markdown or JSON; ``docs.py`` writes them into docs/performance.md.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import override_settings

from ormai_django.context import ToolContext
from sandbox_project.shop.bench.cases import (
    TENANT,
    Bench,
    Case,
    StatementCase,
    bench_policy,
    create_data,
)
from sandbox_project.shop.bench.domain import domain_cases, domain_statement_cases
from sandbox_project.shop.bench.libraries import (
    pghistory_cases,
    pghistory_unavailable,
    simple_history_cases,
)
from sandbox_project.shop.bench.measure import count_statements, measure
from sandbox_project.shop.bench.reads import read_cases, read_statement_cases
from sandbox_project.shop.bench.shadow import shadow_cases
from sandbox_project.shop.bench.tier_cases import ormai_tier_cases
from sandbox_project.shop.bench.tier_data import create_tier
from sandbox_project.shop.bench.tiers import (
    MemoryResult,
    Skipped,
    TierCase,
    TierRun,
    measure_tier,
    peak_memory,
    rounds_for,
)
from sandbox_project.shop.bench.writes import write_cases, write_statement_cases

# Each builder turns the bench's data into cases.
CASE_BUILDERS: list[Callable[[Bench], list[Case]]] = [
    read_cases,
    write_cases,
    domain_cases,
    shadow_cases,
]
STATEMENT_BUILDERS: list[Callable[[Bench], list[StatementCase]]] = [
    read_statement_cases,
    write_statement_cases,
    domain_statement_cases,
]

# Per case: the case, bare and tool seconds per call, the median tool/bare ratio.
Timings = list[tuple[Case, float, float, float]]
# Per call: the case and its SQL statements.
Counts = list[tuple[StatementCase, int]]


def run_bench(
    models: dict[str, type], rows: int, repeat: int, write_rows: int, history_depth: int = 3
) -> tuple[Timings, Counts]:
    """Create the bench's data on the current database, then count and time every case."""
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
        history_depth=history_depth,
    )
    counts = [(c, count_statements(c)) for b in STATEMENT_BUILDERS for c in b(bench)]
    # Timed as in production: the debug cursor (DEBUG=True) adds work to every statement.
    with override_settings(DEBUG=False):
        timings = [(c, *measure(c, repeat)) for b in CASE_BUILDERS for c in b(bench)]
    return timings, counts


def run_tiers(
    models: dict[str, type],
    tiers: list[int],
    repeat: int,
    history_depth: int = 3,
    progress: Callable[[str], None] | None = None,
) -> TierRun:
    """Measure every write path at each tier, on the current database (rows made per tier)."""
    run = TierRun()
    models = {**models, "Note": models.get("Note") or _note_model()}
    vendor = connection.vendor
    unavailable = pghistory_unavailable()
    if unavailable:
        run.notes.append(unavailable)
    for index, rows in enumerate(tiers):
        tier = create_tier(models, index, rows, history_depth)
        cases, skipped = ormai_tier_cases(tier, vendor)
        library_cases, library_skipped = simple_history_cases(tier)
        cases += library_cases
        if unavailable is None:
            pghistory, pghistory_skipped = pghistory_cases(tier)
            cases += pghistory
            library_skipped += pghistory_skipped
        rounds = rounds_for(rows, repeat)
        with override_settings(DEBUG=False):
            for case in cases:
                if progress:
                    progress(f"{rows:>7} rows  {case.library}: {case.name}")
                run.results.append(measure_tier(case, rounds))
            if rows >= 10_000:
                run.memory.append(_memory(cases, rows))
        run.skipped += [Skipped(n, lib, rows, why) for n, lib, why in skipped + library_skipped]
    return run


def _memory(cases: list[TierCase], rows: int) -> MemoryResult:
    update = next(c for c in cases if c.name == "db.update" and c.library == "ormai_django")
    return MemoryResult(rows, peak_memory(update.tool), peak_memory(update.bare))


def _note_model() -> type:
    from django.apps import apps

    return apps.get_model("shop", "Note")
