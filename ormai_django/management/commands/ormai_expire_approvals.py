"""``python manage.py ormai_expire_approvals``: expire held calls nobody decided in time.

For projects without Celery beat (which runs ``ormai_django.tasks.expire_approvals``):
run it from cron every minute. Safe to run twice, or from two hosts at once.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ormai_django.approvals import expire_approvals


class Command(BaseCommand):
    help = "Mark pending approvals past their expires_at as expired (the auto-deny)."

    def handle(self, *args: Any, **options: Any) -> None:
        expired = expire_approvals()
        self.stdout.write(f"Expired {expired} approval request(s).")
