"""audit-events/{id}/rollback/: rolling a write back over HTTP (permission, preview,
once only, conflicts and force, refusals), and the history a delete over HTTP keeps."""

import pytest
from django.test import override_settings

from ormai_django.models import AuditEvent
from sandbox_project.shop.models import Customer, Order
from tests.api.support import (
    AUDIT,
    SANDBOX_POLICY,
    agent,
    person,
    post_call,
    renamed_customer,
)
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db


def test_rolling_back_needs_the_rollback_permission():
    customer, audit_id = renamed_customer()

    token = agent().post(f"{AUDIT}{audit_id}/rollback/", {}, format="json")
    viewer = person("vic", "view_auditevent").post(
        f"{AUDIT}{audit_id}/rollback/", {}, format="json"
    )

    assert (token.status_code, viewer.status_code) == (403, 403)
    assert Customer.objects.get(id=customer.id).preferred_name == "Annie"


def test_rolling_back_over_http_previews_then_restores_once():
    customer, audit_id = renamed_customer()
    ops = person("ops", "rollback_auditevent")
    url = f"{AUDIT}{audit_id}/rollback/"

    preview = ops.post(url, {"dry_run": True}, format="json")
    assert (preview.status_code, preview.json()["outcome"]) == (200, "dry_run")
    assert Customer.objects.get(id=customer.id).preferred_name == "Annie"

    done = ops.post(url, {"reason": "wrong customer"}, format="json")
    again = ops.post(url, {}, format="json")

    assert (done.status_code, done.json()["outcome"]) == (200, "ok")
    assert Customer.objects.get(id=customer.id).preferred_name == "Ann"
    rollback_event = AuditEvent.objects.get(id=done.json()["audit_id"])
    assert (rollback_event.principal, rollback_event.caused_by_id) == ("ops", audit_id)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "ALREADY_ROLLED_BACK")


def test_a_rollback_conflict_is_409_unless_forced():
    customer, audit_id = renamed_customer()
    Customer.objects.filter(id=customer.id).update(preferred_name="Annabel")
    ops = person("ops", "rollback_auditevent")
    url = f"{AUDIT}{audit_id}/rollback/"

    refused = ops.post(url, {}, format="json")
    forced = ops.post(url, {"force": True, "reason": "restore anyway"}, format="json")

    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "ROLLBACK_CONFLICT")
    assert refused.json()["error"]["conflicts"]
    assert forced.status_code == 200
    assert Customer.objects.get(id=customer.id).preferred_name == "Ann"


def test_rolling_back_a_read_or_an_unknown_event_is_refused():
    read = post_call(agent(), "db.describe").json()["audit_id"]
    ops = person("ops", "rollback_auditevent")

    not_a_write = ops.post(f"{AUDIT}{read}/rollback/", {}, format="json")
    unknown = ops.post(f"{AUDIT}aud_01NOPE/rollback/", {}, format="json")
    bad_body = ops.post(f"{AUDIT}{read}/rollback/", {"dry_run": "perhaps"}, format="json")

    assert (not_a_write.status_code, not_a_write.json()["error"]["code"]) == (400, "NOT_A_WRITE")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "UNKNOWN_AUDIT_EVENT")
    assert (bad_body.status_code, bad_body.json()["error"]["code"]) == (400, "INVALID_ARGUMENTS")


def test_a_hard_delete_over_http_keeps_its_history_without_a_django_user():
    by_token, by_staff = OrderFactory(), OrderFactory()
    lee = person("lee", staff=True)

    deleted = post_call(agent(), "db.delete", model="Order", id=by_token.id, reason="duplicate")
    with override_settings(
        ORMAI={
            "POLICY": SANDBOX_POLICY,
            "CONTEXT_RESOLVER": "tests.api.support.TenantSevenResolver",
        }
    ):
        staff_deleted = post_call(
            lee, "db.delete", model="Order", id=by_staff.id, reason="duplicate"
        )

    assert (deleted.status_code, staff_deleted.status_code) == (200, 200)
    token_row = Order.history.get(id=by_token.id, history_type="-")
    staff_row = Order.history.get(id=by_staff.id, history_type="-")
    assert token_row.history_user is None
    assert staff_row.history_user.get_username() == "lee"
