"""``python manage.py ormai_purge_idempotency [--older-than-hours N]``

Deletes idempotency records older than ``ORMAI["IDEMPOTENCY_RETENTION"]`` (7 days by
default) or ``--older-than-hours``. A retry of a purged key runs as a new call.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ormai_django.conf import ormai_settings
from ormai_django.writes.idempotency import purge


class Command(BaseCommand):
    help = "Delete idempotency records older than the retention period."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than-hours",
            type=float,
            default=None,
            help='Age in hours (default: ORMAI["IDEMPOTENCY_RETENTION"]).',
        )

    def handle(self, *args: Any, older_than_hours: float | None, **options: Any) -> None:
        if older_than_hours is not None and older_than_hours < 0:
            raise CommandError("--older-than-hours must not be negative")
        older_than = (
            timedelta(hours=older_than_hours)
            if older_than_hours is not None
            else ormai_settings.IDEMPOTENCY_RETENTION
        )
        deleted = purge(older_than)
        self.stdout.write(f"Deleted {deleted} idempotency record(s) older than {older_than}.")
