"""``python manage.py ormai_probe --principal agent:probe --tenant 7 [--policy dotted.path]``

Attack the policy the way a careless or hostile agent would, through the real pipeline,
inside a transaction that is rolled back (see ``ormai_django.probe``). Prints one line per
attempt (what was tried, what the policy must do, the outcome and code) and exits 1 when
anything got through that the inventory says must not, naming it. Run it in CI against a
seeded development database.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ormai_django.errors import PolicyConfigurationError
from ormai_django.inventory.render import table
from ormai_django.policy.loading import get_policy, load_policy
from ormai_django.probe import run_probe

HEADER = ["subject", "tool", "attempt", "must", "outcome", "verdict"]


class Command(BaseCommand):
    help = (
        "Try every write the way a hostile agent would (rolled back) and report what got through."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--principal", default="agent:ormai-probe")
        parser.add_argument("--tenant", default=None, help="The tenant the agent acts in.")
        parser.add_argument("--policy", default=None, help="Dotted path (default ORMAI['POLICY']).")
        parser.add_argument("--format", choices=("table", "json"), default="table")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            policy = load_policy(options["policy"]) if options["policy"] else get_policy()
        except (PolicyConfigurationError, ImportError, ValueError) as exc:
            raise CommandError(f"the policy can't be built: {exc}") from None
        tenant = options["tenant"]
        if tenant is not None and tenant.isdigit():
            tenant = int(tenant)
        started = time.perf_counter()
        attempts = run_probe(policy, options["principal"], tenant)
        seconds = time.perf_counter() - started
        holes = [a for a in attempts if a.violation]
        if options["format"] == "json":
            rows = [{k: v for k, v in vars(a).items() if k != "arguments"} for a in attempts]
            self.stdout.write(json.dumps({"attempts": rows, "seconds": seconds}, indent=2))
        else:
            self.stdout.write(table("Probe", HEADER, [a.as_row() for a in attempts]))
            self.stdout.write(
                f"{len(attempts)} attempts in {seconds:.1f} s, rolled back; "
                f"{len(holes)} got through that must not."
            )
        if holes:
            for hole in holes:
                self.stderr.write(
                    f"GOT THROUGH: {hole.subject} {hole.tool}: {hole.attempt} "
                    f"(must {hole.must}; got {hole.outcome})"
                )
            sys.exit(1)
