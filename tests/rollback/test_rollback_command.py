"""``manage.py ormai_rollback``: the table it prints, its summary line and its exit status
(0 done, 1 conflict or refusal, 2 unknown id or bad arguments)."""

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from unittest.mock import patch

import pytest
from django.core.management import ManagementUtility
from django.db import connections

from ormai_django import ToolContext, execute
from ormai_django.models import AuditEvent
from sandbox_project.shop.models import Order
from tests.support import cancel_customer_orders

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-cli")


def manage(*argv):
    """Run the command as ``manage.py`` does: returns (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    status = 0
    # manage.py closes every connection when a command ends; the test's own (inside its
    # transaction) must stay open.
    with redirect_stdout(out), redirect_stderr(err), patch.object(connections, "close_all"):
        try:
            ManagementUtility(["manage.py", "ormai_rollback", *argv]).execute()
        except SystemExit as exit_:
            status = exit_.code
    return status, out.getvalue(), err.getvalue()


def cancel_orders(count=2):
    return cancel_customer_orders(AGENT, count)


def test_a_dry_run_prints_the_table_and_changes_nothing():
    audit_id, orders = cancel_orders()

    status, out, _ = manage(audit_id, "--dry-run")

    assert status == 0
    header, _rule, *lines, summary = out.strip().splitlines()
    assert header.split() == ["model", "pk", "action", "field", "current", "restored", "conflict"]
    assert [line.split() for line in lines] == [
        ["shop.Order", str(o.pk), "restore", "status", "cancelled", "pending"] for o in orders
    ]
    assert summary == (
        f"Dry run of the rollback of {audit_id}: would restore 2 row(s), 0 conflict(s); "
        "nothing was changed."
    )
    assert set(Order.objects.values_list("status", flat=True)) == {"cancelled"}


def test_a_rollback_prints_what_it_did_and_records_the_actor_and_reason():
    audit_id, _orders = cancel_orders()

    status, out, _ = manage(audit_id, "--actor", "ops:lee", "--reason", "wrong customer")

    assert status == 0
    summary = out.strip().splitlines()[-1]
    rollback = AuditEvent.objects.get(caused_by=audit_id, outcome="ok")
    assert summary == f"Rolled back {audit_id}: 2 row(s) restored; audit event(s) {rollback.id}."
    assert (rollback.principal, rollback.reason) == ("ops:lee", "wrong customer")
    assert set(Order.objects.values_list("status", flat=True)) == {"pending"}


def test_a_conflict_exits_1_lists_the_rows_and_force_overwrites():
    audit_id, orders = cancel_orders()
    Order.objects.filter(pk=orders[0].pk).update(status="refunded")

    status, out, err = manage(audit_id)

    assert status == 1
    assert f'shop.Order {orders[0].pk}.status: the write left "cancelled", now "refunded"' in out
    assert "ROLLBACK_CONFLICT" in err
    assert Order.objects.get(pk=orders[1].pk).status == "cancelled"

    assert manage(audit_id, "--dry-run")[0] == 1  # a dry run that finds conflicts says so

    status, out, _ = manage(audit_id, "--force")
    assert status == 0
    assert "1 conflict(s) overwritten (--force)" in out
    assert set(Order.objects.values_list("status", flat=True)) == {"pending"}


def test_a_second_rollback_and_a_read_are_refusals_exit_1():
    audit_id, _ = cancel_orders()
    assert manage(audit_id)[0] == 0

    status, _, err = manage(audit_id)
    assert status == 1
    assert "ALREADY_ROLLED_BACK" in err

    read = execute({"name": "db.query", "arguments": {"model": "Order"}}, AGENT)
    read_id = AuditEvent.objects.filter(tool="db.query").latest("created_at").id
    assert read["outcome"] == "ok"
    status, _, err = manage(read_id)
    assert status == 1
    assert "NOT_A_WRITE" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["aud_does_not_exist"],
        ["--run", "no-such-run"],
        [],
        ["aud_x", "--run", "r"],
        ["aud_x", "--max-rows", "-1"],
        ["aud_x", "--no-such-option"],
    ],
    ids=["unknown id", "unknown run", "no target", "two targets", "bad max rows", "bad option"],
)
def test_an_unknown_id_or_bad_arguments_exit_2(argv):
    status, _, _ = manage(*argv)
    assert status == 2


def test_a_whole_run_is_rolled_back_and_json_output_is_the_result():
    audit_id, _ = cancel_orders()

    status, out, _ = manage("--run", "run-cli", "--json")

    assert status == 0
    result = json.loads(out)
    assert result["outcome"] == "ok"
    assert result["rolled_back"] == [audit_id]
    assert result["run_id"] == "rollback:run-cli"


def test_max_rows_caps_the_table():
    audit_id, _ = cancel_orders(5)

    _, out, _ = manage(audit_id, "--dry-run", "--max-rows", "2")

    assert sum(line.startswith("shop.Order") for line in out.splitlines()) == 2
    assert "... more lines not shown; --max-rows 0 shows them all" in out
