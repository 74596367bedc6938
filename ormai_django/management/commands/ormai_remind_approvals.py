"""``python manage.py ormai_remind_approvals``: remind and escalate held calls still waiting.

For projects without Celery beat (which runs ``ormai_django.tasks.remind_approvals``): run
it from cron every minute, beside ``ormai_expire_approvals``. Safe to run twice.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ormai_django.approvals import remind_and_escalate


class Command(BaseCommand):
    help = "Remind approvers of requests past remind_after; escalate those past escalate_after."

    def handle(self, *args: Any, **options: Any) -> None:
        done = remind_and_escalate()
        self.stdout.write(
            f"Reminded {done['reminded']}, escalated {done['escalated']} approval request(s)."
        )
