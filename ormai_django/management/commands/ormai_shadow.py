"""``manage.py ormai_shadow --policy candidate.path [--since 7d] [--format table|markdown|json]``:
what a candidate policy would change, replayed on the audit log (deciding only: nothing
executes), or, with ``--recorded``, what ``ORMAI["SHADOW_POLICY"]`` recorded beside the live
calls."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ormai_django.errors import PolicyConfigurationError
from ormai_django.policy.loading import load_policy
from ormai_django.shadow import recorded, replay

UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str) -> timedelta | None:
    """``7d``, ``24h``, ``30m``, ``2w``; ``all``: the whole log."""
    if text == "all":
        return None
    match = re.fullmatch(r"(\d+)([mhdw])", text.strip())
    if not match:
        raise CommandError(f"--since takes a number and m, h, d or w (7d, 24h), not {text!r}")
    return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


class Command(BaseCommand):
    help = (
        "Report what a candidate policy would change: calls of the audit log that were "
        "allowed and would be denied or held, and denied ones that would pass, per rule."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--policy", help="Dotted path to the candidate Policy (or builder).")
        parser.add_argument(
            "--recorded",
            action="store_true",
            help='Report the verdicts ORMAI["SHADOW_POLICY"] recorded instead of replaying.',
        )
        parser.add_argument("--since", default="7d", help="How far back: 7d, 24h, 30m, all.")
        parser.add_argument("--format", choices=("table", "markdown", "json"), default="table")
        parser.add_argument(
            "--fail-on-change",
            action="store_true",
            help="Exit with status 1 when some call would change (for CI).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        since = parse_since(options["since"])
        if options["recorded"]:
            report = recorded(since=since)
        else:
            if not options["policy"]:
                raise CommandError("give --policy dotted.path (or --recorded)")
            try:
                policy = load_policy(options["policy"])
            except PolicyConfigurationError as exc:
                raise CommandError(f"the candidate policy can't be built: {exc}") from None
            report = replay(policy, since=since, source=options["policy"])
        shape = options["format"]
        text = {
            "json": report.as_json,
            "markdown": report.as_markdown,
            "table": report.as_table,
        }[shape]()
        self.stdout.write(text.rstrip("\n"))
        if options["fail_on_change"] and report.changed:
            raise SystemExit(1)
