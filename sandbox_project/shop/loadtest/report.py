"""What the load test prints: the setup, the mix, the figures per surface, the checks.

Latency is per call, from sending the request to reading the last byte of the answer,
on the client; p50 and p99 are nearest-rank percentiles. Throughput is a phase's calls
over its wall time (all agents at once).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sandbox_project.shop.loadtest.agents import (
    MIX,
    PLAIN,
    PLAIN_UPDATE,
    RETRY_OF,
    TOOL,
    UPDATE,
    Call,
)
from sandbox_project.shop.loadtest.run import MIXED, LoadTestRun

KIND_ORDER = [*MIX, *RETRY_OF.values(), PLAIN_UPDATE]


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0-100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass(frozen=True)
class Figures:
    """One surface's line: its calls, wall time (None: calls within a mixed phase, whose
    throughput is not their own), p50 and p99 in seconds."""

    label: str
    calls: int
    seconds: float | None
    p50: float
    p99: float

    @property
    def per_second(self) -> float | None:
        return None if not self.seconds else self.calls / self.seconds


def figures(label: str, calls: list[Call], seconds: float | None) -> Figures:
    latencies = [c.seconds for c in calls if c.status] or [math.nan]
    return Figures(label, len(calls), seconds, percentile(latencies, 50), percentile(latencies, 99))


def surfaces(run: LoadTestRun) -> tuple[list[Figures], Figures, Figures]:
    """Every line of the table, then the two the tool/plain ratios compare."""
    calls = run.calls
    mixed = [c for c in calls if c.phase == MIXED]
    mixed_seconds = sum(p.seconds for p in run.phases if p.name == MIXED)
    ab_tool = [c for c in calls if c.phase != MIXED and c.surface == TOOL]
    ab_plain = [c for c in calls if c.surface == PLAIN]
    tool_seconds = sum(p.seconds for p in run.phases if p.name != MIXED and p.surface == TOOL)
    plain_seconds = sum(p.seconds for p in run.phases if p.surface == PLAIN)
    tool_update = figures("tool endpoint: db.update only (A/B)", ab_tool, tool_seconds)
    plain_update = figures("plain DRF, bare-ORM update (A/B)", ab_plain, plain_seconds)
    lines = [
        figures("tool endpoint: all calls (mixed)", mixed, mixed_seconds),
        figures(
            "tool endpoint: its single-row updates", [c for c in mixed if c.kind == UPDATE], None
        ),
        tool_update,
        plain_update,
    ]
    return lines, tool_update, plain_update


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def print_report(run: LoadTestRun, agents: int, calls: int, write: Callable[[str], None]) -> None:
    """Print the whole report through ``write`` (one line per call)."""
    write("")
    write(
        f"ormai_loadtest: {agents} agents; {calls} mixed calls through POST /ormai/tools/call/, "
        f"then {calls} single-row updates on each surface"
    )
    write(f"  server:   {run.server}")
    where = "kept (--keep)" if run.kept else "dropped at the end"
    write(
        f"  database: PostgreSQL scratch database {run.database}, made from the migrations, "
        f"seeded with the sandbox data, {where}"
    )
    limit = run.write_limit
    write(
        "  policy:   the sandbox policy, unchanged. "
        + (
            f"Its max_writes_per_minute({limit}) per principal is checked on every write; "
            f"each agent takes a fresh principal (a new capability token) every {limit} "
            f"writes, so the limit refuses none: {run.principals} principals in all."
            if limit
            else f"No write rate limit; {run.principals} principals."
        )
    )
    write(
        "  baseline: POST /loadtest/orders/status/, a DRF view with the same capability-token "
        "authentication and a serializer, then Order.objects.filter(pk=, tenant_id=)"
        ".update(status=); no policy, budget, audit row, history row or idempotency record."
    )
    write(
        f"  client:   {agents} threads in this process, one keep-alive HTTP/1.1 connection "
        f"each ({run.reconnects} reconnects), on the same machine as the server and "
        "PostgreSQL; latency is send to last byte."
    )
    _print_mix(run, write)
    lines, tool, plain = surfaces(run)
    write("")
    write(f"{'surface':<40} {'calls':>6} {'wall s':>7} {'calls/s':>8} {'p50 ms':>7} {'p99 ms':>7}")
    for line in lines:
        wall = "-" if line.seconds is None else f"{line.seconds:.1f}"
        rate = "-" if line.per_second is None else f"{line.per_second:.1f}"
        write(
            f"{line.label:<40} {line.calls:>6} {wall:>7} {rate:>8} "
            f"{_ms(line.p50):>7} {_ms(line.p99):>7}"
        )
    if tool.per_second and plain.per_second:
        write(
            f"single-row update, tool/plain: p50 {tool.p50 / plain.p50:.2f}x, "
            f"p99 {tool.p99 / plain.p99:.2f}x, throughput {tool.per_second / plain.per_second:.2f}x"
        )
    write("")
    write("Reconciliation against the database")
    for check in run.checks:
        write(f"  {'ok' if check.ok else 'FAILED':<6} {check.name}: {check.detail}")
    if run.server_log:
        write("")
        write("The server's log ends with:")
        write(run.server_log)


def _print_mix(run: LoadTestRun, write: Callable[[str], None]) -> None:
    by_kind: dict[tuple[str, str], Counter] = {}
    for call in run.calls:
        group = "mixed" if call.phase == MIXED else "A/B"
        by_kind.setdefault((group, call.kind), Counter())[call.outcome] += 1
    write("")
    write(f"{'phase':<6} {'kind':<32} {'calls':>6}  outcomes")
    for group in ("mixed", "A/B"):
        total = 0
        for kind in KIND_ORDER:
            outcomes = by_kind.get((group, kind))
            if not outcomes:
                continue
            n = sum(outcomes.values())
            total += n
            shown = ", ".join(f"{outcome} {count}" for outcome, count in outcomes.most_common())
            write(f"{group:<6} {kind:<32} {n:>6}  {shown}")
        write(f"{group:<6} {'total':<32} {total:>6}")
