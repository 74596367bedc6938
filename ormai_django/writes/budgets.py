"""Write budgets, enforced: counted in the database, exactly, across processes.

Every write that some budget counts takes three steps, inside its transaction:

1. ``Charge.lock()``, before any row lock: one statement creates, locks and reads the
   window of every budget the call counts against (but row budgets, whose rows aren't
   known yet) and of every run budget of the call's run (to see whether the run was
   stopped). A stopped run, or a bound on calls already reached, is refused here.
2. ``Charge.admit(rows, ...)``, once the write has measured (and locked) its rows: the
   row budgets' windows (one statement more, only where a row budget applies), and every
   bound on rows. A budget past its bound refuses the call whole (``deny``) or hands the
   gate a reason to hold it (``approve``).
3. ``Charge.spend()``, when the call is executed or held: one UPDATE of every window.

Denied calls, dry runs and idempotent replays spend nothing; an approved call spent when
it was held. A refusal rolls the write back; ``record_trip`` then marks the budget tripped
in its own transaction (for a run budget: the run is stopped) and sends
``budget_exceeded``, once per trip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from ormai_django import codes, signals
from ormai_django.context import ToolContext
from ormai_django.errors import ToolDenied
from ormai_django.models import BudgetWindow
from ormai_django.policy.budgets import Budget
from ormai_django.policy.policy import Policy
from ormai_django.writes.windows import (
    Window,
    WindowKey,
    expiry,
    lock_windows,
    read_windows,
    row_windows,
    scope_window,
    with_call,
    write_windows,
)


def _fits_calls(budget: Budget, calls: int) -> bool:
    return budget.max_calls is None or calls + 1 <= budget.max_calls


class BudgetRefusal(ToolDenied):
    """A budget refused the call (``BUDGET_EXCEEDED``, or ``RATE_LIMITED`` for
    ``max_writes_per_minute``); ``stopped``: the call's run was already stopped."""

    def __init__(self, window: Window, rows: int | None, *, stopped: bool = False) -> None:
        budget = window.budget
        calls, used_rows = window.used()
        self.window, self.stopped, self.rows = window, stopped, rows
        self.used = {"calls": calls, "rows": used_rows}
        retry = None if stopped else window.retry_after(rows or 0)
        info: dict[str, Any] = {
            "id": budget.id,
            "scope": budget.scope,
            "model": budget.model_label,
            "limit": budget.limit,
            "used": self.used,
            "exceeded": exceeded_bound(budget, calls, used_rows, rows),
            "per_seconds": budget.per_seconds,
        }
        if rows is not None:
            info["this_call"] = {"rows": rows}
        if budget.scope == "row":
            info["row"] = window.key.scope_key
        if budget.scope == "run":
            info["stopped"] = True
        if retry is not None:
            info["retry_after"] = retry
        code = codes.RATE_LIMITED if budget.kind == "rate_limit" else codes.BUDGET_EXCEEDED
        extra = {"retry_after": retry} if retry is not None else {}
        super().__init__(
            code,
            refusal_message(window, rows, retry, stopped),
            rule=budget.id,
            budget=info,
            **extra,
        )

    def binding(self) -> tuple[int, float]:
        """Sort key: the refusal that frees up last comes first (never, before any wait)."""
        retry = self.details.get("retry_after")
        return (0, 0.0) if retry is None else (1, -float(retry))


def exceeded_bound(budget: Budget, calls: int, used_rows: int, rows: int | None) -> str:
    """Which bound the call would pass: ``"calls"`` or ``"rows"``."""
    if budget.max_calls is not None and calls + 1 > budget.max_calls:
        return "calls"
    return "rows"


def refusal_message(window: Window, rows: int | None, retry: int | None, stopped: bool) -> str:
    """Which rule said no, why, and what the agent can do next."""
    budget = window.budget
    calls, used_rows = window.used()
    if budget.kind == "rate_limit" and retry is not None:
        return (
            f"This agent may make at most {budget.max_calls} writes per minute and has made "
            f"{calls}; wait {retry} seconds, then send the call again."
        )
    rule = f"the budget {budget.id} ({budget.describe()})"
    if stopped:
        return (
            f"This run was stopped when it went past {rule}; none of its writes will run "
            "until an operator resets the run (manage.py ormai_budget reset). Nothing was "
            "changed. Reads still work; tell the user the run was stopped."
        )
    if exceeded_bound(budget, calls, used_rows, rows) == "calls":
        on_row = f" to row {window.key.scope_key}" if budget.scope == "row" else ""
        why = f"This write would go past {rule}: {calls} writes{on_row} were made already"
    else:
        why = (
            f"This write of {rows} rows would go past {rule}: {used_rows} rows were written already"
        )
    why += "; nothing was changed."
    if budget.scope == "run":
        return (
            f"{why} This run is now stopped: none of its writes will run until an operator "
            "resets it (manage.py ormai_budget reset). Reads still work; tell the user."
        )
    return f"{why} {next_step(budget, calls, used_rows, rows, retry)}"


def next_step(
    budget: Budget, calls: int, used_rows: int, rows: int | None, retry: int | None
) -> str:
    """What the agent can do: narrow the where, wait, or tell the user."""
    if exceeded_bound(budget, calls, used_rows, rows) == "rows" and rows is not None:
        left = (budget.max_rows or 0) - used_rows
        if rows > (budget.max_rows or 0):
            return (
                f"One write may touch at most {budget.max_rows} rows here: narrow the where, "
                "or tell the user the change needs a person."
            )
        if left > 0:
            wait = f"wait {retry} seconds" if retry is not None else "tell the user"
            return f"Narrow the where to at most {left} rows, or {wait}."
    if retry is not None:
        return f"Wait {retry} seconds, then send the call again."
    return "This budget doesn't free up: tell the user; a person must raise it."


def escalation_reason(window: Window, rows: int) -> str:
    """Why the gate holds a call an ``on_exceed="approve"`` budget escalated."""
    budget = window.budget
    calls, used_rows = window.used()
    if budget.kind == "burst":
        bounds = " / ".join(
            f"{n} {what}"
            for n, what in ((budget.max_calls, "writes"), (budget.max_rows, "rows"))
            if n is not None
        )
        name = budget.model._meta.object_name if budget.model is not None else "every model"
        return (
            f"beyond the burst of {bounds} per {int(budget.per_seconds or 0)} s on {name} "
            f"({calls} writes, {used_rows} rows so far)"
        )
    return (
        f"beyond the budget {budget.id} ({budget.describe()}; {calls} writes, "
        f"{used_rows} rows so far)"
    )


def signal_of(window: Window, used: dict[str, int], context: ToolContext, tool: str) -> Any:
    """The ``budget_exceeded`` signal of a trip, to send once the trip commits."""
    budget = window.budget.as_dict()

    def send() -> None:
        signals.notify(
            signals.budget_exceeded,
            sender=BudgetWindow,
            budget=budget,
            scope_key=window.key.scope_key,
            used=dict(used),
            context=context,
            tool=tool,
        )

    return send


class Charge:
    """What one write call spends: the windows of its budgets, locked until it commits."""

    def __init__(
        self, policy: Policy, context: ToolContext, tool: str, model: Any, using: str
    ) -> None:
        self.context, self.tool, self.using = context, tool, using
        self.budgets = policy.budgets_for(tool, model)
        # A run budget that refuses stops the run, for writes it doesn't count too.
        self.watched = (
            [b for b in policy.budgets if b.scope == "run" and b.on_exceed == "deny"]
            if context.run_id
            else []
        )
        self.windows: dict[tuple[str, str], Window] = {}
        self.counted: list[tuple[str, str]] = []
        self.escalated: set[tuple[str, str]] = set()
        self.rows = 0

    @property
    def empty(self) -> bool:
        return not self.budgets and not self.watched

    def scope_keys(self) -> tuple[list[WindowKey], list[WindowKey]]:
        """The windows of the call's own budgets (but row budgets), and those watched."""
        counted = [scope_window(b, self.context) for b in self.budgets if b.scope != "row"]
        watched = [scope_window(b, self.context) for b in self.watched]
        return [k for k in counted if k], [k for k in watched if k]

    def lock(self) -> None:
        """Lock and read the windows (one statement); refuse a stopped run, or a call past a
        bound on calls (before any row is locked or measured)."""
        counted, watched = self.scope_keys()
        self.windows = lock_windows([*counted, *watched], self.using)
        self.counted = sorted({k.ident for k in counted})
        for key in watched:
            window = self.windows[key.ident]
            if window.tripped:
                raise BudgetRefusal(window, None, stopped=True)
        refusals = [
            BudgetRefusal(self.windows[ident], None)
            for ident in self.counted
            if self.windows[ident].budget.on_exceed == "deny"
            and not _fits_calls(self.windows[ident].budget, self.windows[ident].used()[0])
        ]
        if refusals:
            raise min(refusals, key=BudgetRefusal.binding)

    def admit(self, rows: int, label: str, pks: Sequence[Any]) -> tuple[str, ...]:
        """With the rows measured: refuse a call past a bound (``deny``), or return why it
        must be held (``approve``)."""
        self.rows = rows
        row_keys = [k for b in self.budgets if b.scope == "row" for k in row_windows(b, label, pks)]
        if row_keys:
            self.windows.update(lock_windows(row_keys, self.using))
            self.counted = sorted({*self.counted, *(k.ident for k in row_keys)})
        refusals, reasons = evaluate(self.windows, self.counted, rows)
        if refusals:
            raise min(refusals, key=BudgetRefusal.binding)
        self.escalated = {ident for ident, _ in reasons}
        return tuple(dict.fromkeys(reason for _, reason in reasons))

    def spend(self) -> None:
        """Count the call (executed or held) in every window: one UPDATE."""
        write_windows(self.spent(), self.using)

    def spent(self) -> list[BudgetWindow]:
        """The windows as counting this call leaves them (to write with ``write_windows``,
        or inside the write's own statement); a first trip's signal is sent on commit."""
        if not self.counted:
            return []
        now = timezone.now()
        stamp = now.timestamp()
        changed, trips = [], {}
        for ident in self.counted:
            window = self.windows[ident]
            rows = 1 if window.budget.scope == "row" else self.rows
            entries = with_call(window.entries, window.budget, stamp, rows)
            tripped_at, trip = None, None
            if ident in self.escalated:
                tripped_at, trip = window.tripped_at or now, window.trip
                if window.tripped_at is None:
                    trip = self.trip_record(window, rows)
                    trips.setdefault(window.budget.id, window)
            changed.append(
                BudgetWindow(
                    pk=window.pk,
                    recent=entries,
                    expires_at=expiry(window.key, entries, now),
                    tripped_at=tripped_at,
                    trip=trip,
                    updated_at=now,
                )
            )
        for window in trips.values():
            calls, used_rows = window.used()
            rows = 1 if window.budget.scope == "row" else self.rows
            used = {"calls": calls + 1, "rows": used_rows + rows}
            transaction.on_commit(signal_of(window, used, self.context, self.tool), self.using)
        return changed

    def trip_record(self, window: Window, rows: int) -> dict[str, Any]:
        calls, used_rows = window.used()
        return {
            "tool": self.tool,
            "principal": self.context.principal,
            "used": {"calls": calls, "rows": used_rows},
            "this_call": {"rows": rows},
            "limit": window.budget.limit,
            "on_exceed": window.budget.on_exceed,
        }


def evaluate(
    windows: dict[tuple[str, str], Window], counted: Sequence[tuple[str, str]], rows: int
) -> tuple[list[BudgetRefusal], list[tuple[tuple[str, str], str]]]:
    """The refusals (``deny`` budgets past a bound) and escalations (``approve`` ones, with
    their reasons) of a call of ``rows`` rows."""
    refusals, reasons = [], []
    for ident in counted:
        window = windows[ident]
        rows_here = 1 if window.budget.scope == "row" else rows
        if window.fits(rows_here):
            continue
        if window.budget.on_exceed == "deny":
            refusals.append(BudgetRefusal(window, rows_here))
        else:
            reasons.append((ident, escalation_reason(window, rows_here)))
    return refusals, reasons


def charge_for(
    policy: Policy, context: ToolContext, tool: str, model: Any, using: str
) -> Charge | None:
    """The locked charge of a write call (None: no budget counts it or watches its run)."""
    charge = Charge(policy, context, tool, model, using)
    if charge.empty:
        return None
    charge.lock()
    return charge


def foresee(
    policy: Policy,
    context: ToolContext,
    tool: str,
    model: Any,
    using: str,
    *,
    rows: int,
    label: str,
    pks: Callable[[], Sequence[Any]],
) -> tuple[BudgetRefusal | None, tuple[str, ...]]:
    """What the budgets would say of a call, without locking or spending (a dry run): the
    refusal it would get, or the reasons it would be held for. ``pks`` gives the rows'
    primary keys, asked for only where a row budget applies."""
    charge = Charge(policy, context, tool, model, using)
    if charge.empty:
        return None, ()
    counted, watched = charge.scope_keys()
    row_budgets = [b for b in charge.budgets if b.scope == "row"]
    touched = pks() if row_budgets else ()
    row_keys = [k for b in row_budgets for k in row_windows(b, label, touched)]
    windows = read_windows([*counted, *watched, *row_keys], using)
    for key in watched:
        if windows[key.ident].tripped:
            return BudgetRefusal(windows[key.ident], None, stopped=True), ()
    refusals, reasons = evaluate(windows, sorted({k.ident for k in (*counted, *row_keys)}), rows)
    if refusals:
        return min(refusals, key=BudgetRefusal.binding), ()
    return None, tuple(dict.fromkeys(reason for _, reason in reasons))


def record_trip(refusal: BudgetRefusal, context: ToolContext, tool: str, using: str) -> bool:
    """Mark the budget that refused tripped in its scope (a run budget: the run is stopped,
    and its window kept until a reset), in a transaction of its own, and send
    ``budget_exceeded`` once it commits; False when it had tripped already (no signal)."""
    window = refusal.window
    with transaction.atomic(using=using):
        found = lock_windows([window.key], using)[window.key.ident]
        if found.tripped:
            return False
        stops = window.budget.scope == "run"
        trip = {
            "tool": tool,
            "principal": context.principal,
            "used": refusal.used,
            "this_call": {"rows": refusal.rows},
            "limit": window.budget.limit,
            "on_exceed": window.budget.on_exceed,
        }
        changes: dict[str, Any] = {"tripped_at": timezone.now(), "trip": trip}
        if stops:
            changes.update(stopped=True, expires_at=None)
        BudgetWindow._base_manager.db_manager(using).filter(pk=found.pk).update(**changes)
        transaction.on_commit(signal_of(window, refusal.used, context, tool), using)
    return True
