"""The "Roll back" action in Django admin: shown on an executed write to users with the
rollback permission, a dry-run table, a required reason, conflicts and force."""

import pytest
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
    for order in orders:
        assert f"<td>shop.Order</td><td>{order.pk}</td><td>restore</td><td>status</td>" in page
    assert "restores 2 rows" in page
    assert set(Order.objects.values_list("status", flat=True)) == {"cancelled"}


def test_confirming_with_a_reason_rolls_back_as_the_admin_user(operator):
    audit_id, _orders = cancelled_orders()

    response = operator.post(rollback_url(audit_id), {"reason": "wrong customer"})

    rollback = AuditEvent.objects.get(caused_by=audit_id, outcome="ok")
    assert response.status_code == 302
    assert response["Location"] == change_url(rollback.pk)
    assert (rollback.principal, rollback.reason) == ("lee", "wrong customer")
    assert set(Order.objects.values_list("status", flat=True)) == {"pending"}
    # Rolled back: the button is gone from the original.
    assert rollback_url(audit_id) not in operator.get(change_url(audit_id)).content.decode()


def test_a_rollback_without_a_reason_changes_nothing(operator):
    audit_id, _ = cancelled_orders()

    page = operator.post(rollback_url(audit_id), {"reason": "  "}).content.decode()

    assert "A rollback needs a reason" in page
    assert set(Order.objects.values_list("status", flat=True)) == {"cancelled"}


def test_conflicts_are_shown_refused_and_overwritten_only_when_forced(operator):
    audit_id, orders = cancelled_orders()
    Order.objects.filter(pk=orders[0].pk).update(status="refunded")

    page = operator.get(rollback_url(audit_id)).content.decode()
    assert "1 conflict: rows changed since the write" in page
    assert 'name="force"' in page

    page = operator.post(rollback_url(audit_id), {"reason": "undo"}, follow=True)
    assert "ROLLBACK_CONFLICT" in page.content.decode()
    assert Order.objects.get(pk=orders[1].pk).status == "cancelled"

    operator.post(rollback_url(audit_id), {"reason": "undo", "force": "on"})
    assert set(Order.objects.values_list("status", flat=True)) == {"pending"}
