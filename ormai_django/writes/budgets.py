"""``max_writes_per_minute``: executed writes per principal over a sliding minute.

The principal's ``WriteBudget`` row is locked while a write decides whether it
fits and until it commits, so the count is exact across threads and processes:
the database, not a per-process cache, is the source of truth. Dry runs, denied
calls, held calls and idempotent replays spend nothing.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ormai_django import codes
from ormai_django.errors import ToolDenied
from ormai_django.models import WriteBudget

WINDOW_SECONDS = 60.0


@dataclass
class BudgetSlot:
    """A place within the principal's budget, held (locked) until the write commits."""

    principal: str
    recent: list[float]

    def spend(self) -> None:
        """Record this write; call it in the write's transaction."""
        WriteBudget.objects.filter(principal=self.principal).update(
            recent=[*self.recent, time.time()]
        )


def reserve(principal: str, limit: int | None) -> BudgetSlot:
    """Lock the principal's budget and refuse with ``RATE_LIMITED`` when it is spent
    (``limit=None``: only the lock, so a burst bound counts concurrent writes exactly).

    Must run inside the write's transaction (the lock lasts until it ends).
    """
    locked = WriteBudget.objects.select_for_update()
    row = locked.filter(principal=principal).first()
    if row is None:
        # The first write of this principal: create the row once, whoever races for it.
        WriteBudget.objects.bulk_create([WriteBudget(principal=principal)], ignore_conflicts=True)
        row = locked.get(principal=principal)
    now = time.time()
    recent = [t for t in row.recent if isinstance(t, int | float) and t > now - WINDOW_SECONDS]
    if limit is not None and len(recent) >= limit:
        retry_after = max(1, math.ceil(min(recent) + WINDOW_SECONDS - now))
        raise ToolDenied(
            codes.RATE_LIMITED,
            f"This agent may make at most {limit} writes per minute and has made {len(recent)}; "
            f"wait {retry_after} seconds, then send the call again.",
            retry_after=retry_after,
        )
    return BudgetSlot(principal, recent)
