"""Operating write budgets: reset a stopped run, prune the windows that are over, list them.

    from ormai_django.budgets import reset_run, prune_windows, stopped_runs

    reset_run("run-7c2d", tenant_id=7, actor="ops:lee", reason="looked at it, fine")
    prune_windows()          # what the Celery beat task prune_budget_windows runs

A run refused by a run budget stays stopped (``BudgetWindow.stopped``) until
``reset_run`` clears its windows: its usage and the stop go together, so the run starts
again with its whole budget. Every reset is audited (``AuditEvent`` with tool
``budget.reset``). ``manage.py ormai_budget`` and the admin's "Reset the run" action call
these functions.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from ormai_django import codes, names
from ormai_django.audit import record_event
from ormai_django.errors import OrmaiError
from ormai_django.models import BudgetWindow
from ormai_django.orm.scope import tenant_key

__all__ = ["BudgetError", "prune_windows", "reset_run", "run_windows", "stopped_runs"]


class BudgetError(OrmaiError):
    """A budget operation that was refused; ``code`` says why (``UNKNOWN_RUN``: nothing is
    recorded for the run; ``AMBIGUOUS_RUN``: several tenants have a run of that id, name the
    tenant; ``INVALID_ARGUMENTS``)."""


def run_windows(run_id: str, tenant_id: Any = None) -> QuerySet[BudgetWindow]:
    """The windows of a run's budgets (in one tenant, when ``tenant_id`` is given)."""
    windows = BudgetWindow.objects.filter(scope=BudgetWindow.Scope.RUN, run_id=run_id)
    if tenant_id is not None:
        windows = windows.filter(tenant_id=tenant_key(tenant_id)[:64])
    return windows


def stopped_runs() -> QuerySet[BudgetWindow]:
    """The windows that stopped their run, oldest trip first."""
    return BudgetWindow.objects.filter(stopped=True).order_by("tripped_at", "id")


def reset_run(
    run_id: str, *, actor: str, tenant_id: Any = None, reason: str = ""
) -> dict[str, Any]:
    """Clear every budget window of the run ``run_id`` (its usage and its stop): its writes
    run again, with the whole of each run budget. Audited as ``budget.reset`` by ``actor``.

    ``tenant_id`` is needed when runs of several tenants share the id (``AMBIGUOUS_RUN``).
    Returns ``{"run_id", "tenant_id", "was_stopped", "windows", "budgets", "audit_id"}``;
    raises ``BudgetError`` (``UNKNOWN_RUN``) when no window of the run is recorded.
    """
    actor = str(actor or "").strip()
    if not actor or len(actor) > 200:
        raise BudgetError(codes.INVALID_ARGUMENTS, "The actor is a non-empty id of at most 200.")
    if not isinstance(run_id, str) or not run_id:
        raise BudgetError(codes.INVALID_ARGUMENTS, "A run id is a non-empty string.")
    with transaction.atomic():
        windows = run_windows(run_id, tenant_id).select_for_update()
        found = list(windows.values("id", "tenant_id", "budget", "stopped", "recent"))
        tenants = sorted({w["tenant_id"] for w in found})
        if not found:
            where = "" if tenant_id is None else f" in tenant {tenant_id!r}"
            raise BudgetError(
                codes.UNKNOWN_RUN,
                f"No budget of run {run_id!r}{where} has counted anything; nothing to reset.",
            )
        if len(tenants) > 1:
            raise BudgetError(
                codes.AMBIGUOUS_RUN,
                f"Runs of several tenants ({', '.join(tenants)}) are called {run_id!r}; "
                "name the tenant (--tenant).",
            )
        tenant = tenants[0]
        was_stopped = any(w["stopped"] for w in found)
        budgets = sorted({w["budget"] for w in found})
        BudgetWindow.objects.filter(pk__in=[w["id"] for w in found]).delete()
        event = record_event(
            tool=names.BUDGET_RESET,
            context={"principal": actor, "tenant_id": tenant, "run_id": run_id},
            arguments={
                "run_id": run_id,
                "tenant_id": tenant,
                "was_stopped": was_stopped,
                "budgets": budgets,
            },
            result={"outcome": "ok"},
            duration_ms=0.0,
            reason=reason,
        )
    return {
        "run_id": run_id,
        "tenant_id": tenant,
        "was_stopped": was_stopped,
        "windows": len(found),
        "budgets": budgets,
        "audit_id": event.id,
    }


def prune_windows(now: Any = None) -> int:
    """Delete the windows that are over (``expires_at`` past); returns how many. A stopped
    run's windows, and budgets for the life of a principal, tenant or row, have no
    ``expires_at`` and stay."""
    deleted, _ = BudgetWindow.objects.filter(expires_at__lt=now or timezone.now()).delete()
    return deleted
