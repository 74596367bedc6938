"""approval.status polls: cheap (one audit row per change seen, not per look), limited per
principal, and the denial's note reaches the agent."""

import pytest
from django.conf import settings
from django.test import override_settings

from ormai_django import ToolContext, execute
from ormai_django.approvals import approve, deny
from ormai_django.invocation import Invocation
from ormai_django.models import AuditEvent
from ormai_django.tools import registry
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:poller", tenant_id=7, run_id="run-polls")


def held_upgrade(context=AGENT):
    subscription = SubscriptionFactory(plan="basic")
    held = execute(
        {
            "name": "db.update",
            "arguments": {
                "model": "Subscription",
                "id": subscription.id,
                "data": {"plan": "pro"},
                "reason": "The customer asked for Pro",
            },
        },
        context,
    )
    assert held["outcome"] == "pending_approval", held
    return held


def look(approval_id, context=AGENT):
    return execute({"name": "approval.status", "arguments": {"approval_id": approval_id}}, context)


def looks_audited():
    return AuditEvent.objects.filter(tool="approval.status").count()


def test_polls_that_see_nothing_new_write_no_audit_row_and_carry_the_first_looks_id():
    held = held_upgrade()

    first, second, third = (look(held["approval_id"]) for _ in range(3))

    assert first["status"] == second["status"] == third["status"] == "pending"
    assert looks_audited() == 1
    assert first["audit_id"] == second["audit_id"] == third["audit_id"]
    assert AuditEvent.objects.get(id=first["audit_id"]).tool == "approval.status"


def test_each_change_seen_is_audited_once():
    held = held_upgrade()
    before = look(held["approval_id"])

    approve(held["approval_id"], "lee", note="Pro is fine")
    after, again = look(held["approval_id"]), look(held["approval_id"])

    assert (before["status"], after["status"]) == ("pending", "executed")
    assert after["audit_id"] != before["audit_id"]
    assert again["audit_id"] == after["audit_id"]
    assert looks_audited() == 2


def test_the_denials_note_reaches_the_agent():
    held = held_upgrade()

    deny(held["approval_id"], "kim", note="Pro needs a signed contract first")
    status = look(held["approval_id"])

    assert status["status"] == "denied"
    assert status["notes"] == [
        {
            "verdict": "deny",
            "note": "Pro needs a signed contract first",
            "at": status["notes"][0]["at"],
        }
    ]
    assert status["result"] is None


def test_the_tool_tells_the_model_to_pass_a_denials_note_on():
    summary = registry.TOOLS["approval.status"].summary
    assert "tell the user that note" in summary


def test_looks_past_the_rate_are_refused_with_retry_after_and_audited():
    held = held_upgrade()
    with override_settings(ORMAI={**settings.ORMAI, "APPROVAL_STATUS_RATE": "3/minute"}):
        answers = [look(held["approval_id"]) for _ in range(4)]

    assert [a["outcome"] for a in answers] == ["ok", "ok", "ok", "denied"]
    refused = answers[-1]
    assert refused["error"]["code"] == "RATE_LIMITED"
    assert 1 <= refused["error"]["retry_after"] <= 60
    assert AuditEvent.objects.get(id=refused["audit_id"]).error_code == "RATE_LIMITED"


def test_the_rate_is_counted_per_principal():
    mine, theirs = held_upgrade(), held_upgrade(ToolContext(principal="agent:other", tenant_id=7))
    with override_settings(ORMAI={**settings.ORMAI, "APPROVAL_STATUS_RATE": "1/minute"}):
        assert look(mine["approval_id"])["outcome"] == "ok"
        assert look(mine["approval_id"])["outcome"] == "denied"
        other = look(theirs["approval_id"], ToolContext(principal="agent:other", tenant_id=7))
    assert other["outcome"] == "ok"


def test_someone_elses_approval_is_unknown_and_each_probe_is_audited():
    held = held_upgrade()
    stranger = ToolContext(principal="agent:stranger", tenant_id=7)

    probes = [look(held["approval_id"], stranger) for _ in range(2)]

    assert {p["error"]["code"] for p in probes} == {"UNKNOWN_APPROVAL"}
    assert probes[0]["audit_id"] != probes[1]["audit_id"]


def test_a_write_tool_cannot_skip_its_audit_row(monkeypatch):
    inv = Invocation("db.update", {}, AGENT, None)
    with pytest.raises(ValueError, match="own audit row"):
        inv.answered_by(object())

    # A write handler that sets the earlier row anyway gets a row of its own from the runtime.
    held = held_upgrade()
    earlier = AuditEvent.objects.get(id=held["audit_id"])

    def sneaky(invocation):
        invocation.earlier_event = earlier
        return {"outcome": "ok"}

    spec = registry.TOOLS["db.update"]
    monkeypatch.setitem(
        registry.TOOLS, "db.update", registry.ToolSpec(**{**spec.__dict__, "handler": sneaky})
    )
    result = execute({"name": "db.update", "arguments": {"model": "Subscription"}}, AGENT)

    assert result["audit_id"] != earlier.id
    assert AuditEvent.objects.filter(id=result["audit_id"], tool="db.update").exists()


def test_a_poll_that_sees_nothing_new_writes_nothing_at_all():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    held = held_upgrade()
    look(held["approval_id"])

    with CaptureQueriesContext(connection) as queries:
        look(held["approval_id"])

    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    assert set(statements) == {"SELECT"}, statements
    assert len(statements) <= 3  # the request (with its last look), its decisions
