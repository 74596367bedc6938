"""Shadow mode: a candidate policy replayed on the audit log, and judged live beside the
policy in force, without ever acting."""

import json
import logging
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from ormai_django import ToolContext, execute
from ormai_django.models import ApprovalRequest, AuditEvent, BudgetWindow
from ormai_django.shadow import recorded, replay
from sandbox_project.shop.models import Customer
from tests.factories import CustomerFactory
from tests.shadow import candidates
from tests.support import database_state

pytestmark = pytest.mark.django_db

BOT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-shadow")


def with_shadow(path):
    return override_settings(ORMAI={**settings.ORMAI, "SHADOW_POLICY": path})


def rename(customer, name="Annie"):
    return {
        "name": "db.update",
        "arguments": {
            "model": "Customer",
            "id": customer.pk,
            "data": {"preferred_name": name},
            "reason": "asked",
        },
    }


def make_vip(customer):
    return {
        "name": "db.update",
        "arguments": {
            "model": "Customer",
            "id": customer.pk,
            "data": {"is_vip": True},
            "reason": "asked",
        },
    }


def traffic(policy):
    """A morning of the support bot: three renames, a VIP flag it may not set, a look."""
    customers = CustomerFactory.create_batch(3, tenant_id=7)
    for n, customer in enumerate(customers):
        assert execute(rename(customer, f"N{n}"), BOT, policy=policy)["outcome"] == "ok"
    refused = execute(make_vip(customers[0]), BOT, policy=policy)
    assert refused["error"]["code"] == "FIELD_NOT_WRITABLE"
    look = {"name": "db.query", "arguments": {"model": "Customer"}}
    assert execute(look, BOT, policy=policy)["outcome"] == "ok"
    return customers


def test_replay_of_a_tighter_candidate_shows_the_calls_it_would_hold():
    traffic(candidates.live())
    rows, before = AuditEvent.objects.count(), database_state()

    report = replay(candidates.tighter(), since=timedelta(days=1)).as_dict()

    assert report["compared"] == 5
    assert report["changed"] == 3
    assert report["unchanged"] == 2
    (change,) = report["changes"]
    assert (change["from"], change["to"], change["rule"]) == ("allowed", "held", "customer-updates")
    assert change["count"] == 3 and len(change["examples"]) == 3
    # Deciding only: nothing ran, nothing was recorded, held or spent.
    assert AuditEvent.objects.count() == rows
    assert database_state() == before
    assert not ApprovalRequest.objects.exists()
    assert not BudgetWindow.objects.exists()


def test_replay_of_a_looser_candidate_shows_the_refusals_it_would_let_through():
    traffic(candidates.live())
    report = replay(candidates.looser(), since=timedelta(days=1)).as_dict()
    (change,) = report["changes"]
    assert (change["from"], change["to"], change["code"]) == (
        "denied",
        "allowed",
        "FIELD_NOT_WRITABLE",
    )
    assert change["count"] == 1
    assert Customer.objects.filter(is_vip=True).count() == 0


def test_replay_skips_what_is_no_call_and_leaves_out_older_calls():
    customers = traffic(candidates.live())
    execute(
        {
            **rename(customers[1], "P"),
            "arguments": {**rename(customers[1])["arguments"], "dry_run": True},
        },
        BOT,
        policy=candidates.live(),
    )
    report = replay(candidates.tighter(), since=timedelta(days=1)).as_dict()
    assert report["skipped"] == {"dry runs": 1}
    assert replay(candidates.tighter(), since=timedelta(seconds=0)).as_dict()["compared"] == 0


def test_a_row_gone_since_is_undecided_not_a_change():
    customer = CustomerFactory(tenant_id=7)
    execute(rename(customer), BOT, policy=candidates.live())
    Customer.objects.filter(pk=customer.pk).delete()
    report = replay(candidates.tighter(), since=timedelta(days=1)).as_dict()
    assert report["undecided"] == {"NOT_FOUND": 1}
    assert report["changed"] == 0


def test_the_command_prints_the_report_in_each_format():
    traffic(candidates.live())
    out = StringIO()
    call_command(
        "ormai_shadow",
        "--policy",
        "tests.shadow.candidates.tighter",
        "--since",
        "1d",
        "--format",
        "json",
        stdout=out,
    )
    data = json.loads(out.getvalue())
    assert data["source"] == "tests.shadow.candidates.tighter"
    assert data["changes"][0]["rule"] == "customer-updates"
    for shape, marker in (
        ("markdown", "| allowed -> held | customer-updates"),
        ("table", "allowed -> held"),
    ):
        out = StringIO()
        call_command(
            "ormai_shadow",
            "--policy",
            "tests.shadow.candidates.tighter",
            "--format",
            shape,
            stdout=out,
        )
        assert marker in out.getvalue()


def test_the_command_refuses_a_candidate_that_cannot_be_built():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="can't be built"):
        call_command("ormai_shadow", "--policy", "tests.shadow.candidates.broken")
    with pytest.raises(CommandError, match="--since"):
        call_command(
            "ormai_shadow", "--policy", "tests.shadow.candidates.tighter", "--since", "a week"
        )


def test_a_live_shadow_records_its_verdict_and_never_acts_on_it():
    customer = CustomerFactory(tenant_id=7)
    with with_shadow("tests.shadow.candidates.tighter"):
        result = execute(rename(customer), BOT, policy=candidates.live())
    assert result["outcome"] == "ok"
    customer.refresh_from_db()
    assert customer.preferred_name == "Annie"  # the live policy ruled
    assert not ApprovalRequest.objects.exists()  # the shadow's hold wasn't stored
    verdict = AuditEvent.objects.get(id=result["audit_id"]).shadow_verdict
    assert verdict["policy"] == "tests.shadow.candidates.tighter"
    assert verdict["verdict"] == "held"
    assert verdict["rule_ids"] == ["customer-updates"]
    assert AuditEvent.objects.count() == 1


def test_a_live_shadow_that_loosens_records_what_it_would_let_through():
    customer = CustomerFactory(tenant_id=7)
    with with_shadow("tests.shadow.candidates.looser"):
        result = execute(make_vip(customer), BOT, policy=candidates.live())
        assert execute(rename(customer), BOT, policy=candidates.live())["outcome"] == "ok"
    assert result["error"]["code"] == "FIELD_NOT_WRITABLE"
    assert AuditEvent.objects.get(id=result["audit_id"]).shadow_verdict["verdict"] == "allowed"
    customer.refresh_from_db()
    assert customer.is_vip is False

    report = recorded(since=timedelta(days=1)).as_dict()
    assert report["source"] == "tests.shadow.candidates.looser"
    assert report["compared"] == 2
    (change,) = report["changes"]
    assert (change["from"], change["to"], change["code"]) == (
        "denied",
        "allowed",
        "FIELD_NOT_WRITABLE",
    )


def test_reads_are_not_judged_live(ctx):
    with with_shadow("tests.shadow.candidates.tighter"):
        result = execute(
            {"name": "db.query", "arguments": {"model": "Customer"}}, BOT, policy=candidates.live()
        )
    assert AuditEvent.objects.get(id=result["audit_id"]).shadow_verdict is None


def test_a_broken_shadow_policy_never_breaks_the_live_call(caplog):
    customer = CustomerFactory(tenant_id=7)
    with with_shadow("tests.shadow.candidates.broken"), caplog.at_level(logging.ERROR):
        result = execute(rename(customer), BOT, policy=candidates.live())
    assert result["outcome"] == "ok"
    verdict = AuditEvent.objects.get(id=result["audit_id"]).shadow_verdict
    assert verdict["verdict"] == "unavailable"
    assert "half-written" in verdict["problem"]
    assert "shadow policy" in caplog.text
    with with_shadow("tests.shadow.candidates.nowhere"):
        assert execute(rename(customer, "B"), BOT, policy=candidates.live())["outcome"] == "ok"
    report = recorded(since=timedelta(days=1)).as_dict()
    assert report["skipped"] == {"shadow policy unavailable": 2}


def test_a_shadow_statement_that_fails_does_not_spoil_the_hosts_transaction():
    # The test runs inside a transaction, as a host with ATOMIC_REQUESTS does.
    customer = CustomerFactory(tenant_id=7)
    with with_shadow("tests.shadow.candidates.failing_sql"):
        result = execute(rename(customer), BOT, policy=candidates.live())
    assert result["outcome"] == "ok", result
    customer.refresh_from_db()
    assert customer.preferred_name == "Annie"
    assert AuditEvent.objects.get(id=result["audit_id"]).shadow_verdict["verdict"] in (
        "held",  # a when() that can't decide holds (fail closed)
        "unavailable",  # PostgreSQL: the savepoint is rolled back
    )


def test_the_command_can_fail_a_ci_job_when_something_would_change():
    traffic(candidates.live())
    with pytest.raises(SystemExit) as stopped:
        call_command(
            "ormai_shadow",
            "--policy",
            "tests.shadow.candidates.tighter",
            "--fail-on-change",
            stdout=StringIO(),
        )
    assert stopped.value.code == 1
    call_command(
        "ormai_shadow",
        "--policy",
        "tests.shadow.candidates.live",
        "--fail-on-change",
        stdout=StringIO(),
    )  # nothing changes: no exit
