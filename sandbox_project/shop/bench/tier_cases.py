"""ormai_django's write paths in the tier matrix, each against the bare ORM doing the same
change to the same number of rows:

- ``db.update`` of the tier's orders (``where``) against ``QuerySet.update()``;
- ``db.delete`` soft (the tier's notes: ``Note`` soft-deletes by ``deleted_at``) against
  ``QuerySet.update(deleted_at=now)``, and hard (orders made for it, untimed) against one
  ``DELETE ... WHERE`` (``QuerySet._raw_delete``: ``QuerySet.delete()`` itself fetches every
  row and sends its signals, and django-simple-history's signal writes a history row per row,
  which is not bare);
- ``db.create``: the tool takes one row per call, so N rows are N calls, against one
  ``bulk_create()`` of N rows; measured up to ``CREATE_MAX_ROWS`` (above, N calls a round
  would take minutes and say nothing the per-call cost doesn't);
- a rollback of each (``rollback_audit_id``; ``rollback_run`` for the N creates of a run)
  against the bare change that puts the rows back;
- the same update written by hand in the fewest statements its records allow (``floor.py``:
  the issue's floor, with no pipeline), against the same ``QuerySet.update()``;
- the domain tool ``bench.set_order_status`` (``call.filter(...).update(...)``) against the
  same ``QuerySet.update()``, and its rollback.

What a timed call adds to a history table is deleted after it, untimed (``history_mark``).
"""

from __future__ import annotations

import itertools
from typing import Any

from django.utils import timezone

from ormai_django.rollback import rollback_audit_id, rollback_run
from sandbox_project.shop.bench.floor import floor_cases
from sandbox_project.shop.bench.tier_data import BATCH, EVERY_ORDER, TierBench, history_mark
from sandbox_project.shop.bench.tiers import Side, TierCase

ORMAI = "ormai_django"
DOMAIN = "domain tool"
CREATE_MAX_ROWS = 1_000
# A hard delete goes through Django's collector, which deletes row by row where signals are
# connected (django-simple-history's post_delete writes a history row per row): 100,000 rows
# take minutes a round.
HARD_DELETE_MAX_ROWS = 10_000
ACTOR = "ops:ormai-bench"
# The floor for a 10,000-row audited update, per database.
UPDATE_FLOOR = {"sqlite": 5.0, "postgresql": 2.5}


def update_cases(t: TierBench, reset: Any, vendor: str) -> list[TierCase]:
    bare_status = itertools.cycle(("paid", "shipped"))
    tool_status = itertools.cycle(("cancelled", "refunded"))
    audits: list[str] = []

    def bare() -> int:
        return t.orders().update(status=next(bare_status))

    def update() -> dict[str, Any]:
        return t.call(
            "db.update", model="Order", where=EVERY_ORDER, data={"status": next(tool_status)}
        )

    def domain() -> dict[str, Any]:
        return t.call("bench.set_order_status", status=next(tool_status))

    def roll_back() -> int:
        return rollback_audit_id(audits.pop(), actor=ACTOR, policy=t.policy)["restored_rows"]

    bare_side = Side(bare)
    floor = UPDATE_FLOOR.get(vendor) if t.rows == 10_000 else None
    return [
        TierCase(
            "db.update",
            ORMAI,
            "QuerySet.update()",
            t.rows,
            bare_side,
            Side(lambda: update()["affected_rows"], cleanup=reset),
            target=floor,
        ),
        *floor_cases(t, reset, bare_side),
        TierCase(
            "roll back db.update",
            ORMAI,
            "QuerySet.update()",
            t.rows,
            bare_side,
            Side(roll_back, prepare=lambda: audits.append(update()["audit_id"]), cleanup=reset),
        ),
        TierCase(
            "bench.set_order_status",
            DOMAIN,
            "QuerySet.update()",
            t.rows,
            bare_side,
            Side(lambda: domain()["affected_rows"], cleanup=reset),
        ),
        TierCase(
            "roll back the domain tool",
            DOMAIN,
            "QuerySet.update()",
            t.rows,
            bare_side,
            Side(roll_back, prepare=lambda: audits.append(domain()["audit_id"]), cleanup=reset),
        ),
    ]


def delete_cases(t: TierBench, reset: Any) -> list[TierCase]:
    """The soft delete and its rollback, then (up to ``HARD_DELETE_MAX_ROWS``) the hard."""
    audits: list[str] = []

    def soft_delete() -> dict[str, Any]:
        return t.call("db.delete", model="Note", where={"id__gt": 0})

    def undelete() -> int:
        return t.notes().update(deleted_at=None)

    def fill() -> None:
        t.models["Order"].objects.bulk_create(t.new_orders(), batch_size=BATCH)

    def hard_delete() -> dict[str, Any]:
        return t.call("db.delete", tenant=t.scratch_tenant, model="Order", where=EVERY_ORDER)

    def fill_and_delete() -> None:
        fill()
        audits.append(hard_delete()["audit_id"])

    def roll_back() -> int:
        return rollback_audit_id(audits.pop(), actor=ACTOR, policy=t.policy)["restored_rows"]

    def empty() -> None:
        raw_delete()

    def recreate() -> int:
        return len(t.models["Order"].objects.bulk_create(t.new_orders(), batch_size=BATCH))

    def raw_delete() -> int:
        rows = t.scratch_orders()
        return rows._raw_delete(rows.db)

    soft = [
        TierCase(
            "db.delete soft",
            ORMAI,
            "QuerySet.update(deleted_at=now)",
            t.rows,
            Side(lambda: t.notes().update(deleted_at=timezone.now()), cleanup=undelete),
            Side(lambda: soft_delete()["affected_rows"], cleanup=lambda: (undelete(), reset())),
        ),
        TierCase(
            "roll back db.delete soft",
            ORMAI,
            "QuerySet.update(deleted_at=None)",
            t.rows,
            Side(undelete, prepare=lambda: t.notes().update(deleted_at=timezone.now())),
            Side(
                roll_back,
                prepare=lambda: audits.append(soft_delete()["audit_id"]),
                cleanup=reset,
            ),
        ),
    ]
    hard = [
        TierCase(
            "db.delete hard",
            ORMAI,
            "DELETE ... WHERE",
            t.rows,
            Side(raw_delete, prepare=fill),
            Side(lambda: hard_delete()["affected_rows"], prepare=fill, cleanup=reset),
        ),
        TierCase(
            "roll back db.delete hard",
            ORMAI,
            "bulk_create()",
            t.rows,
            Side(recreate, cleanup=empty),
            Side(roll_back, prepare=fill_and_delete, cleanup=lambda: (empty(), reset())),
        ),
    ]
    return soft + hard if t.rows <= HARD_DELETE_MAX_ROWS else soft


def create_cases(t: TierBench, reset: Any) -> list[TierCase]:
    runs = itertools.count()
    made: list[str] = []
    now = timezone.now().isoformat()
    owner = t.owners[t.scratch_tenant]

    def create_all(run_id: str) -> int:
        for i in range(t.rows):
            data = {"customer": owner, "total_cents": i, "status": "pending", "created_at": now}
            t.call("db.create", run_id=run_id, tenant=t.scratch_tenant, model="Order", data=data)
        return t.rows

    def create_run() -> None:
        made.append(f"bench-create-{next(runs)}")
        create_all(made[-1])

    def roll_back_run() -> int:
        result = rollback_run(made.pop(), actor=ACTOR, tenant_id=t.scratch_tenant, policy=t.policy)
        return result["restored_rows"]

    def empty() -> int:
        rows = t.scratch_orders()
        return rows._raw_delete(rows.db)

    def recreate() -> int:
        return len(t.models["Order"].objects.bulk_create(t.new_orders(), batch_size=BATCH))

    return [
        TierCase(
            "db.create (one call per row)",
            ORMAI,
            "bulk_create()",
            t.rows,
            Side(recreate, cleanup=empty),
            Side(
                lambda: create_all(f"bench-create-{next(runs)}"),
                cleanup=lambda: (empty(), reset()),
            ),
        ),
        TierCase(
            "roll back the creates (rollback_run)",
            ORMAI,
            "DELETE ... WHERE",
            t.rows,
            Side(empty, prepare=recreate),
            Side(roll_back_run, prepare=create_run, cleanup=reset),
        ),
    ]


def ormai_tier_cases(
    t: TierBench, vendor: str
) -> tuple[list[TierCase], list[tuple[str, str, str]]]:
    """The tier's ormai_django and domain-tool cases, and (case, library, why) for those
    left out."""
    reset = history_mark(t.models["Order"], t.models["Note"])
    cases = update_cases(t, reset, vendor) + delete_cases(t, reset)
    skipped: list[tuple[str, str, str]] = []
    if t.rows <= CREATE_MAX_ROWS:
        cases += create_cases(t, reset)
    else:
        why = (
            f"db.create takes one row per call: {t.rows:,} calls a round would take minutes; "
            "its cost per row is the smaller tiers' figure"
        )
        skipped += [
            ("db.create (one call per row)", ORMAI, why),
            ("roll back the creates (rollback_run)", ORMAI, why),
        ]
    if t.rows > HARD_DELETE_MAX_ROWS:
        why = (
            "Django's collector deletes row by row here (django-simple-history's post_delete "
            f"writes a history row per row): {t.rows:,} rows take minutes a round"
        )
        skipped += [("db.delete hard", ORMAI, why), ("roll back db.delete hard", ORMAI, why)]
    return cases, skipped
