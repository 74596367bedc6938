"""``python manage.py ormai_inventory [--format table|markdown|json] [--policy dotted.path]``

The write policy as the spec it is (DESIGN 14): per model and write tool, and per domain
tool, whether it is allowed, the writable fields, reason, approval rules in words,
idempotency, dry run and preview tools, caps and reversibility; the read side per model;
every rule with its stable id. ``--write-docs FILE`` puts the markdown form into FILE
between ``<!-- ormai_inventory:start -->`` and ``<!-- ormai_inventory:end -->``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ormai_django.errors import PolicyConfigurationError
from ormai_django.inventory import FORMATS, build_inventory, render
from ormai_django.policy.loading import get_policy, load_policy

START = "<!-- ormai_inventory:start -->"
END = "<!-- ormai_inventory:end -->"


def replace_between_markers(text: str, block: str) -> str:
    """``text`` with what stands between the inventory markers replaced by ``block``."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the file has no {START} ... {END} markers")
    return text[: start + len(START)] + "\n" + block.rstrip() + "\n" + text[end:]


class Command(BaseCommand):
    help = "Print the write policy as a spec: per model and tool, what an agent may do."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=FORMATS, default="table")
        parser.add_argument(
            "--policy", default=None, help="Dotted path to a Policy (default: ORMAI['POLICY'])."
        )
        parser.add_argument(
            "--write-docs",
            default=None,
            metavar="FILE",
            help="Write the markdown inventory into FILE between the ormai_inventory markers.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            policy = load_policy(options["policy"]) if options["policy"] else get_policy()
        except (PolicyConfigurationError, ImportError, ValueError) as exc:
            raise CommandError(f"the policy can't be built: {exc}") from None
        inventory = build_inventory(policy)
        if options["write_docs"]:
            path = Path(options["write_docs"])
            try:
                text = replace_between_markers(path.read_text(), render(inventory, "markdown"))
            except (OSError, ValueError) as exc:
                raise CommandError(str(exc)) from None
            path.write_text(text)
            self.stdout.write(f"Wrote the inventory into {path}.")
            return
        self.stdout.write(render(inventory, options["format"]), ending="")
