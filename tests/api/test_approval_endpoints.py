"""approvals/: listing, approving and denying held calls over HTTP, with the permissions
each needs; a held call runs once, never on its requester's approval."""

import pytest

from ormai_django.models import ApprovalRequest, AuditEvent
from sandbox_project.shop.models import Subscription
from tests.api.support import (
    APPROVALS,
    agent,
    held_plan_change,
    person,
)

pytestmark = pytest.mark.django_db


def test_approvals_need_a_user_with_permission():
    _, approval_id = held_plan_change()

    token = agent().get(APPROVALS)
    nobody = person("maria").get(APPROVALS)
    viewer = person("vic", "view_approvalrequest").get(APPROVALS)
    viewer_approves = person("val", "view_approvalrequest").post(
        f"{APPROVALS}{approval_id}/approve/", {}, format="json"
    )

    assert (token.status_code, nobody.status_code, viewer.status_code) == (403, 403, 200)
    assert token.json()["error"]["code"] == "PERMISSION_DENIED"
    assert [a["id"] for a in viewer.json()["results"]] == [approval_id]
    assert viewer_approves.status_code == 403
    assert ApprovalRequest.objects.get(id=approval_id).status == "pending"


def test_approving_over_http_runs_the_held_call_once():
    subscription, approval_id = held_plan_change()
    lee = person("lee", "approve_approvalrequest")

    first = lee.post(f"{APPROVALS}{approval_id}/approve/", {"note": "OK per CSM"}, format="json")
    again = person("kim", "approve_approvalrequest").post(
        f"{APPROVALS}{approval_id}/approve/", {}, format="json"
    )

    assert first.status_code == 200
    assert first.json()["status"] == "executed"
    assert first.json()["result"]["outcome"] == "ok"
    assert (again.status_code, again.json()["error"]["code"]) == (409, "APPROVAL_NOT_PENDING")
    assert Subscription.objects.get(id=subscription.id).plan == "pro"
    executed = AuditEvent.objects.filter(approval_id=approval_id, tool="db.update", outcome="ok")
    assert executed.count() == 1
    decision = lee.get(f"{APPROVALS}{approval_id}/").json()["decisions"][0]
    assert (decision["approver"], decision["note"]) == ("lee", "OK per CSM")


def test_denying_over_http_ends_the_request():
    subscription, approval_id = held_plan_change()

    response = person("lee", "approve_approvalrequest").post(
        f"{APPROVALS}{approval_id}/deny/", {"note": "not in plan"}, format="json"
    )

    assert (response.status_code, response.json()["status"]) == (200, "denied")
    assert Subscription.objects.get(id=subscription.id).plan == "basic"


def test_the_requester_cannot_approve_over_http():
    _, approval_id = held_plan_change(on_behalf_of="maria")

    response = person("maria", "approve_approvalrequest").post(
        f"{APPROVALS}{approval_id}/approve/", {}, format="json"
    )

    assert (response.status_code, response.json()["error"]["code"]) == (
        403,
        "APPROVER_IS_REQUESTER",
    )


def test_deciding_an_unknown_approval_is_404():
    lee = person("lee", "approve_approvalrequest")

    for approval_id in ("appr_01NOPE", "appr-01", "a" * 40, "%00"):
        response = lee.post(f"{APPROVALS}{approval_id}/approve/", {}, format="json")
        assert response.status_code == 404
        assert response.json()["error"]["code"] in ("UNKNOWN_APPROVAL", "NOT_FOUND")
    assert lee.get(f"{APPROVALS}appr_01NOPE/").status_code == 404


def test_a_malformed_decision_body_is_400():
    _, approval_id = held_plan_change()
    lee = person("lee", "approve_approvalrequest")

    bad_json = lee.generic(
        "POST", f"{APPROVALS}{approval_id}/approve/", "{oops", content_type="application/json"
    )
    bad_note = lee.post(f"{APPROVALS}{approval_id}/approve/", {"note": "a\x00b"}, format="json")

    assert (bad_json.status_code, bad_json.json()["error"]["code"]) == (400, "INVALID_JSON")
    assert (bad_note.status_code, bad_note.json()["error"]["code"]) == (400, "INVALID_ARGUMENTS")
    assert ApprovalRequest.objects.get(id=approval_id).status == "pending"


def test_approvals_filter_by_status_model_and_tool():
    _, pending_id = held_plan_change()
    _, denied_id = held_plan_change()
    viewer = person("vic", "view_approvalrequest")
    person("lee", "approve_approvalrequest").post(
        f"{APPROVALS}{denied_id}/deny/", {}, format="json"
    )

    def ids(**params):
        return [a["id"] for a in viewer.get(APPROVALS, params).json()["results"]]

    assert ids(status="pending") == [pending_id]
    assert ids(status="denied") == [denied_id]
    assert set(ids(model="Subscription")) == {pending_id, denied_id}
    assert set(ids(model="shop.subscription", tool="db.update")) == {pending_id, denied_id}
    assert ids(model="Order") == []
    bad = viewer.get(APPROVALS, {"status": "maybe"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "INVALID_FILTER")
