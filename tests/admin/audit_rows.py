"""Audit rows and admin users for the tests of the operator's pages (dashboard, audit list,
run page, export). Rows are inserted directly, at the times a test names: the ledger takes
inserts, and the pages only read it."""

import datetime as dt

from django.contrib.auth.models import Permission
from django.utils import timezone

from ormai_django.models import ApprovalRequest, AuditEvent


def audit_event(ago=dt.timedelta(minutes=5), **fields):
    """One audit row made ``ago`` before now; fields default to an ok db.query."""
    values = {
        "tool": "db.query",
        "model": "shop.Order",
        "principal": "agent:support-bot",
        "tenant_id": "7",
        "run_id": "run-test",
        "outcome": "ok",
        "arguments": {"model": "Order"},
    }
    values.update(fields)
    return AuditEvent.objects.create(created_at=timezone.now() - ago, **values)


def many_events(count, **fields):
    """``count`` rows in one INSERT, a second apart, the newest a minute ago."""
    now = timezone.now()
    base = {
        "tool": "db.update",
        "model": "shop.Order",
        "principal": "agent:support-bot",
        "tenant_id": "7",
        "run_id": "run-many",
        "outcome": "ok",
        "arguments": {"model": "shop.Order", "id": 1},
        "affected_rows": 1,
        "changes": [{"pk": 1, "before": {"status": "paid"}, "after": {"status": "cancelled"}}],
    }
    base.update(fields)
    rows = [
        AuditEvent(created_at=now - dt.timedelta(minutes=1, seconds=i), **base)
        for i in range(count)
    ]
    return AuditEvent.objects.bulk_create(rows)


def pending_approvals(count, ago=dt.timedelta(minutes=5)):
    now = timezone.now()
    rows = [
        ApprovalRequest(
            created_at=now - ago,
            expires_at=now + dt.timedelta(days=1),
            tool="db.update",
            model="Order",
            call={"name": "db.update", "arguments": {"model": "shop.Order", "id": i}},
            preview={"would_change": [{"id": i, "status_before": "paid", "status_after": "x"}]},
            affected_rows=1,
            reason="cancel",
            principal="agent:support-bot",
            tenant_id="7",
            run_id=f"run-held-{i}",
        )
        for i in range(count)
    ]
    return ApprovalRequest.objects.bulk_create(rows)


def staff_client(client, django_user_model, *codenames, username="ops"):
    """``client`` logged in as a staff user with the ormai_django permissions named."""
    user = django_user_model.objects.create_user(username, is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="ormai_django", codename__in=codenames)
    )
    client.force_login(user)
    return client
