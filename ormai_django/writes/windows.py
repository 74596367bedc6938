"""Budget windows in the database: their keys, the sliding-window arithmetic, the upsert.

A ``BudgetWindow`` row holds one budget's usage in one scope as ``recent``:
``[[time, calls, rows], ...]``, oldest first, one entry per slice of a sixtieth of the
budget's window (the entry's time is the latest write in its slice, so an entry leaves
the window only once every write in it has: the count never lets more through than the
bound over any sliding window, and ``retry_after`` is at most one slice late). A budget
for the life of its scope keeps one entry, ``[0, calls, rows]``.

``lock_windows`` upserts every window a call needs in one statement
(``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``, on SQLite and PostgreSQL): a
principal's first write costs what its later ones do, and the rows stay locked (on
PostgreSQL the row locks, on SQLite the database's write lock) until the write commits.
The windows go in sorted by (budget, scope key), so two calls lock them in one order.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connections
from django.db.models import Q, sql
from django.db.models.constants import OnConflict
from django.utils import timezone

from ormai_django.conf import ormai_settings
from ormai_django.context import ToolContext
from ormai_django.models import BudgetWindow
from ormai_django.policy.budgets import Budget

SLICES = 60
MAX_KEY = 255
# Written on every new window; the upsert sets only this column of an existing one.
_INSERTED = (
    "budget",
    "scope",
    "scope_key",
    "tenant_id",
    "run_id",
    "recent",
    "expires_at",
    "stopped",
)
_RETURNED = ("id", "budget", "scope_key", "recent", "tripped_at", "trip")


def tenant_text(tenant_id: Any) -> str:
    return "" if tenant_id is None else str(tenant_id)


def bounded_key(key: str) -> str:
    """The key as stored: itself, or its digest when it is longer than the column."""
    if len(key) <= MAX_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class WindowKey:
    """Which window of which budget: the budget and the scope the call falls in."""

    budget: Budget
    scope_key: str
    tenant_id: str = ""
    run_id: str = ""

    @property
    def ident(self) -> tuple[str, str]:
        return (self.budget.id, self.scope_key)


def scope_window(budget: Budget, context: ToolContext) -> WindowKey | None:
    """The window of a principal, run or tenant budget this context falls in (None: a run
    budget and a call outside any run)."""
    tenant = tenant_text(context.tenant_id)
    if budget.scope == "principal":
        return WindowKey(budget, bounded_key(context.principal))
    if budget.scope == "tenant":
        return WindowKey(budget, bounded_key(tenant), tenant_id=tenant[:64])
    if budget.scope == "run":
        if not context.run_id:
            return None
        key = json.dumps([tenant, context.run_id], ensure_ascii=False)
        return WindowKey(budget, bounded_key(key), tenant_id=tenant[:64], run_id=context.run_id)
    raise ValueError(f"a row budget's windows are the rows' ({budget.id})")


def row_windows(budget: Budget, label: str, pks: Iterable[Any]) -> list[WindowKey]:
    """The windows of a row budget: one per row the write touches."""
    return [WindowKey(budget, bounded_key(f"{label}:{pk}")) for pk in pks]


@dataclass
class Window:
    """A window as read (and, in a write, locked): its entries and whether it tripped."""

    key: WindowKey
    pk: int | None
    entries: list[list[float]]
    tripped_at: datetime | None = None
    trip: Any = None

    @property
    def tripped(self) -> bool:
        return self.tripped_at is not None

    @property
    def budget(self) -> Budget:
        return self.key.budget

    def used(self) -> tuple[int, int]:
        return sum(int(e[1]) for e in self.entries), sum(int(e[2]) for e in self.entries)

    def fits(self, rows: int, calls: int = 1) -> bool:
        """Whether one more call of ``rows`` rows stays within every bound."""
        used_calls, used_rows = self.used()
        return fits(self.budget, used_calls, used_rows, calls, rows)

    def retry_after(self, rows: int) -> int | None:
        """Seconds until the window has room for a call of ``rows`` rows (None: never, in
        a budget for the life of its scope, or a call larger than the bound)."""
        per = self.budget.per_seconds
        if per is None:
            return None
        calls, used_rows = self.used()
        now = timezone.now().timestamp()
        freed_at = now
        for time, n, r in self.entries:
            if fits(self.budget, calls, used_rows, 1, rows):
                break
            calls, used_rows, freed_at = calls - int(n), used_rows - int(r), time + per
        if not fits(self.budget, calls, used_rows, 1, rows):
            return None
        return max(1, math.ceil(freed_at - now))


def fits(budget: Budget, used_calls: int, used_rows: int, calls: int, rows: int) -> bool:
    if budget.max_calls is not None and used_calls + calls > budget.max_calls:
        return False
    return budget.max_rows is None or used_rows + rows <= budget.max_rows


def live_entries(recent: Any, budget: Budget, now: float) -> list[list[float]]:
    """The entries of ``recent`` still inside the window, oldest first (anything malformed
    is dropped: the column is ours, but a row edited by hand must not break a write)."""
    if not isinstance(recent, list):
        return []
    per = budget.per_seconds
    entries = [
        [float(e[0]), int(e[1]), int(e[2])]
        for e in recent
        if isinstance(e, list) and len(e) == 3 and all(isinstance(v, int | float) for v in e)
    ]
    if per is not None:
        entries = [e for e in entries if e[0] > now - per]
    return sorted(entries)


def with_call(entries: list[list[float]], budget: Budget, now: float, rows: int) -> list:
    """The entries once a call of ``rows`` rows is counted at ``now``."""
    per = budget.per_seconds
    if per is None:
        calls = sum(e[1] for e in entries)
        total = sum(e[2] for e in entries)
        return [[0, int(calls) + 1, int(total) + rows]]
    width = per / SLICES
    out = [list(e) for e in entries]
    if out and math.floor(out[-1][0] / width) == math.floor(now / width):
        last = out[-1]
        out[-1] = [max(last[0], now), int(last[1]) + 1, int(last[2]) + rows]
    else:
        out.append([now, 1, rows])
    return out


def expiry(key: WindowKey, entries: list[list[float]], now: datetime) -> datetime | None:
    """When the window is over and may be pruned: its newest entry's end; a run budget for
    the life of the run, ``RUN_BUDGET_RETENTION`` after its last write; other budgets for
    the life of their scope, never."""
    budget = key.budget
    if budget.per is None:
        return now + ormai_settings.RUN_BUDGET_RETENTION if budget.scope == "run" else None
    newest = max((e[0] for e in entries), default=now.timestamp())
    return datetime.fromtimestamp(newest, tz=now.tzinfo) + budget.per


def _decoded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def lock_windows(keys: Sequence[WindowKey], using: str) -> dict[tuple[str, str], Window]:
    """Create the windows that don't exist yet and lock and read them all, in one statement
    (in batches for a write over very many rows)."""
    if not keys:
        return {}
    now = timezone.now()
    unique = {k.ident: k for k in keys}
    ordered = [unique[ident] for ident in sorted(unique)]
    meta = BudgetWindow._meta
    fields = [meta.get_field(name) for name in (*_INSERTED, "updated_at")]
    returning = [meta.get_field(name) for name in _RETURNED]
    manager = BudgetWindow._base_manager.db_manager(using)
    per_row = len(fields)
    limit = connections[using].features.max_query_params or 65_535
    size = max(1, min(2000, (limit - 10) // per_row))
    found: dict[tuple[str, str], Window] = {}
    for start in range(0, len(ordered), size):
        batch = ordered[start : start + size]
        objs = [
            BudgetWindow(
                budget=k.budget.id,
                scope=k.budget.scope,
                scope_key=k.scope_key,
                tenant_id=k.tenant_id,
                run_id=k.run_id,
                recent=[],
                expires_at=expiry(k, [], now),
                updated_at=now,
            )
            for k in batch
        ]
        rows = manager._insert(
            objs,
            fields=fields,
            returning_fields=returning,
            on_conflict=OnConflict.UPDATE,
            update_fields=[meta.get_field("scope")],
            unique_fields=[meta.get_field("budget"), meta.get_field("scope_key")],
        )
        stamp = now.timestamp()
        for pk, budget_id, scope_key, recent, tripped_at, trip in rows:
            key = unique[(budget_id, scope_key)]
            found[key.ident] = Window(
                key=key,
                pk=pk,
                entries=live_entries(_decoded(recent), key.budget, stamp),
                tripped_at=tripped_at,
                trip=trip,
            )
    return found


def read_windows(keys: Sequence[WindowKey], using: str) -> dict[tuple[str, str], Window]:
    """The windows as they are, without locking or creating any (a dry run's view): one
    statement, in batches for a write over very many rows."""
    now = timezone.now().timestamp()
    unique = {k.ident: k for k in keys}
    found = {ident: Window(key=key, pk=None, entries=[]) for ident, key in unique.items()}
    idents = sorted(unique)
    rows = BudgetWindow._base_manager.db_manager(using)
    for start in range(0, len(idents), 400):
        by_budget: dict[str, list[str]] = {}
        for budget_id, scope_key in idents[start : start + 400]:
            by_budget.setdefault(budget_id, []).append(scope_key)
        wanted = Q()
        for budget_id, scope_keys in by_budget.items():
            wanted |= Q(budget=budget_id, scope_key__in=scope_keys)
        for budget_id, scope_key, recent, tripped_at in rows.filter(wanted).values_list(
            "budget", "scope_key", "recent", "tripped_at"
        ):
            key = unique[(budget_id, scope_key)]
            found[key.ident] = Window(
                key=key,
                pk=None,
                entries=live_entries(recent, key.budget, now),
                tripped_at=tripped_at,
            )
    return found


SPENT_FIELDS = ("recent", "expires_at", "tripped_at", "trip", "updated_at")


def write_windows(changed: Sequence[BudgetWindow], using: str) -> None:
    """Write the windows a call spent (``Charge.spent``): one UPDATE."""
    manager = BudgetWindow._base_manager.db_manager(using)
    if len(changed) == 1:
        # The usual case (a rate limit alone): a plain UPDATE, not bulk_update's CASE per
        # field, which costs a millisecond of Python to build.
        (one,) = changed
        manager.filter(pk=one.pk).update(**{f: getattr(one, f) for f in SPENT_FIELDS})
    elif changed:
        manager.bulk_update(changed, list(SPENT_FIELDS))


def window_updates(changed: Sequence[BudgetWindow], using: str) -> list[tuple[str, tuple]]:
    """The UPDATE of each spent window as SQL and parameters, for a write to run inside its
    own statement (``writes.capture.update_in_one_statement``) instead of as one more."""
    statements = []
    manager = BudgetWindow._base_manager.db_manager(using)
    for window in changed:
        query = manager.filter(pk=window.pk).query.chain(sql.UpdateQuery)
        query.add_update_values({f: getattr(window, f) for f in SPENT_FIELDS})
        statements.append(query.get_compiler(using).as_sql())
    return statements
