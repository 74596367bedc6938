"""The history libraries people use, in the tier matrix, each making the change ``db.update``
makes (a new status on every order of the tier) against the same ``QuerySet.update()``:

- django-simple-history's ``bulk_update_with_history`` (the orders loaded, changed, written
  with ``bulk_update`` in batches of 1,000, and their history rows with ``bulk_create``);
- django-simple-history's per-object ``save()`` in one transaction (for one row, the
  hand-written ``get()`` + ``save()``); measured up to ``SAVE_MAX_ROWS``: above, a round
  is minutes of single-row statements;
- on PostgreSQL, django-pghistory: a row-level and a statement-level ``UPDATE`` trigger on a
  copy of ``Order`` (``sandbox_project/benchapp``, installed with ``ORMAI_BENCH_PGHISTORY=1``),
  each update under ``pghistory.context(reason=...)``, the who-and-why ormai_django records.
"""

from __future__ import annotations

import itertools
from typing import Any

from django.apps import apps
from django.db import connection, transaction
from simple_history.utils import bulk_update_with_history

from sandbox_project.shop.bench.tier_data import BATCH, TierBench, history_mark
from sandbox_project.shop.bench.tiers import Side, TierCase

SIMPLE_HISTORY = "django-simple-history"
PGHISTORY = "django-pghistory"
SAVE_MAX_ROWS = 10_000
# pghistory's statement-level trigger joins the OLD and NEW transition tables on the primary
# key; transition tables have no index and no statistics, and here one 100,000-row UPDATE
# ran for more than four minutes before the bench was stopped.
STATEMENT_TRIGGER_MAX_ROWS = 10_000
PGHISTORY_MODELS = (
    ("row-level trigger", "RowTrackedOrder", "RowTrackedOrderEvent"),
    ("statement-level trigger", "StatementTrackedOrder", "StatementTrackedOrderEvent"),
)


def pghistory_unavailable() -> str | None:
    """Why the django-pghistory cases can't run here (None: they can)."""
    if connection.vendor != "postgresql":
        return (
            f"django-pghistory cases skipped on {connection.vendor}: pghistory records history "
            "with PostgreSQL triggers"
        )
    if not apps.is_installed("sandbox_project.benchapp"):
        return (
            "django-pghistory cases skipped: ORMAI_BENCH_PGHISTORY=1 installs the bench-only "
            "app they track (make bench sets it; pip install -e '.[bench]')"
        )
    return None


def simple_history_cases(t: TierBench) -> tuple[list[TierCase], list[tuple[str, str, str]]]:
    order = t.models["Order"]
    reset = history_mark(order)
    bare_status = itertools.cycle(("paid", "shipped"))
    tool_status = itertools.cycle(("cancelled", "refunded"))

    def bare() -> int:
        return t.orders().update(status=next(bare_status))

    def bulk_with_history() -> int:
        status = next(tool_status)
        with transaction.atomic():
            objs = list(t.orders())
            for obj in objs:
                obj.status = status
            return bulk_update_with_history(
                objs, order, ["status"], batch_size=BATCH // 2, default_change_reason="bench"
            )

    def save_each() -> int:
        status = next(tool_status)
        changed = 0
        with transaction.atomic():
            for obj in t.orders():
                obj.status = status
                obj._change_reason = "bench"
                obj.save()
                changed += 1
        return changed

    cases = [
        TierCase(
            "bulk_update_with_history",
            SIMPLE_HISTORY,
            "QuerySet.update()",
            t.rows,
            Side(bare),
            Side(bulk_with_history, cleanup=reset),
            # About a minute a call at 100,000 rows: one round there.
            max_rounds=1 if t.rows >= 100_000 else None,
        )
    ]
    skipped: list[tuple[str, str, str]] = []
    if t.rows <= SAVE_MAX_ROWS:
        cases.append(
            TierCase(
                "save() per object",
                SIMPLE_HISTORY,
                "QuerySet.update()",
                t.rows,
                Side(bare),
                Side(save_each, cleanup=reset),
            )
        )
    else:
        skipped.append(
            (
                "save() per object",
                SIMPLE_HISTORY,
                f"{t.rows:,} save() calls, two statements each, take minutes a round",
            )
        )
    return cases, skipped


def pghistory_cases(t: TierBench) -> tuple[list[TierCase], list[tuple[str, str, str]]]:
    import pghistory

    bare_status = itertools.cycle(("paid", "shipped"))
    tool_status = itertools.cycle(("cancelled", "refunded"))

    def bare() -> int:
        return t.orders().update(status=next(bare_status))

    cases = []
    skipped: list[tuple[str, str, str]] = []
    for label, model_name, event_name in PGHISTORY_MODELS:
        if label == "statement-level trigger" and t.rows > STATEMENT_TRIGGER_MAX_ROWS:
            why = (
                "the trigger joins the OLD and NEW transition tables (no index, no statistics): "
                f"one {t.rows:,}-row UPDATE ran for more than four minutes"
            )
            skipped.append((label, PGHISTORY, why))
            continue
        tracked = apps.get_model("benchapp", model_name)
        events = apps.get_model("benchapp", event_name)
        tracked.objects.bulk_create(t.new_orders(t.tenant, tracked), batch_size=BATCH)
        last = events.objects.order_by("-pgh_id").values_list("pgh_id", flat=True).first() or 0

        def update(tracked: Any = tracked) -> int:
            with pghistory.context(reason="bench"):
                return tracked.objects.filter(tenant_id=t.tenant).update(status=next(tool_status))

        def forget(events: Any = events, last: int = last) -> None:
            events.objects.filter(pgh_id__gt=last).delete()

        cases.append(
            TierCase(
                label,
                PGHISTORY,
                "QuerySet.update()",
                t.rows,
                Side(bare),
                Side(update, cleanup=forget),
                # About half a minute an UPDATE at 10,000 rows: one round there.
                max_rounds=1 if label.startswith("statement") and t.rows >= 10_000 else None,
            )
        )
    return cases, skipped
