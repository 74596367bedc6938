"""Approve with changes: an approver corrects the held call before it runs, within what the
agent could write, validated and previewed again; the ledger keeps the original and the
edit, and the agent learns it through approval.status."""

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from ormai_django import (
    DEFAULT_PROD,
    ApprovalError,
    PolicyBuilder,
    ToolContext,
    approve,
    deny,
    execute,
)
from ormai_django.models import ApprovalDecision, ApprovalRequest, AuditEvent
from sandbox_project.shop.models import Customer, Subscription
from tests.factories import CustomerFactory, SubscriptionFactory
from tests.support import database_state

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-edits")


def held_plan_change(plan="enterprise", policy=None, **arguments):
    subscription = SubscriptionFactory(tenant_id=7, plan="basic", seats=2)
    call = {
        "name": "db.update",
        "arguments": {
            "model": "Subscription",
            "id": subscription.id,
            "data": {"plan": plan},
            "reason": "The customer asked for a bigger plan",
            **arguments,
        },
    }
    held = execute(call, AGENT, policy)
    assert held["outcome"] == "pending_approval", held
    return subscription, held


def test_an_edited_approval_runs_the_edited_call():
    subscription, held = held_plan_change("enterprise")

    decided = approve(
        held["approval_id"], "lee@example.com", note="Pro, not Enterprise", edits={"plan": "pro"}
    )

    subscription.refresh_from_db()
    assert (decided["status"], decided["edited"]) == ("executed", True)
    assert decided["preview"]["would_change"] == [
        {"id": subscription.id, "plan_before": "basic", "plan_after": "pro"}
    ]
    assert subscription.plan == "pro"
    written = AuditEvent.objects.get(id=decided["result"]["audit_id"])
    assert written.arguments["data"] == {"plan": "pro"}
    assert written.changes == [
        {"pk": subscription.id, "before": {"plan": "basic"}, "after": {"plan": "pro"}}
    ]


def test_the_ledger_keeps_the_original_call_and_the_edit():
    _, held = held_plan_change("enterprise")

    approve(held["approval_id"], "lee@example.com", edits={"plan": "pro"})

    approval = ApprovalRequest.objects.get(pk=held["approval_id"])
    assert approval.call["arguments"]["data"] == {"plan": "enterprise"}
    assert approval.edited_call["arguments"]["data"] == {"plan": "pro"}
    assert approval.edits == {"plan": "pro"}
    decision = approval.decisions.get()
    assert (decision.edits, decision.revision) == ({"plan": "pro"}, 1)
    decided = approval.events.get(tool="approval.approve")
    assert decided.arguments["edits"] == {"plan": "pro"}
    # The edited call was previewed through the pipeline, in the approval's chain.
    previews = approval.events.filter(outcome="dry_run")
    assert [e.arguments["data"] for e in previews] == [{"plan": "pro"}]


def test_approval_status_tells_the_agent_it_was_edited_and_the_note():
    _, held = held_plan_change("enterprise")
    approve(
        held["approval_id"], "lee@example.com", note="Pro fits their seats", edits={"plan": "pro"}
    )

    status = execute(
        {"name": "approval.status", "arguments": {"approval_id": held["approval_id"]}}, AGENT
    )

    assert (status["status"], status["edited"], status["edits"]) == (
        "executed",
        True,
        {"plan": "pro"},
    )
    assert [(n["verdict"], n["note"]) for n in status["notes"]] == [
        ("approve", "Pro fits their seats")
    ]


def test_a_denial_note_reaches_the_agent():
    _, held = held_plan_change()
    deny(held["approval_id"], "lee@example.com", note="Enterprise needs a signed contract")

    status = execute(
        {"name": "approval.status", "arguments": {"approval_id": held["approval_id"]}}, AGENT
    )

    assert status["status"] == "denied" and status["edited"] is False
    assert status["notes"][0]["note"] == "Enterprise needs a signed contract"


@pytest.mark.parametrize(
    "edits",
    [{"status": "cancelled"}, {"monthly_price": "1.00"}, {"tenant_id": 8}, {"nope": 1}],
    ids=["read-only field", "read-only price", "tenant field", "unknown field"],
)
def test_edits_outside_the_writable_fields_are_refused_and_change_nothing(edits):
    _, held = held_plan_change()
    before = database_state()

    with pytest.raises(ApprovalError) as refused:
        approve(held["approval_id"], "lee@example.com", edits=edits)

    assert refused.value.code == "INVALID_EDITS"
    assert "plan, seats" in refused.value.message
    assert database_state() == before
    approval = ApprovalRequest.objects.get(pk=held["approval_id"])
    assert (approval.status, approval.edited_call, approval.decisions.count()) == (
        "pending",
        None,
        0,
    )


def test_an_edit_the_model_validation_refuses_is_refused_before_anything_counts():
    _, held = held_plan_change()

    with pytest.raises(ApprovalError) as refused:
        approve(held["approval_id"], "lee@example.com", edits={"plan": "platinum"})

    assert refused.value.code == "INVALID_EDITS"
    assert refused.value.details["error"]["code"] == "VALIDATION_FAILED"
    assert ApprovalDecision.objects.count() == 0


@pytest.mark.parametrize("edits", [{}, "plan=pro", ["plan"]])
def test_edits_must_be_a_non_empty_object(edits):
    _, held = held_plan_change()

    with pytest.raises(ApprovalError) as refused:
        approve(held["approval_id"], "lee@example.com", edits=edits)

    assert refused.value.code == "INVALID_EDITS"


def test_a_held_delete_has_no_data_to_edit():
    customer = CustomerFactory(tenant_id=7)
    held = execute(
        {
            "name": "db.delete",
            "arguments": {
                "model": "Customer",
                "id": customer.id,
                "reason": "asked to be forgotten",
            },
        },
        AGENT,
    )
    assert held["outcome"] == "pending_approval"

    with pytest.raises(ApprovalError, match="no data to edit"):
        approve(held["approval_id"], "lee@example.com", edits={"name": "X"})
    assert Customer.objects.filter(pk=customer.id).exists()


def two_person_policy():
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Customer", "shop.Subscription"])
        .tenant_scope("tenant_id")
        .enable_writes(writable_fields={"Subscription": ["plan", "seats"]})
        .require_approval(tool="db.update", model="Subscription", approvers=2)
        .build()
    )


def test_an_edit_restarts_the_count_so_every_approver_saw_what_runs():
    policy = two_person_policy()
    subscription, held = held_plan_change("enterprise", policy=policy)
    approval_id = held["approval_id"]

    first = approve(approval_id, "ann@example.com", policy=policy)
    edited = approve(approval_id, "lee@example.com", edits={"plan": "pro"}, policy=policy)
    subscription.refresh_from_db()
    assert (first["approvals"], edited["approvals"], edited["status"]) == (1, 1, "pending")
    assert subscription.plan == "basic"

    # Ann approved the original; she must approve the edited call too.
    final = approve(approval_id, "ann@example.com", policy=policy)

    subscription.refresh_from_db()
    assert (final["status"], final["approvals"]) == ("executed", 2)
    assert subscription.plan == "pro"


def test_an_approver_who_edited_cannot_approve_the_same_revision_twice():
    policy = two_person_policy()
    _, held = held_plan_change("enterprise", policy=policy)
    approve(held["approval_id"], "lee@example.com", edits={"plan": "pro"}, policy=policy)

    with pytest.raises(ApprovalError) as refused:
        approve(held["approval_id"], "lee@example.com", policy=policy)

    assert refused.value.code == "DUPLICATE_APPROVER"


def test_a_replay_of_the_original_key_returns_the_edited_result():
    subscription, held = held_plan_change("enterprise", idempotency_key="plan-up-1")
    decided = approve(held["approval_id"], "lee@example.com", edits={"plan": "pro"})

    replay = execute(
        {
            "name": "db.update",
            "arguments": {
                "model": "Subscription",
                "id": subscription.id,
                "data": {"plan": "enterprise"},
                "reason": "The customer asked for a bigger plan",
                "idempotency_key": "plan-up-1",
            },
        },
        AGENT,
    )

    assert replay["idempotent_replay"] is True
    assert replay["audit_id"] == decided["result"]["audit_id"]
    assert Subscription.objects.get(pk=subscription.id).plan == "pro"


def test_over_http_an_approver_approves_with_changes():
    subscription, held = held_plan_change("enterprise")
    lee = User.objects.create_user("lee", password="x")
    lee.user_permissions.add(Permission.objects.get(codename="approve_approvalrequest"))
    client = APIClient()
    client.force_authenticate(lee)

    refused = client.post(
        f"/ormai/approvals/{held['approval_id']}/approve/",
        {"edits": {"status": "cancelled"}},
        format="json",
    )
    approved = client.post(
        f"/ormai/approvals/{held['approval_id']}/approve/",
        {"note": "Pro", "edits": {"plan": "pro"}},
        format="json",
    )

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "INVALID_EDITS"
    assert approved.status_code == 200
    assert (approved.json()["status"], approved.json()["edited"]) == ("executed", True)
    subscription.refresh_from_db()
    assert subscription.plan == "pro"
    listed = client.get(f"/ormai/approvals/{held['approval_id']}/").json()
    assert listed["edits"] == {"plan": "pro"} and listed["revision"] == 1
