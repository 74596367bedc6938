"""Write budgets as the built policy holds them: ``Budget``, one per bound, with a stable id.

Three builder methods make budgets: ``write_budget(...)`` itself,
``max_writes_per_minute(n)`` (a principal's calls over a sliding minute; past it
``RATE_LIMITED``) and ``bounded_burst(...)`` (a principal's writes on one model, beyond
which a write escalates to approval). The pipeline enforces them in
``ormai_django.writes.budgets``; this module only describes them.

Every budget has an ``id``: given with ``write_budget(..., id="...")``, or derived from its
definition (``budget:run:calls=50,rows=500``, ``rate:principal:calls=10/1m``,
``burst:principal:shop.Note:calls=20,rows=100/1m``), so a refusal names the rule that said
no, the operator's inventory shows the same name, and its usage survives a restart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.db import models

SCOPES = ("principal", "run", "tenant", "row")
ON_EXCEED = ("deny", "approve")
# What made the budget: write_budget, max_writes_per_minute or bounded_burst.
KINDS = ("budget", "rate_limit", "burst")
_ID_PREFIX = {"budget": "budget", "rate_limit": "rate", "burst": "burst"}
# What an explicit id may look like: short, printable, no spaces.
BUDGET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:,=/+\-]{0,99}$")


def window_text(per: timedelta | None) -> str:
    """``per`` as an id spells it: ``90s``, ``1m``, ``6h``, ``1d`` (empty: no window)."""
    if per is None:
        return ""
    seconds = per.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def derived_id(
    *,
    kind: str,
    scope: str,
    model_label: str | None,
    tools: Iterable[str] | None,
    max_calls: int | None,
    max_rows: int | None,
    per: timedelta | None,
    on_exceed: str,
) -> str:
    """The id a budget gets from its definition (the same definition, the same id)."""
    parts = [_ID_PREFIX[kind], scope]
    if model_label:
        parts.append(model_label)
    if tools:
        parts.append("+".join(sorted(tools)))
    bounds = ",".join(
        f"{name}={value}"
        for name, value in (("calls", max_calls), ("rows", max_rows))
        if value is not None
    )
    window = window_text(per)
    parts.append(f"{bounds}/{window}" if window else bounds)
    if kind == "budget" and on_exceed != "deny":
        parts.append(on_exceed)
    return ":".join(parts)


@dataclass(frozen=True)
class Budget:
    """One write budget of a built policy.

    ``scope``: whose writes share it (``principal``; ``run``: one tenant's run id;
    ``tenant``; ``row``: each row an update or delete touches). ``model`` and ``tools``
    narrow the writes it counts (None: all). ``max_calls`` and ``max_rows`` bound the calls
    and the rows they touch (either may be None) over a sliding window ``per`` (None: for
    the life of the scope). Past a bound a write is refused whole (``on_exceed="deny"``:
    ``BUDGET_EXCEEDED``, or ``RATE_LIMITED`` for ``max_writes_per_minute``) or held for
    approval (``"approve"``).
    """

    id: str
    scope: str
    max_calls: int | None
    max_rows: int | None
    per: timedelta | None
    on_exceed: str = "deny"
    model: type[models.Model] | None = dc_field(default=None, compare=False, repr=False)
    # The model's label ("shop.Note"), what equality compares; None: every model.
    model_label: str | None = None
    # The write tools it counts, canonical names; None: every write tool.
    tools: frozenset[str] | None = None
    kind: str = "budget"

    def applies(self, tool: str, model: type[models.Model] | None) -> bool:
        """Whether a call of ``tool`` writing ``model`` counts against this budget."""
        if self.tools is not None and tool not in self.tools:
            return False
        return self.model is None or model is self.model

    @property
    def per_seconds(self) -> float | None:
        return None if self.per is None else self.per.total_seconds()

    @property
    def limit(self) -> dict[str, int]:
        """The bounds given: ``{"calls": 50, "rows": 500}`` (one of them, or both)."""
        return {
            name: value
            for name, value in (("calls", self.max_calls), ("rows", self.max_rows))
            if value is not None
        }

    def as_dict(self) -> dict[str, Any]:
        """The budget as plain JSON (what the ``budget_exceeded`` signal carries); the tools it
        is narrowed to, if any, are ``tools``."""
        return {
            "id": self.id,
            "scope": self.scope,
            "model": self.model_label,
            "max_calls": self.max_calls,
            "max_rows": self.max_rows,
            "per_seconds": self.per_seconds,
            "on_exceed": self.on_exceed,
        }

    def describe(self) -> str:
        """In words, for messages: ``50 writes and 500 rows per run``."""
        bounds = " and ".join(
            text
            for text in (
                f"{self.max_calls} write{'s' if self.max_calls != 1 else ''}"
                if self.max_calls is not None
                else "",
                f"{self.max_rows} row{'s' if self.max_rows != 1 else ''}"
                if self.max_rows is not None
                else "",
            )
            if text
        )
        whose = {
            "principal": "per agent",
            "run": "per run",
            "tenant": "per tenant",
            "row": "per row",
        }[self.scope]
        on = f" on {self.model_label}" if self.model_label else ""
        window = f" every {window_words(self.per)}" if self.per is not None else ""
        if self.per is None and self.scope != "run":
            window = " in all"
        return f"{bounds}{on} {whose}{window}"


def window_words(per: timedelta) -> str:
    """``per`` in words: ``minute``, ``6 hours``, ``90 seconds``."""
    seconds = per.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return unit if n == 1 else f"{n} {unit}s"
    return f"{seconds:g} seconds"
