"""approval.status: a tool of the registry, so Python, HTTP and MCP offer it, through the
one pipeline (audited there), to the principal and tenant that asked and nobody else."""

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from ormai_django import DEFAULT_PROD, PolicyBuilder, ToolContext, execute, tool_definitions
from ormai_django.approvals import approve
from ormai_django.models import AuditEvent
from ormai_django.tokens import issue_token
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-status")


def held_seat_change(context=AGENT):
    subscription = SubscriptionFactory(tenant_id=7, seats=1)
    arguments = {
        "model": "Subscription",
        "id": subscription.id,
        "data": {"seats": 4},
        "reason": "The team grew to four",
    }
    held = execute({"name": "db.update", "arguments": arguments}, context)
    assert held["outcome"] == "pending_approval", held
    return held


def status(approval_id, context=AGENT, name="approval.status"):
    return execute({"name": name, "arguments": {"approval_id": approval_id}}, context)


def test_the_requester_follows_a_held_call_until_it_executes_in_python():
    held = held_seat_change()

    pending = status(held["approval_id"])
    approve(held["approval_id"], "lee@example.com")
    executed = status(held["approval_id"], name="approval_status")  # either spelling

    assert (pending["outcome"], pending["status"], pending["approvals"]) == ("ok", "pending", 0)
    assert pending["expires_at"] == held["expires_at"]
    assert (executed["status"], executed["approvals"]) == ("executed", 1)
    assert executed["result"]["outcome"] == "ok"


def test_each_look_is_audited_by_the_pipeline_like_any_call():
    held = held_seat_change()

    look = status(held["approval_id"])

    event = AuditEvent.objects.get(id=look["audit_id"])
    assert (event.tool, event.outcome) == ("approval.status", "ok")
    assert event.model == "shop.Subscription"
    assert event.arguments == {"approval_id": held["approval_id"]}
    assert event.run_id == "run-status" and event.approval is None


@pytest.mark.parametrize(
    "other",
    [
        ToolContext(principal="agent:other-bot", tenant_id=7),
        ToolContext(principal="agent:support-bot", tenant_id=8),
    ],
    ids=["another principal", "another tenant"],
)
def test_anyone_else_gets_unknown_approval_as_for_an_id_that_never_existed(other):
    held = held_seat_change()

    theirs = status(held["approval_id"], context=other)
    nobody = status("appr_01NOSUCHAPPROVAL0000000000", context=other)

    assert theirs["outcome"] == nobody["outcome"] == "error"
    assert theirs["error"]["code"] == nobody["error"]["code"] == "UNKNOWN_APPROVAL"


def test_bad_arguments_get_invalid_arguments_and_never_raise():
    for arguments in ({}, {"approval_id": 7}, {"approval_id": ""}, {"approval_id": "x", "y": 1}):
        result = execute({"name": "approval.status", "arguments": arguments}, AGENT)
        assert result["outcome"] == "error"
        assert result["error"]["code"] == "INVALID_ARGUMENTS"


def test_a_read_only_policy_neither_lists_nor_runs_it():
    read_only = PolicyBuilder(DEFAULT_PROD).register_models("shop.Order").build()

    names = [d["name"] for d in tool_definitions(read_only)]
    refused = execute(
        {"name": "approval.status", "arguments": {"approval_id": "appr_x"}}, AGENT, read_only
    )

    assert "approval.status" not in names
    assert (refused["outcome"], refused["error"]["code"]) == ("denied", "TOOL_NOT_ALLOWED")


def test_over_http_a_token_holder_checks_its_own_held_call():
    held = held_seat_change()
    token = issue_token(principal=AGENT.principal, tenant_id=7)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    listed = client.get("/ormai/tools/").json()
    answer = client.post(
        "/ormai/tools/call/",
        {"name": "approval_status", "arguments": {"approval_id": held["approval_id"]}},
        format="json",
    )

    assert "approval_status" in [tool["name"] for tool in listed["tools"]]
    assert answer.status_code == 200
    assert (answer.json()["status"], answer.json()["approval_id"]) == (
        "pending",
        held["approval_id"],
    )


def test_over_http_a_staff_user_is_not_the_requester_so_sees_nothing():
    held = held_seat_change()
    staff = User.objects.create_user("ann", password="x", is_staff=True)
    client = APIClient()
    client.force_authenticate(staff)

    answer = client.post(
        "/ormai/tools/call/",
        {"name": "approval.status", "arguments": {"approval_id": held["approval_id"]}},
        format="json",
    )

    assert answer.json()["error"]["code"] == "UNKNOWN_APPROVAL"
