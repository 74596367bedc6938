"""``python manage.py ormai_budget list | reset | prune``

- ``list [--stopped] [--run RUN] [--tenant T]``: the budget windows, one per line: the
  budget, its scope, whose usage it is, what it counted, whether it tripped or stopped a
  run.
- ``reset --run RUN [--tenant T] [--actor A] [--reason ...]``: clear a run's budget
  windows, its stop included, so its writes run again (audited as ``budget.reset``).
  Exits non-zero when the run has nothing recorded or its id is ambiguous.
- ``prune``: delete the windows that are over (what the Celery beat task
  ``prune_budget_windows`` does).
"""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ormai_django.budgets import BudgetError, prune_windows, reset_run
from ormai_django.models import BudgetWindow
from ormai_django.orm.scope import tenant_key


def usage(recent: Any) -> tuple[int, int]:
    entries = recent if isinstance(recent, list) else []
    valid = [e for e in entries if isinstance(e, list) and len(e) == 3]
    return sum(int(e[1]) for e in valid), sum(int(e[2]) for e in valid)


class Command(BaseCommand):
    help = "List write budget windows, reset a stopped agent run, or prune windows that are over."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="List budget windows.")
        listing.add_argument("--stopped", action="store_true", help="Only runs that stopped.")
        listing.add_argument("--run", default=None, help="Only this run id's windows.")
        listing.add_argument("--tenant", default=None, help="Only this tenant's windows.")
        reset = actions.add_parser("reset", help="Reset a stopped run (its budgets start over).")
        reset.add_argument("--run", required=True, help="The run id.")
        reset.add_argument("--tenant", default=None, help="The run's tenant, where run ids repeat.")
        reset.add_argument(
            "--actor", default=None, help="Who resets it (default: ops:<your user name>)."
        )
        reset.add_argument("--reason", default="", help="Why; recorded in the audit log.")
        actions.add_parser("prune", help="Delete the windows that are over.")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "list":
            self.list_windows(options)
        elif action == "reset":
            self.reset(options)
        else:
            self.stdout.write(f"Deleted {prune_windows()} budget window(s) that were over.")

    def list_windows(self, options: dict[str, Any]) -> None:
        windows = BudgetWindow.objects.order_by("budget", "scope_key")
        if options["stopped"]:
            windows = windows.filter(stopped=True)
        if options["run"] is not None:
            windows = windows.filter(run_id=options["run"])
        if options["tenant"] is not None:
            windows = windows.filter(tenant_id=tenant_key(options["tenant"])[:64])
        count = 0
        for window in windows.iterator():
            calls, rows = usage(window.recent)
            state = "STOPPED" if window.stopped else ("tripped" if window.tripped_at else "")
            when = f" since {window.tripped_at:%Y-%m-%d %H:%M:%S}" if window.tripped_at else ""
            self.stdout.write(
                f"{window.budget}  {window.scope} {window.scope_key}  "
                f"{calls} calls, {rows} rows  {state}{when}".rstrip()
            )
            count += 1
        if not count:
            self.stdout.write("No budget windows.")

    def reset(self, options: dict[str, Any]) -> None:
        actor = options["actor"] or f"ops:{getpass.getuser()}"
        try:
            done = reset_run(
                options["run"], actor=actor, tenant_id=options["tenant"], reason=options["reason"]
            )
        except BudgetError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        stopped = "was stopped; " if done["was_stopped"] else "was not stopped; "
        self.stdout.write(
            f"Run {done['run_id']} (tenant {done['tenant_id'] or '-'}) {stopped}cleared "
            f"{done['windows']} window(s) of {', '.join(done['budgets'])}. Its writes run "
            f"again. Audited as {done['audit_id']}."
        )
