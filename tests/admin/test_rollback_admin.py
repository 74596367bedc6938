"""The "Roll back" action in Django admin: shown on an executed write to users with the
rollback permission, a preview table that records nothing, a required reason, rows already
restored, conflicts and force, the applied changes, and Django's own history."""

import re

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission
from django.urls import reverse

from ormai_django import ToolContext, execute
from ormai_django.models import AuditEvent
from sandbox_project.shop.models import Order
from tests.support import cancel_customer_orders

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-admin-rollback")


def user_client(client, django_user_model, *codenames, username="lee"):
    # No password: force_login needs none, and hashing one costs a third of a second.
    user = django_user_model.objects.create_user(username, is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="ormai_django", codename__in=codenames)
    )
    client.force_login(user)
    return client


@pytest.fixture
def operator(client, django_user_model):
    return user_client(client, django_user_model, "view_auditevent", "rollback_auditevent")


@pytest.fixture
def viewer(client, django_user_model):
    return user_client(client, django_user_model, "view_auditevent", username="sam")


def cancelled_orders():
    return cancel_customer_orders(AGENT)


def change_url(audit_id):
    return reverse("admin:ormai_django_auditevent_change", args=[quote(audit_id)])


def rollback_url(audit_id):
    return reverse("admin:ormai_django_auditevent_rollback", args=[quote(audit_id)])


def table_rows(page, table_id):
    """The cells' texts of each body row of the table ``table_id``."""
    table = re.search(rf'id="{table_id}".*?</table>', page, flags=re.S).group(0)
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>.*?</td>", r, re.S)]
        for r in re.findall(r"<tr[^>]*>.*?</tr>", table, flags=re.S)
        if "<td" in r
    ]


def test_an_operator_sees_roll_back_on_an_executed_write_and_not_on_a_read(operator):
    audit_id, _ = cancelled_orders()
    execute({"name": "db.query", "arguments": {"model": "Order"}}, AGENT)
    read_id = AuditEvent.objects.filter(tool="db.query").latest("created_at").id

    assert rollback_url(audit_id) in operator.get(change_url(audit_id)).content.decode()
    assert "Roll back" not in operator.get(change_url(read_id)).content.decode()


def test_without_the_permission_there_is_no_button_and_no_page(viewer):
    audit_id, _orders = cancelled_orders()

    assert "Roll back" not in viewer.get(change_url(audit_id)).content.decode()
    assert viewer.get(rollback_url(audit_id)).status_code == 403
    response = viewer.post(rollback_url(audit_id), {"reason": "try"})
    assert response.status_code == 403
    assert set(Order.objects.values_list("status", flat=True)) == {"cancelled"}


def test_the_page_shows_the_dry_run_table_and_changes_nothing(operator):
    audit_id, orders = cancelled_orders()

    page = operator.get(rollback_url(audit_id)).content.decode()

    assert 'id="ormai-rollback-table"' in page
    rows = table_rows(page, "ormai-rollback-table")
    assert [r[:4] for r in rows] == [["shop.Order", str(o.pk), "restore", "status"] for o in orders]
    # now, left by the write, restored, state
    assert {tuple(r[4:]) for r in rows} == {("cancelled", "cancelled", "pending", "restore")}
    assert "restores 2 rows" in page
    assert set(Order.objects.values_list("status", flat=True)) == {"cancelled"}


def test_opening_and_reloading_the_page_writes_no_audit_row(operator):
    audit_id, _orders = cancelled_orders()
    before = AuditEvent.objects.count()

    for _ in range(3):
        assert operator.get(rollback_url(audit_id)).status_code == 200

    assert AuditEvent.objects.count() == before
    assert not AuditEvent.objects.filter(caused_by=audit_id).exists()


def test_confirming_with_a_reason_rolls_back_as_the_admin_user_and_shows_the_changes(operator):
    audit_id, orders = cancelled_orders()

    response = operator.post(rollback_url(audit_id), {"reason": "wrong customer"})

    rollback = AuditEvent.objects.get(caused_by=audit_id, outcome="ok")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="ormai-rollback-applied"' in page
    assert change_url(rollback.pk) in page
    assert table_rows(page, "ormai-rollback-applied") == [
        ["shop.Order", str(o.pk), "restore", "status", "cancelled", "pending"] for o in orders
    ]
    assert (rollback.principal, rollback.reason) == ("lee", "wrong customer")
    assert set(Order.objects.values_list("status", flat=True)) == {"pending"}
    # Rolled back: the button is gone from the original.
    assert rollback_url(audit_id) not in operator.get(change_url(audit_id)).content.decode()


def test_a_rollback_is_in_djangos_history_and_names_the_admin_user_in_simple_history(operator):
    audit_id, orders = cancelled_orders()

    operator.post(rollback_url(audit_id), {"reason": "wrong customer"})

    lee = LogEntry.objects.filter(user__username="lee", action_flag=CHANGE)
    on_event = lee.get(object_id=audit_id)
    assert "Rolled back by aud_" in on_event.change_message
    assert "wrong customer" in on_event.change_message
    on_orders = lee.filter(content_type__model="order").values_list("object_id", flat=True)
    assert sorted(on_orders) == sorted(str(o.pk) for o in orders)
    latest = Order.history.filter(id=orders[0].pk).latest("history_date")
    assert latest.history_user.get_username() == "lee"
    assert latest.history_change_reason == "wrong customer"


def test_a_row_already_put_back_by_hand_is_marked_and_needs_no_force(operator):
    audit_id, orders = cancelled_orders()
    Order.objects.filter(pk=orders[0].pk).update(status="pending")  # someone undid it by hand

    page = operator.get(rollback_url(audit_id)).content.decode()

    assert '<tr class="ormai-already_restored">' in page
    assert "already restored" in page
    assert "conflict" not in page.split('id="ormai-rollback-table"')[1].split("</table>")[0]
    assert 'name="force"' not in page
    operator.post(rollback_url(audit_id), {"reason": "finish the undo"})
    assert AuditEvent.objects.filter(caused_by=audit_id, outcome="ok").exists()
    assert set(Order.objects.values_list("status", flat=True)) == {"pending"}


def test_a_rollback_without_a_reason_changes_nothing(operator):
    audit_id, _ = cancelled_orders()

    page = operator.post(rollback_url(audit_id), {"reason": "  "}).content.decode()

    assert "A rollback needs a reason" in page
    assert set(Order.objects.values_list("status", flat=True)) == {"cancelled"}


def test_conflicts_are_shown_refused_and_overwritten_only_when_forced(operator):
    audit_id, orders = cancelled_orders()
    Order.objects.filter(pk=orders[0].pk).update(status="refunded")

    page = operator.get(rollback_url(audit_id)).content.decode()
    assert "1 row changed since the write to something else (a conflict)" in page
    # Now, left by the write, restored: the three values side by side.
    rows = table_rows(page, "ormai-rollback-table")
    assert ["refunded", "cancelled", "pending", "conflict"] in [r[4:] for r in rows]
    assert 'name="force"' in page

    page = operator.post(rollback_url(audit_id), {"reason": "undo"}, follow=True)
    assert "ROLLBACK_CONFLICT" in page.content.decode()
    assert Order.objects.get(pk=orders[1].pk).status == "cancelled"

    operator.post(rollback_url(audit_id), {"reason": "undo", "force": "on"})
    assert set(Order.objects.values_list("status", flat=True)) == {"pending"}
