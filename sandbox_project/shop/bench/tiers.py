"""The bench's size tiers: each write path measured at 1, 100, 10,000 and 100,000 rows.

A ``TierCase`` is one change done two ways at one size: the bare ORM (``bare``) and a
library's path to the same change (``tool``: ormai_django, a domain tool,
django-simple-history, django-pghistory). Each side is a ``Side``: what is timed (``run``,
which returns how many rows it changed), and what runs untimed before and after each run
(``prepare``, ``cleanup``: making the rows a delete removes, putting the history table back).

``measure_tier`` checks both sides change the same number of rows, counts the tool side's
SQL statements on that first call, then times both sides in A/B pairs whose order
alternates (as ``measure.measure`` does); small tiers repeat each side in a sample until it
takes ~10 ms. A result is the median tool/bare ratio of the pairs, its p25-p75, and the
median seconds per call of each side. ``growth`` compares the tool's time per row at
100,000 rows with the time per row at 10,000.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.management.base import CommandError
from django.db import connection

from sandbox_project.shop.bench.measure import SAMPLE_SECONDS, TRANSACTION_CONTROL

TIERS = (1, 100, 10_000, 100_000)
# Rounds (A/B pairs) at the big tiers: a 100,000-row round of every case takes seconds.
ROUNDS_CAP = {10_000: 3, 100_000: 2}
MAX_INNER = 5
# Per-row time at 100,000 rows over the time at 10,000: above this, worse than linear.
LINEAR_GROWTH = 1.1
# Peak memory at 100,000 rows over the peak at 10,000: above this, the write holds rows.
FLAT_MEMORY = 2.0


@dataclass(frozen=True)
class Side:
    run: Callable[[], int]
    prepare: Callable[[], Any] | None = None
    cleanup: Callable[[], Any] | None = None


@dataclass(frozen=True)
class TierCase:
    name: str
    library: str  # "ormai_django", "domain tool", "django-simple-history", "django-pghistory"
    baseline: str  # what the bare side does, e.g. "QuerySet.update()"
    rows: int
    bare: Side
    tool: Side
    target: float | None = None  # the largest ratio allowed at this tier; None: reported only
    max_rounds: int | None = None  # fewer rounds for a path that takes a minute a call


@dataclass
class TierResult:
    case: TierCase
    rounds: int
    bare_seconds: float
    tool_seconds: float
    ratio: float
    ratio_p25: float
    ratio_p75: float
    statements: int

    @property
    def per_row_us(self) -> float:
        return self.tool_seconds / self.case.rows * 1e6


@dataclass
class Skipped:
    name: str
    library: str
    rows: int
    why: str


@dataclass
class MemoryResult:
    rows: int
    tool_peak_bytes: int
    bare_peak_bytes: int


@dataclass
class TierRun:
    """Everything the tier matrix measured, in the order it ran."""

    results: list[TierResult] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    memory: list[MemoryResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # whole groups left out, and why


def rounds_for(rows: int, repeat: int) -> int:
    return min(repeat, ROUNDS_CAP.get(rows, repeat)) if rows >= 10_000 else repeat


class StatementCounter:
    """Counts the SQL statements run through the connection (transaction control left out);
    an execute wrapper, so unlike ``CaptureQueriesContext`` it keeps no SQL and has no cap."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if not sql.lstrip().startswith(TRANSACTION_CONTROL):
            self.count += 1
        return execute(sql, params, many, context)


def _timed(side: Side, inner: int) -> float:
    total = 0.0
    for _ in range(inner):
        if side.prepare is not None:
            side.prepare()
        start = time.perf_counter()
        side.run()
        total += time.perf_counter() - start
        if side.cleanup is not None:
            side.cleanup()
    return total / inner


def _quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def _first(side: Side, counter: StatementCounter | None = None) -> tuple[int, float]:
    """The first, checked run: the rows it changed and its seconds (prepare and cleanup not
    timed; the statement counter's cost is a function call per statement)."""
    if side.prepare is not None:
        side.prepare()
    try:
        start = time.perf_counter()
        changed = _run(side, counter)
        return changed, time.perf_counter() - start
    finally:
        if side.cleanup is not None:
            side.cleanup()


def _run(side: Side, counter: StatementCounter | None) -> int:
    if counter is None:
        return side.run()
    with connection.execute_wrapper(counter):
        return side.run()


def measure_tier(case: TierCase, rounds: int) -> TierResult:
    """Check, count and time ``case``. At 10,000 rows and more the checked first pair is
    the first round (a call there takes long enough that one run is a sample)."""
    if case.max_rounds is not None:
        rounds = min(rounds, case.max_rounds)
    bare_rows, bare_first = _first(case.bare)
    counter = StatementCounter()
    tool_rows, tool_first = _first(case.tool, counter)
    if bare_rows != case.rows or tool_rows != case.rows:
        raise CommandError(
            f"{case.name} ({case.rows} rows): the bare side changed {bare_rows} rows and the "
            f"tool side {tool_rows}; the bench would compare different work."
        )
    inner = max(1, min(MAX_INNER, math.ceil(SAMPLE_SECONDS / max(bare_first, 1e-7))))
    if case.rows >= 10_000:
        inner = 1
    # Round 0 runs the bare side first; so do the even rounds after it.
    big = case.rows >= 10_000
    bare_times: list[float] = [bare_first] if big else []
    tool_times: list[float] = [tool_first] if big else []
    gc.collect()
    for i in range(1 if big else 0, rounds):
        pairs = [(case.bare, bare_times), (case.tool, tool_times)]
        for side, out in pairs if i % 2 == 0 else reversed(pairs):
            out.append(_timed(side, inner))
    ratios = [t / b for b, t in zip(bare_times, tool_times, strict=True)]
    p25, p75 = _quartiles(ratios)
    return TierResult(
        case=case,
        rounds=rounds,
        bare_seconds=statistics.median(bare_times),
        tool_seconds=statistics.median(tool_times),
        ratio=statistics.median(ratios),
        ratio_p25=p25,
        ratio_p75=p75,
        statements=counter.count,
    )


def peak_memory(side: Side) -> int:
    """Peak bytes ``tracemalloc`` sees allocated during one ``run`` (prepare and cleanup
    outside it)."""
    if side.prepare is not None:
        side.prepare()
    gc.collect()
    tracemalloc.start()
    try:
        side.run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        if side.cleanup is not None:
            side.cleanup()
    return peak


def growth(results: list[TierResult], name: str, library: str) -> float | None:
    """Time per row at 100,000 rows over time per row at 10,000 (None: not both measured)."""
    per_row = {
        r.case.rows: r.per_row_us
        for r in results
        if r.case.name == name and r.case.library == library
    }
    if 10_000 in per_row and 100_000 in per_row:
        return per_row[100_000] / per_row[10_000]
    return None


def memory_growth(memory: list[MemoryResult]) -> float | None:
    peaks = {m.rows: m.tool_peak_bytes for m in memory}
    if 10_000 in peaks and 100_000 in peaks and peaks[10_000]:
        return peaks[100_000] / peaks[10_000]
    return None
