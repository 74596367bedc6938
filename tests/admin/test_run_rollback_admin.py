""" "Roll back this run" in the admin: a preview of the whole run that records nothing (GET,
reloaded), then the rollback through ``rollback_run`` for that tenant's run only (POST), with
Django's history and simple-history's ``history_user`` naming the operator."""

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils.http import urlencode

from ormai_django import ToolContext
from ormai_django.models import AuditEvent
from sandbox_project.shop.models import Order
from tests.admin.audit_rows import staff_client
from tests.support import cancel_customer_orders

pytestmark = pytest.mark.django_db

RUN = "desk-cleanup"


def run_rollback_url(tenant_id, run_id=RUN):
    query = urlencode({"tenant_id": tenant_id, "run_id": run_id})
    return f"{reverse('admin:ormai_django_auditevent_run_rollback')}?{query}"


@pytest.fixture
def operator(client, django_user_model):
    return staff_client(
        client, django_user_model, "view_auditevent", "rollback_auditevent", username="kim"
    )


def two_writes_and_another_tenants():
    """Tenant 7's run cancels orders twice; tenant 8's agent used the same run id."""
    seven = ToolContext(principal="agent:a", tenant_id=7, run_id=RUN)
    first = cancel_customer_orders(seven)[1]
    second = cancel_customer_orders(seven, count=1)[1]
    eight = cancel_customer_orders(ToolContext(principal="agent:b", tenant_id=8, run_id=RUN))[1]
    return [*first, *second], eight


def statuses(orders):
    return [Order.objects.get(pk=o.pk).status for o in orders]


def test_the_preview_shows_the_whole_run_and_records_nothing(operator):
    mine, _ = two_writes_and_another_tenants()
    events = AuditEvent.objects.count()

    pages = [operator.get(run_rollback_url("7")) for _ in range(3)]

    assert all(page.status_code == 200 for page in pages)
    text = pages[0].content.decode()
    assert "undoes its 2 executed write(s)" in text and "restores 3 rows" in text
    assert text.count("<tr>") >= 3
    assert AuditEvent.objects.count() == events  # no dry-run row left behind
    assert statuses(mine) == ["cancelled"] * 3


def test_rolling_back_the_run_restores_only_that_tenants_writes(operator):
    mine, theirs = two_writes_and_another_tenants()

    done = operator.post(run_rollback_url("7"), {"reason": "the cleanup ran on the wrong day"})

    assert done.status_code == 302
    assert done["Location"].startswith(reverse("admin:ormai_django_auditevent_run"))
    assert statuses(mine) == ["pending"] * 3
    assert statuses(theirs) == ["cancelled"] * 2
    rollbacks = AuditEvent.objects.filter(tool="rollback", outcome="ok")
    assert rollbacks.count() == 2 and {r.principal for r in rollbacks} == {"kim"}
    assert LogEntry.objects.filter(user__username="kim").count() >= 2
    restored = Order.history.filter(
        id__in=[o.pk for o in mine],
        history_change_reason="the cleanup ran on the wrong day",
        status="pending",
    )
    assert restored.count() == 3
    assert {h.history_user.username for h in restored} == {"kim"}


def test_a_rollback_without_a_reason_changes_nothing(operator):
    mine, _ = two_writes_and_another_tenants()

    page = operator.post(run_rollback_url("7"), {"reason": " "})

    assert page.status_code == 200
    assert "needs a reason" in page.content.decode()
    assert statuses(mine) == ["cancelled"] * 3


def test_the_page_needs_the_rollback_permission(client, django_user_model):
    two_writes_and_another_tenants()
    viewer = staff_client(client, django_user_model, "view_auditevent", username="sam")

    assert viewer.get(run_rollback_url("7")).status_code == 403


def test_the_run_page_links_to_it(operator):
    two_writes_and_another_tenants()
    run_page = reverse("admin:ormai_django_auditevent_run")

    page = operator.get(f"{run_page}?{urlencode({'tenant_id': '7', 'run_id': RUN})}")

    assert run_rollback_url("7").replace("&", "&amp;") in page.content.decode()
