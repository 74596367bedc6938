"""How the bench measures: timings in A/B pairs, statement counts, and a scratch database.

The bench makes a scratch database from the project's migrations (a temporary
SQLite file, or ``<NAME>_ormai_bench`` on PostgreSQL), creates its own rows there
and drops it at the end, so it leaves nothing behind; every call runs in
autocommit, as in production, so a write pays for its commit on both sides.
Each case is checked first (both paths must return the same rows), warmed up,
then timed with ``time.perf_counter`` in A/B pairs whose order alternates; each
sample runs the path enough times to take ~10 ms. A case's result is the median
time per call of each path over the samples, and the median of the pairs'
tool/bare ratios (a pair is measured back to back, so a load spike on the machine
weighs on both of its sides). A case's ``setup`` runs before each tool call and its
``reset`` after it, both untimed: the write cases use ``reset`` to put the history table
back as the case found it, so every sample writes into the same table (see
``bench/writes.py``). Statement counts use ``CaptureQueriesContext``.
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
from typing import Any

from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sandbox_project.shop.bench.cases import Case, StatementCase

SAMPLE_SECONDS = 0.01
WARMUP_CALLS = 3
# Transaction control is not work the call does (and inside the bench's transaction
# BEGIN/COMMIT become savepoints).
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def _sample(
    fn: Callable[[], Any],
    inner: int,
    setup: Callable[[], Any] | None = None,
    reset: Callable[[], Any] | None = None,
) -> float:
    """Seconds per call of ``fn``, over ``inner`` calls (``setup`` before each and ``reset``
    after each, untimed)."""
    if setup is None and reset is None:
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        return (time.perf_counter() - start) / inner
    total = 0.0
    for _ in range(inner):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        total += time.perf_counter() - start
        if reset is not None:
            reset()
    return total / inner


def measure(case: Case, repeat: int) -> tuple[float, float, float]:
    """Median seconds per call of each path, and the median of the A/B pairs' ratios."""

    def tool() -> dict[str, Any]:
        if case.setup is not None:
            case.setup()
        try:
            return case.tool()
        finally:
            if case.reset is not None:
                case.reset()

    bare_result, tool_result = case.bare(), tool()
    if not case.agree(bare_result, tool_result):
        raise CommandError(
            f"{case.name}: the tool and the bare ORM don't return the same thing "
            f"(tool outcome {tool_result.get('outcome')!r}, error {tool_result.get('error')}); "
            "the bench would compare different work."
        )
    for _ in range(WARMUP_CALLS):
        case.bare()
        tool()
    inner = max(1, min(1000, math.ceil(SAMPLE_SECONDS / max(_sample(case.bare, 1), 1e-7))))
    bare_times: list[float] = []
    tool_times: list[float] = []
    gc.collect()
    for i in range(repeat):
        pairs = [
            (case.bare, None, None, bare_times),
            (case.tool, case.setup, case.reset, tool_times),
        ]
        for fn, setup, reset, out in pairs if i % 2 == 0 else reversed(pairs):
            out.append(_sample(fn, inner, setup, reset))
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
