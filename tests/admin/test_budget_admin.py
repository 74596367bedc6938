"""Budget windows in Django admin: read-only, and a confirmed "reset the run" action for
those with the reset permission (the reset audited under the admin user's name)."""

import pytest
from django.contrib.admin import helpers
from django.contrib.auth.models import Permission
from django.urls import reverse

from ormai_django import ToolContext, execute
from ormai_django.models import AuditEvent, BudgetWindow
from tests.factories import CustomerFactory
from tests.support import shop_writes

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:looper", tenant_id=7, run_id="run-admin")
CHANGELIST = reverse("admin:ormai_django_budgetwindow_changelist")


def stop_the_run():
    """A run budget of one write, and an agent that tries three: the run is stopped."""
    policy = shop_writes().write_budget(scope="run", max_calls=1).build()
    customer = CustomerFactory()
    call = {
        "name": "db.update",
        "arguments": {
            "model": "Customer",
            "id": customer.id,
            "data": {"preferred_name": "Loop"},
            "reason": "looping",
        },
    }
    results = [execute(call, AGENT, policy=policy) for _ in range(3)]
    assert [r["outcome"] for r in results] == ["ok", "denied", "denied"]
    return policy, call


@pytest.fixture
def staff(client, django_user_model):
    def login(*codenames):
        user = django_user_model.objects.create_user("lee", password="pw", is_staff=True)
        user.user_permissions.add(
            *Permission.objects.filter(
                content_type__app_label="ormai_django", codename__in=codenames
            )
        )
        client.force_login(user)
        return client

    return login


def test_the_windows_are_listed_with_what_they_counted_and_whether_the_run_stopped(staff):
    stop_the_run()
    browser = staff("view_budgetwindow")

    page = browser.get(CHANGELIST)
    stopped = browser.get(CHANGELIST, {"state": "stopped"})

    assert page.status_code == 200
    assert b"budget:run:calls=1" in page.content and b"run stopped" in page.content
    assert stopped.status_code == 200 and b"budget:run:calls=1" in stopped.content
    # Read-only: no add, no change, no delete, and no reset without the permission.
    assert b"reset_runs" not in page.content
    window = BudgetWindow.objects.get()
    change = reverse("admin:ormai_django_budgetwindow_change", args=[window.pk])
    assert browser.get(reverse("admin:ormai_django_budgetwindow_add")).status_code == 403
    assert browser.post(change, {"budget": "x"}).status_code == 403
    assert BudgetWindow.objects.get().budget == "budget:run:calls=1"


def test_reset_asks_for_a_confirmation_then_frees_the_run_and_audits_who_did_it(staff):
    policy, call = stop_the_run()
    browser = staff("view_budgetwindow", "reset_budgetwindow")
    selected = {
        "action": "reset_runs",
        helpers.ACTION_CHECKBOX_NAME: [BudgetWindow.objects.get().pk],
    }

    confirmation = browser.post(CHANGELIST, selected)
    assert confirmation.status_code == 200
    assert b"Reset these runs?" in confirmation.content and b"run-admin" in confirmation.content
    assert BudgetWindow.objects.filter(stopped=True).exists()  # nothing reset yet

    done = browser.post(
        CHANGELIST, {**selected, "post": "yes", "reason": "looked at it"}, follow=True
    )

    assert done.status_code == 200
    assert b"Reset 1 run: run-admin" in done.content
    assert not BudgetWindow.objects.exists()
    event = AuditEvent.objects.get(tool="budget.reset")
    assert (event.principal, event.run_id, event.reason) == ("lee", "run-admin", "looked at it")
    assert execute(call, AGENT, policy=policy)["outcome"] == "ok"


def test_the_reset_action_is_not_offered_without_the_permission(staff):
    stop_the_run()
    browser = staff("view_budgetwindow")

    refused = browser.post(
        CHANGELIST,
        {
            "action": "reset_runs",
            "post": "yes",
            helpers.ACTION_CHECKBOX_NAME: [BudgetWindow.objects.get().pk],
        },
    )

    assert refused.status_code in (200, 302)
    assert BudgetWindow.objects.filter(stopped=True).exists()
    assert not AuditEvent.objects.filter(tool="budget.reset").exists()
