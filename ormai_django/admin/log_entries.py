"""Decisions and rollbacks made in the admin, in Django's own history (``LogEntry``).

Django's "Recent actions" and each object's "History" read ``LogEntry`` rows, which only the
admin's own add/change/delete views write. A decision or a rollback here changes rows
through the audited pipeline instead, so it logs them itself: one entry on the approval
request or audit event the person acted on, and one on each host object the write changed
(at most ``MAX_LOGGED_OBJECTS``: the audit row lists them all).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import models

from ormai_django.models import AuditEvent

MAX_LOGGED_OBJECTS = 100


def log_on(user: Any, objects: Iterable[models.Model], message: str) -> None:
    """A CHANGE entry by ``user`` on each of ``objects``."""
    objects = list(objects)
    if objects and getattr(user, "pk", None) is not None:
        LogEntry.objects.log_actions(
            user_id=user.pk, queryset=objects, action_flag=CHANGE, change_message=message
        )


def changed_objects(audit_id: str | None) -> list[models.Model]:
    """The host rows (still there) that the write ``audit_id`` recorded, model by model."""
    if not audit_id:
        return []
    event = AuditEvent.objects.filter(pk=audit_id).only("model", "changes").first()
    changes = event.changes if event is not None and isinstance(event.changes, list) else []
    keys: dict[str, list[Any]] = {}
    for entry in changes[:MAX_LOGGED_OBJECTS]:
        if isinstance(entry, dict) and "pk" in entry:
            keys.setdefault(entry.get("model") or event.model, []).append(entry["pk"])
    found: list[models.Model] = []
    for label, pks in keys.items():
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            continue
        found += list(model._base_manager.filter(pk__in=pks))
    return found


def log_write(user: Any, audit_id: str | None, message: str) -> None:
    """Log ``message`` on every host object the write ``audit_id`` changed."""
    log_on(user, changed_objects(audit_id), message)
