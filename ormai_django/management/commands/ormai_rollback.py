"""``python manage.py ormai_rollback <audit_id> | --run <run_id> [--tenant T] [--dry-run]``

Rolls back one executed write (or every write of an agent run), printing a table per row
(model, pk, field, current value, restored value, conflict) and a one-line summary.

Exit status: 0 done (or a clean dry run); 1 a conflict or a refusal (already rolled back,
not a write; a dry run that finds conflicts); 2 an unknown id or bad arguments (a run id
that several tenants used, without ``--tenant``, included).
"""

from __future__ import annotations

import getpass
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ormai_django.rollback import (
    AMBIGUOUS_RUN,
    INVALID_ARGUMENTS,
    UNKNOWN_AUDIT_EVENT,
    UNKNOWN_RUN,
    RollbackError,
    rollback_audit_id,
    rollback_run,
)
from ormai_django.rollback.table import conflict_lines, render_table

EXIT_REFUSED = 1
EXIT_UNKNOWN = 2


class Command(BaseCommand):
    help = (
        "Roll back an executed agent write (by audit id) or a whole agent run (--run): "
        "restore what it changed, refusing rows changed since unless --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("audit_id", nargs="?", help="The write's audit id (aud_...).")
        parser.add_argument("--run", dest="run_id", help="Roll back every write of this run id.")
        parser.add_argument(
            "--tenant",
            help="With --run: the tenant whose run it is (needed when several tenants used the "
            "run id; a run is a tenant's).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Show the inverse row by row; change nothing."
        )
        parser.add_argument(
            "--force", action="store_true", help="Overwrite rows changed since the write."
        )
        parser.add_argument(
            "--actor", help="Who rolls back, for the audit log (default: cli:<login name>)."
        )
        parser.add_argument("--reason", default="", help="Why, for the audit log and history.")
        parser.add_argument(
            "--max-rows", type=int, default=200, help="Table lines to print (0: all)."
        )
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        audit_id, run_id = options["audit_id"], options["run_id"]
        if bool(audit_id) == bool(run_id):
            raise CommandError("Give an audit id or --run <run_id> (one of them).", returncode=2)
        if options["tenant"] is not None and not run_id:
            raise CommandError("--tenant goes with --run <run_id>.", returncode=2)
        if options["max_rows"] < 0:
            raise CommandError("--max-rows must be 0 or more.", returncode=2)
        kwargs = {
            "actor": options["actor"] or f"cli:{_login()}",
            "dry_run": options["dry_run"],
            "force": options["force"],
            "reason": options["reason"],
            "max_lines": options["max_rows"] or None,
        }
        try:
            if run_id:
                result = rollback_run(run_id, tenant_id=options["tenant"], **kwargs)
            else:
                result = rollback_audit_id(audit_id, **kwargs)
        except RollbackError as error:
            self.refused(error, options)
            return
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2, default=str))
        else:
            self.stdout.write(render_table(result["rows"], result["rows_truncated"]))
            self.stdout.write(summary(result, run_id or audit_id))
        if result["outcome"] == "dry_run" and result["conflicts"]:
            raise CommandError(
                f"{len(result['conflicts'])} conflict(s): a rollback would be refused "
                "(--force overwrites them).",
                returncode=EXIT_REFUSED,
            )

    def refused(self, error: RollbackError, options: dict[str, Any]) -> None:
        if options["json"]:
            self.stdout.write(json.dumps({"error": error.as_dict()}, indent=2, default=str))
        elif error.conflicts:
            self.stdout.write("Conflicts (rows changed since the write):")
            for line in conflict_lines(error.conflicts):
                self.stdout.write(f"  {line}")
        unknown = error.code in (UNKNOWN_AUDIT_EVENT, UNKNOWN_RUN, INVALID_ARGUMENTS, AMBIGUOUS_RUN)
        raise CommandError(
            f"{error.code}: {error.message}", returncode=EXIT_UNKNOWN if unknown else EXIT_REFUSED
        )


def summary(result: dict[str, Any], target: str) -> str:
    rows, conflicts = result["restored_rows"], len(result["conflicts"])
    if result["outcome"] == "dry_run":
        return (
            f"Dry run of the rollback of {target}: would restore {rows} row(s), "
            f"{conflicts} conflict(s); nothing was changed."
        )
    ids = result.get("audit_ids") or [result["audit_id"]]
    forced = f", {conflicts} conflict(s) overwritten (--force)" if result.get("forced") else ""
    return f"Rolled back {target}: {rows} row(s) restored{forced}; audit event(s) {', '.join(ids)}."


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
