"""Previews the model can't forget: expose_dry_run_tools() offers db.*_dry_run as tools of
their own, and require_preview(over_rows=N) refuses a large write whose exact call this run
didn't preview first."""

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from ormai_django import DEFAULT_PROD, PolicyBuilder, ToolContext, execute, tool_definitions
from ormai_django.mcp.server import mcp_tools
from ormai_django.models import AuditEvent
from ormai_django.tokens import issue_token
from sandbox_project.shop.models import Order
from tests.factories import CustomerFactory, OrderFactory
from tests.support import database_state, shop_writes

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:careful", tenant_id=7, run_id="run-preview")
REASON = "Cancelling the duplicate orders."
PREVIEW_TOOLS = ["db.create_dry_run", "db.update_dry_run", "db.delete_dry_run"]


def previewing(**options):
    builder = shop_writes().expose_dry_run_tools()
    if options:
        builder.require_preview(**options)
    return builder.build()


def call(tool, policy, ctx=AGENT, **arguments):
    return execute({"name": tool, "arguments": arguments}, ctx, policy=policy)


def cancel(customer):
    return {
        "model": "Order",
        "where": {"customer": customer.id},
        "data": {"status": "cancelled"},
        "reason": REASON,
    }


# --- the tools -----------------------------------------------------------------------------


def test_the_preview_tools_are_offered_only_when_the_policy_exposes_them():
    plain = shop_writes().build()
    exposing = previewing()

    names = [d["name"] for d in tool_definitions(exposing, format="json_schema")]
    openai = [d["function"]["name"] for d in tool_definitions(exposing, format="openai")]

    assert [n for n in names if n.endswith("_dry_run")] == [
        n.replace(".", "_") for n in PREVIEW_TOOLS
    ]
    assert "db_update_dry_run" in openai
    assert not any(d["name"].endswith("_dry_run") for d in tool_definitions(plain))
    refused = call("db.update_dry_run", plain, model="Order", id=1, data={"status": "paid"})
    assert refused["error"]["code"] == "TOOL_NOT_ALLOWED"
    # Read-only policies offer no preview either.
    read_only = (
        PolicyBuilder(DEFAULT_PROD).register_models("shop.Order").expose_dry_run_tools().build()
    )
    assert not any(d["name"].endswith("_dry_run") for d in tool_definitions(read_only))


def test_a_preview_tool_answers_what_dry_run_true_answers_and_changes_nothing():
    customer = CustomerFactory()
    OrderFactory.create_batch(2, customer=customer, status="pending")
    policy = previewing()
    before = database_state()

    tool = call("db_update_dry_run", policy, **cancel(customer))
    flag = call("db.update", policy, **cancel(customer), dry_run=True)

    assert tool["outcome"] == "dry_run"
    assert {k: v for k, v in tool.items() if k != "audit_id"} == {
        k: v for k, v in flag.items() if k != "audit_id"
    }
    assert database_state() == before
    event = AuditEvent.objects.get(pk=tool["audit_id"])
    assert (event.tool, event.outcome) == ("db.update_dry_run", "dry_run")


def test_a_preview_tool_takes_the_writes_arguments_but_dry_run_and_the_key():
    policy = previewing()
    order = OrderFactory()

    with_key = call(
        "db.update_dry_run",
        policy,
        model="Order",
        id=order.id,
        data={"status": "paid"},
        reason=REASON,
        idempotency_key="k",
    )
    create = call(
        "db.create_dry_run",
        policy,
        model="Note",
        data={"customer": order.customer_id, "body": "hi"},
        reason=REASON,
    )
    delete = call("db.delete_dry_run", policy, model="Order", id=order.id, reason=REASON)

    assert with_key["error"]["code"] == "INVALID_ARGUMENTS"
    assert create["outcome"] == "dry_run"
    assert delete["outcome"] == "dry_run" and delete["affected_rows"] == 1
    assert Order.objects.filter(pk=order.pk).exists()


def test_the_preview_tools_reach_mcp_and_http_from_the_registry(settings):
    policy = previewing()
    settings.ORMAI = {**settings.ORMAI, "POLICY": policy}
    order = OrderFactory(status="pending")

    tools = {tool.name: tool for tool in mcp_tools(policy, "underscored")}
    client = APIClient()
    token = issue_token(principal="agent:careful", tenant_id=7, expires_in=timedelta(hours=1))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    listed = client.get("/ormai/tools/").json()
    answered = client.post(
        "/ormai/tools/call/",
        {
            "name": "db_update_dry_run",
            "arguments": {
                "model": "Order",
                "id": order.id,
                "data": {"status": "paid"},
                "reason": REASON,
            },
        },
        format="json",
    )

    assert tools["db_update_dry_run"].annotations.read_only_hint is True
    assert "db_update_dry_run" in str(listed)
    assert answered.status_code == 200
    assert answered.json()["outcome"] == "dry_run"
    assert Order.objects.get(pk=order.pk).status == "pending"


# --- require_preview -----------------------------------------------------------------------


def test_a_write_over_the_bound_is_refused_until_this_run_previewed_that_exact_call():
    customer = CustomerFactory()
    OrderFactory.create_batch(6, customer=customer, status="pending")
    policy = previewing(over_rows=5)
    before = database_state()

    refused = call("db.update", policy, **cancel(customer))

    assert refused["outcome"] == "denied"
    error = refused["error"]
    assert (error["code"], error["rule"]) == ("PREVIEW_REQUIRED", "preview:over_rows=5")
    assert (error["affected_rows"], error["over_rows"]) == (6, 5)
    assert "call db.update_dry_run with the same arguments" in error["message"]
    assert database_state() == before

    preview = call("db.update_dry_run", policy, **cancel(customer))
    assert preview["affected_rows"] == 6
    # The reason's wording is not the call: it may change between preview and write.
    done = call("db.update", policy, **{**cancel(customer), "reason": "As previewed."})

    assert done["outcome"] == "ok" and done["affected_rows"] == 6


def test_a_preview_of_another_call_or_by_another_run_does_not_count():
    customer = CustomerFactory()
    OrderFactory.create_batch(6, customer=customer, status="pending")
    policy = previewing(over_rows=5)
    other_run = ToolContext(principal=AGENT.principal, tenant_id=7, run_id="run-other")
    call("db.update_dry_run", policy, ctx=other_run, **cancel(customer))
    call("db.update", policy, **{**cancel(customer), "data": {"status": "refunded"}}, dry_run=True)

    refused = call("db.update", policy, **cancel(customer))

    assert refused["error"]["code"] == "PREVIEW_REQUIRED"


def test_a_preview_older_than_its_window_does_not_count():
    customer = CustomerFactory()
    OrderFactory.create_batch(6, customer=customer, status="pending")
    policy = previewing(over_rows=5, within=timedelta(minutes=15))
    # A preview of this exact call, twenty minutes ago (the ledger is append-only: added).
    from django.utils import timezone

    AuditEvent.objects.create(
        tool="db.update_dry_run",
        principal=AGENT.principal,
        tenant_id="7",
        run_id=AGENT.run_id,
        outcome="dry_run",
        arguments=cancel(customer),
        created_at=timezone.now() - timedelta(minutes=20),
    )

    refused = call("db.update", policy, **cancel(customer))

    assert refused["error"]["code"] == "PREVIEW_REQUIRED"
    assert "within 15 minutes" in refused["error"]["message"]


def test_writes_within_the_bound_and_creates_need_no_preview():
    customer = CustomerFactory()
    OrderFactory.create_batch(5, customer=customer, status="pending")
    policy = shop_writes().require_preview(over_rows=5).build()

    done = call("db.update", policy, **cancel(customer))
    created = call(
        "db.create",
        policy,
        model="Note",
        data={"customer": customer.id, "body": "hi"},
        reason=REASON,
    )

    assert done["affected_rows"] == 5
    assert created["outcome"] == "ok"


def test_without_preview_tools_the_refusal_says_to_send_dry_run_true():
    customer = CustomerFactory()
    OrderFactory.create_batch(3, customer=customer, status="pending")
    policy = shop_writes().require_preview(over_rows=2).build()

    refused = call("db.update", policy, **cancel(customer))
    call("db.update", policy, **cancel(customer), dry_run=True)
    done = call("db.update", policy, **cancel(customer))

    assert 'send it with "dry_run": true' in refused["error"]["message"]
    assert done["outcome"] == "ok"


def test_require_preview_given_twice_keeps_the_stricter_bound():
    policy = (
        shop_writes()
        .require_preview(over_rows=50)
        .require_preview(over_rows=5, within=timedelta(minutes=5))
        .build()
    )

    assert (policy.preview_over_rows, policy.preview_within) == (5, timedelta(minutes=5))
