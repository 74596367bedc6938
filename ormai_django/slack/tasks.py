"""The Celery tasks of the Slack integration, one per ack and signal; each runs its work in
``slack/work.py``, imported when the task runs: registering the tasks (every process that
loads ``ormai_django.tasks`` does) costs no ``slack_sdk`` import.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(bind=True, name="ormai_django.slack.post_message", ignore_result=True)
def post_message(self: Any, approval_id: str) -> bool:
    """Post the held call ``approval_id`` to the channel."""
    from ormai_django.slack import work

    return work.post_message(self, approval_id)


@shared_task(bind=True, name="ormai_django.slack.update_message", ignore_result=True)
def update_message(self: Any, approval_id: str) -> bool:
    """Show the request as it is now (decided, executed, failed, expired, escalated)."""
    from ormai_django.slack import work

    return work.update_message(self, approval_id)


@shared_task(bind=True, name="ormai_django.slack.remind", ignore_result=True)
def remind(self: Any, approval_id: str) -> bool:
    """A reminder in the message's thread: still waiting, how many approvals, until when."""
    from ormai_django.slack import work

    return work.remind(self, approval_id)


@shared_task(bind=True, name="ormai_django.slack.escalate", ignore_result=True)
def escalate(self: Any, approval_id: str, usernames: list[str]) -> bool:
    """Tell the escalation's approvers in the thread, and show the escalation in the
    message."""
    from ormai_django.slack import work

    return work.escalate(self, approval_id, usernames)


@shared_task(bind=True, name="ormai_django.slack.handle_interaction", ignore_result=True)
def handle_interaction(self: Any, payload: dict[str, Any]) -> str:
    """Do what a verified interaction asks (``interactions.handle``)."""
    from ormai_django.slack import work

    return work.handle_interaction(self, payload)
