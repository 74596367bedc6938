"""ormai_django.testing: assertions that run the real pipeline and leave nothing behind."""

import os
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from ormai_django import ToolContext
from ormai_django.models import ApprovalRequest, AuditEvent, BudgetWindow
from ormai_django.testing import assert_allows, assert_denies, assert_held
from tests.factories import CustomerFactory, SubscriptionFactory
from tests.support import database_state, shop_writes

pytestmark = pytest.mark.django_db

BOT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-t")


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


def budgeted():
    return (
        shop_writes()
        .write_budget(scope="run", max_calls=1)
        .require_approval(tool="db.delete", model="Customer", approvers=2)
        .build()
    )


@pytest.mark.parametrize("decide_only", [False, True])
def test_nothing_is_left_behind(decide_only):
    policy = budgeted()
    customer = CustomerFactory(tenant_id=7)
    before = database_state()
    delete = {
        "name": "db.delete",
        "arguments": {"model": "Customer", "id": customer.pk, "reason": "dup"},
    }
    for _ in range(3):  # a budget of one call: nothing was spent, so each is allowed
        assert_allows(rename(customer), BOT, policy=policy, decide_only=decide_only)
    assert_held(delete, BOT, approvers=2, policy=policy, decide_only=decide_only)
    assert database_state() == before
    assert not AuditEvent.objects.exists()
    assert not ApprovalRequest.objects.exists()
    assert not BudgetWindow.objects.exists()


def test_a_failing_assertion_shows_what_the_call_got():
    customer = CustomerFactory(tenant_id=7)
    call = {
        "name": "db.update",
        "arguments": {
            "model": "Customer",
            "id": customer.pk,
            "data": {"is_vip": True},
            "reason": "r",
        },
    }
    with pytest.raises(AssertionError) as failed:
        assert_allows(call, BOT, policy=shop_writes().build())
    text = str(failed.value)
    assert "expected db.update to be allowed" in text
    assert "denied with FIELD_NOT_WRITABLE" in text
    assert '"outcome": "denied"' in text
    with pytest.raises(AssertionError, match=r"expected db\.update to be denied with REASON_REQUI"):
        assert_denies(call, BOT, code="REASON_REQUIRED", policy=shop_writes().build())
    with pytest.raises(AssertionError, match=r"to be held for approval.*but it was denied"):
        assert_held(call, BOT, policy=shop_writes().build())


def test_held_checks_the_number_of_approvers():
    policy = shop_writes().require_approval(tool="db.update", model="Customer").build()
    customer = CustomerFactory(tenant_id=7)
    assert_held(rename(customer), BOT, approvers=1, policy=policy)
    with pytest.raises(AssertionError, match="held for 2 approver"):
        assert_held(rename(customer), BOT, approvers=2, policy=policy)


def test_decide_only_names_the_rule_that_holds():
    policy = (
        shop_writes()
        .register_models(["shop.Subscription"])
        .enable_writes(writable_fields={"Subscription": ["plan"]})
        .require_approval(tool="db.update", model="Subscription", id="plan-changes")
        .build()
    )
    subscription = SubscriptionFactory(customer=CustomerFactory(tenant_id=7))
    call = {
        "name": "db.update",
        "arguments": {
            "model": "Subscription",
            "id": subscription.pk,
            "data": {"plan": "pro"},
            "reason": "upgrade",
        },
    }
    held = assert_held(call, BOT, policy=policy, decide_only=True)
    assert held["rule_ids"] == ["plan-changes"]


def test_a_budget_already_used_up_is_seen():
    policy = shop_writes().write_budget(scope="run", max_calls=1, per=timedelta(hours=1)).build()
    customer = CustomerFactory(tenant_id=7)
    from ormai_django import execute

    assert execute(rename(customer), BOT, policy=policy)["outcome"] == "ok"
    assert_denies(rename(customer, "B"), BOT, code="BUDGET_EXCEEDED", policy=policy)
    assert_denies(
        rename(customer, "B"), BOT, code="BUDGET_EXCEEDED", policy=policy, decide_only=True
    )


def test_the_pytest_plugin_is_registered_under_pytest11():
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    plugins = pyproject["project"]["entry-points"]["pytest11"]
    assert plugins["ormai_django"] == "ormai_django.testing.pytest_plugin"
    from ormai_django.testing import pytest_plugin

    assert callable(pytest_plugin.ormai_policy_assert)


def test_the_plugin_imports_before_django_is_set_up():
    # pytest loads pytest11 plugins before pytest-django configures Django.

    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    code = "import ormai_django.testing.pytest_plugin, ormai_django.testing"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_a_project_test_gets_the_fixture_from_the_plugin(tmp_path):
    import subprocess
    import sys

    repo = Path(__file__).parents[2]
    test_file = tmp_path / "test_project_policy.py"
    test_file.write_text(
        "from ormai_django import ToolContext\n"
        "from tests.factories import CustomerFactory\n\n"
        "def test_vip_flag(ormai_policy_assert):\n"
        "    c = CustomerFactory(tenant_id=7)\n"
        "    call = {'name': 'db.update', 'arguments': {'model': 'Customer', 'id': c.pk,\n"
        "            'data': {'is_vip': True}, 'reason': 'r'}}\n"
        "    ormai_policy_assert.denies(call, ToolContext(principal='a', tenant_id=7),\n"
        "                               code='FIELD_NOT_WRITABLE')\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            # Loaded by module name here; the installed entry point (if any) stands aside.
            "-p",
            "no:ormai_django",
            "-p",
            "ormai_django.testing.pytest_plugin",
            "-c",
            str(repo / "pyproject.toml"),
            "--rootdir",
            str(repo),
            str(test_file),
        ],
        cwd=repo,
        # On PostgreSQL the inner run makes a test database of its own, beside this run's.
        env={**os.environ, "ORMAI_PG_NAME": os.environ.get("ORMAI_PG_NAME", "ormai") + "_inner"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "1 passed" in done.stdout, done.stdout + done.stderr
