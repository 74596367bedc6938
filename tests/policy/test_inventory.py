"""ormai_inventory: the policy shown back as the spec it is, in three formats, with the rule
ids that refusals and held calls name."""

import json
from io import StringIO
from pathlib import Path

import jsonschema
import pytest
from django.core.management import call_command

from ormai_django import DEFAULT_PROD, PolicyBuilder
from ormai_django.inventory import build_inventory, render, schema
from ormai_django.management.commands.ormai_inventory import END, START
from ormai_django.models import ApprovalRequest
from ormai_django.policy.loading import get_policy
from tests.factories import CustomerFactory, OrderFactory, RefundFactory
from tests.support import call_tool

DOCS = Path(__file__).resolve().parents[2] / "docs" / "policy.md"

pytestmark = pytest.mark.django_db


def entry(inventory, model, tool):
    return next(e for e in inventory["writes"] if e["model"] == model and e["tool"] == tool)


def tool_entry(inventory, name):
    return next(e for e in inventory["domain_tools"] if e["tool"] == name)


def command(*args):
    out = StringIO()
    call_command("ormai_inventory", *args, stdout=out)
    return out.getvalue()


def test_the_sandbox_inventory_in_json_follows_its_schema():
    printed = json.loads(command("--format", "json"))
    jsonschema.validate(printed, schema())
    assert printed == json.loads(json.dumps(build_inventory(get_policy())))
    assert {e["model"] for e in printed["writes"]} == {
        "shop.Customer",
        "shop.Subscription",
        "shop.Order",
        "shop.Note",
        "shop.Refund",
    }
    assert len(printed["writes"]) == 15  # five models x three write tools


def test_each_write_entry_says_what_the_sandbox_policy_says():
    inventory = build_inventory(get_policy())
    customer = entry(inventory, "shop.Customer", "db.update")
    assert customer["allowed"] and customer["reason_required"]
    assert customer["writable_fields"] == ["preferred_language", "preferred_name"]
    assert customer["caps"]["rate_per_minute"] == 10
    assert customer["caps"]["held_over_rows"] == 100
    assert customer["reversible"] and not customer["idempotency_required"]
    order = entry(inventory, "shop.Order", "db.update")
    [rule] = order["approval"]
    assert rule["when"] == "lambda call: call.affected_rows > 50"
    assert (rule["approvers"], rule["expires_in_seconds"]) == (1, 86400)
    delete = entry(inventory, "shop.Customer", "db.delete")
    assert [r["approvers"] for r in delete["approval"]] == [2]
    assert delete["writable_fields"] == []
    note = entry(inventory, "shop.Note", "db.create")
    assert note["caps"]["bursts"] == ["burst:principal:shop.Note:calls=20,rows=100/1m"]
    refund = entry(inventory, "shop.Refund", "db.update")
    assert refund["allowed"] is False and refund["rule"] == "writes:shop.Refund"
    reads = {r["model"]: r for r in inventory["reads"]}
    assert reads["shop.Customer"]["masked_fields"] == ["email", "phone"]
    assert reads["shop.Customer"]["denied_fields"] == ["password_hash", "api_token"]
    assert reads["shop.Order"]["tenant_field"] == "tenant_id"


def test_domain_tools_are_listed_with_their_inputs_approvals_and_undo():
    inventory = build_inventory(get_policy())
    plan = tool_entry(inventory, "shop.change_plan")
    assert plan["inputs"] == ["plan", "seats", "subscription_id"]
    assert plan["writes"] == ["shop.Subscription"]
    assert "monthly_price" in plan["approval"][0]["when"]
    assert plan["undo"] == "restore captured rows"
    assert tool_entry(inventory, "shop.refund_order")["undo"] == "compensation"
    receipt = tool_entry(inventory, "shop.send_receipt_email")
    assert receipt["reversible"] is False and receipt["undo"] == "not reversible"
    assert [r["id"] for r in receipt["approval"]] == ["irreversible:shop.send_receipt_email"]


def test_the_rule_ids_are_the_ones_refusals_and_held_calls_name(ctx):
    inventory = build_inventory(get_policy())
    refund = RefundFactory(order=OrderFactory(tenant_id=7), tenant_id=7)
    refused = call_tool(
        "db.update", ctx, model="Refund", id=refund.pk, data={"reason": "x"}, reason="test"
    )
    assert refused["error"]["rule"] == entry(inventory, "shop.Refund", "db.update")["rule"]
    no_reason = call_tool(
        "db.update",
        ctx,
        model="Customer",
        id=CustomerFactory(tenant_id=7).pk,
        data={"preferred_name": "Al"},
    )
    assert no_reason["error"]["rule"] in entry(inventory, "shop.Customer", "db.update")["rules"]
    sub_rule = entry(inventory, "shop.Subscription", "db.update")["approval"][0]["id"]
    from tests.factories import SubscriptionFactory

    held = call_tool(
        "db.update",
        ctx,
        model="Subscription",
        id=SubscriptionFactory(tenant_id=7).pk,
        data={"plan": "pro"},
        reason="The customer asked to upgrade",
    )
    assert held["outcome"] == "pending_approval"
    assert sub_rule in ApprovalRequest.objects.get(pk=held["approval_id"]).rule_ids
    receipt = tool_entry(inventory, "shop.send_receipt_email")["approval"][0]["id"]
    held_receipt = call_tool(
        "shop.send_receipt_email",
        ctx,
        order_id=OrderFactory(tenant_id=7).pk,
        reason="The customer asked for the receipt again",
    )
    assert held_receipt["outcome"] == "pending_approval"
    assert receipt in ApprovalRequest.objects.get(pk=held_receipt["approval_id"]).why_held


def test_the_table_and_the_markdown_show_every_entry():
    table = command()
    markdown = command("--format", "markdown")
    for text in (table, markdown):
        assert "shop.Subscription" in text and "shop.change_plan" in text
        assert "call.affected_rows > 50" in text
    assert markdown.startswith("#### Writes\n\n| model | tool | allowed |")
    assert table.splitlines()[0] == "Writes"
    # one line per entry, under the header and its rule
    assert (
        len([line for line in table.splitlines() if line.startswith("shop.")]) == 15 + 3 + 5
    )  # writes, domain tools, reads


def test_docs_policy_md_holds_the_sandbox_inventory_as_the_command_prints_it():
    text = DOCS.read_text()
    block = text[text.index(START) + len(START) : text.index(END)].strip()
    assert block == render(build_inventory(get_policy()), "markdown").strip(), (
        "docs/policy.md is out of date: run "
        "python manage.py ormai_inventory --write-docs docs/policy.md"
    )


def test_another_policy_by_dotted_path_and_a_broken_one(tmp_path):
    printed = json.loads(
        command("--format", "json", "--policy", "tests.policy.test_inventory.read_only_policy")
    )
    assert not printed["writes_enabled"]
    assert not any(e["allowed"] for e in printed["writes"])
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="can't be built"):
        command("--policy", "tests.policy.test_inventory.no_such_policy")
    readme = tmp_path / "x.md"
    readme.write_text("no markers here\n")
    with pytest.raises(CommandError, match="markers"):
        command("--write-docs", str(readme))


def read_only_policy():
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Order"])
        .tenant_scope("tenant_id")
        .build()
    )
