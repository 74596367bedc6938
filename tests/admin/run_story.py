"""One agent run with every kind of event, made through the real entry points: a read, a
refused write, an executed write, a write held for approval and approved with a note (it
runs), and a rollback of the first write. Shared by the run page's tests and its browser
test."""

from ormai_django import ToolContext, execute
from ormai_django.approvals import approve
from ormai_django.rollback import rollback_audit_id
from sandbox_project.shop.models import Customer
from tests.factories import CustomerFactory, OrderFactory
from tests.support import shop_writes

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-story")
POLICY = shop_writes().require_approval(tool="db.update", model="Customer").build()


def tell_the_story(settings):
    """Run the story under ``POLICY`` (configured, as the admin's approve needs); returns
    the audit ids by step: read, refused, write, held, approval, held_write, rollback."""
    settings.ORMAI = {**settings.ORMAI, "POLICY": POLICY}
    customer = CustomerFactory(tenant_id=7, preferred_name="Sam")
    OrderFactory.create_batch(2, customer=customer, status="pending")

    def call(name, **arguments):
        return execute({"name": name, "arguments": arguments}, AGENT, policy=POLICY)

    ids = {"read": call("db.query", model="Order", where={"customer": customer.pk})["audit_id"]}
    refused = call(
        "db.update",
        model="Customer",
        id=customer.pk,
        data={"email": "x@evil.example"},
        reason="take over the account",
    )
    assert refused["outcome"] == "denied", refused
    ids["refused"] = refused["audit_id"]
    write = call(
        "db.update",
        model="Order",
        where={"customer": customer.pk},
        data={"status": "cancelled"},
        reason="the customer cancelled both orders",
    )
    assert write["outcome"] == "ok", write
    ids["write"] = write["audit_id"]
    held = call(
        "db.update",
        model="Customer",
        id=customer.pk,
        data={"preferred_name": "Samantha"},
        reason="the customer asked to be called Samantha",
    )
    assert held["outcome"] == "pending_approval", held
    ids["held"] = held["audit_id"]
    decided = approve(held["approval_id"], "lee", "checked with the customer", policy=POLICY)
    assert decided["status"] == "executed", decided
    ids["held_write"] = decided["result"]["audit_id"]
    assert Customer.objects.get(pk=customer.pk).preferred_name == "Samantha"
    rolled = rollback_audit_id(ids["write"], actor="ops:kim", reason="wrong orders", policy=POLICY)
    ids["rollback"] = rolled["audit_id"]
    ids["approval_id"] = held["approval_id"]
    return ids
