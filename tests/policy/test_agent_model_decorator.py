"""@agent_model: rules declared on the model class, picked up by register_models."""

import os
import subprocess
import sys
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from ormai_django import PolicyBuilder, PolicyConfigurationError, agent_model
from sandbox_project.shop.models import Customer, Note, Order, Subscription

pytestmark = pytest.mark.django_db

REPO_ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def decorated(model, **rules):
    """Apply @agent_model(**rules) to an undecorated sandbox model for the block's duration."""
    assert "_ormai_rules" not in model.__dict__, f"{model.__name__} is already decorated"
    agent_model(**rules)(model)
    try:
        yield model
    finally:
        del model._ormai_rules


# --- the sandbox's decorated Note ------------------------------------------------------


def test_register_models_picks_up_note_soft_delete_and_mask_from_the_decorator():
    mp = PolicyBuilder().register_models(["shop.Note"]).build().for_model(Note)

    assert mp.soft_delete_field == "deleted_at"
    assert mp.fields["author_email"].masked
    assert mp.fields["author_email"].mask_kind == "email"
    assert not mp.fields["body"].masked


def test_sandbox_policy_carries_the_note_decorator_rules(policy):
    mp = policy.for_model(Note)

    assert mp.soft_delete_field == "deleted_at"
    assert mp.fields["author_email"].masked
    assert not mp.fields["author_email"].filterable


def test_builder_mask_fields_add_to_the_decorator_masks():
    mp = PolicyBuilder().register_models([Note]).mask_fields(["note.body"]).build().for_model(Note)

    assert mp.fields["author_email"].masked
    assert mp.fields["body"].masked


def test_decorator_rules_stay_off_models_that_do_not_carry_them():
    policy = PolicyBuilder().register_models([Note, Customer, "shop.HistoricalNote"]).build()

    assert policy.for_model(Customer).soft_delete_field is None
    assert not any(info.masked for info in policy.for_model(Customer).fields.values())
    historical = policy.for_model(Note.history.model)
    assert historical.soft_delete_field is None


# --- writes, writable fields, approval, burst from the decorator -----------------------


def test_decorator_writes_and_writable_fields_open_the_model_to_writes():
    with decorated(Order, writes="reason", writable_fields=["status", "shipped_at"]):
        policy = PolicyBuilder().register_models([Order, Customer]).build()

    writes = policy.for_model(Order).writes
    assert writes.enabled
    assert writes.write_class == "reason"
    assert writes.writable_fields == {"status", "shipped_at"}
    assert policy.for_model(Order).fields["status"].writable
    assert not policy.for_model(Customer).writes.enabled


@pytest.mark.parametrize("write_class", ["reason", "approval"])
def test_decorator_write_class_is_stored(write_class):
    with decorated(Order, writes=write_class, writable_fields=["status"]):
        mp = PolicyBuilder().register_models([Order]).build().for_model(Order)

    assert mp.writes.write_class == write_class
    assert mp.writes.enabled


def test_decorator_without_writes_keeps_the_model_read_only():
    with decorated(Order, mask_fields=["total_cents"]):
        mp = PolicyBuilder().register_models([Order]).build().for_model(Order)

    assert mp.writes.write_class == "none"
    assert not mp.writes.enabled
    assert mp.fields["total_cents"].masked


def test_decorator_approval_rules_join_the_policy_for_that_model():
    with decorated(
        Order,
        writes="reason",
        writable_fields=["status"],
        approval=[
            {"tool": "db.delete", "approvers": 2},
            {"tool": "db_update", "expires_in": timedelta(hours=1)},
        ],
    ):
        policy = PolicyBuilder().register_models([Order]).build()

    rules = sorted(policy.approval_rules, key=lambda rule: rule.tool)
    assert [(r.tool, r.model, r.approvers) for r in rules] == [
        ("db.delete", Order, 2),
        ("db.update", Order, 1),
    ]
    assert rules[1].expires_in == timedelta(hours=1)


def test_decorator_burst_sets_the_burst_rule_and_write_class():
    per = timedelta(minutes=5)
    with decorated(
        Order,
        writes="burst",
        writable_fields=["status"],
        burst={"max_calls": 3, "max_rows": 30, "per": per},
    ):
        policy = PolicyBuilder().register_models([Order]).build()
        mp = policy.for_model(Order)

    assert mp.writes.write_class == "burst"
    assert mp.writes.enabled
    (burst,) = policy.budgets
    assert (burst.model, burst.max_calls, burst.max_rows, burst.per, burst.on_exceed) == (
        Order,
        3,
        30,
        per,
        "approve",
    )


def test_decorator_deny_fields_hide_fields_of_that_model_only():
    with decorated(Order, deny_fields=["currency", "*_at"]):
        policy = PolicyBuilder().register_models([Order, Customer]).build()

    order_fields = policy.for_model(Order).fields
    assert "currency" not in order_fields
    assert "created_at" not in order_fields
    assert "shipped_at" not in order_fields
    assert "created_at" in policy.for_model(Customer).fields


# --- builder calls add to the decorator -----------------------------------------------


def test_builder_writable_fields_and_options_add_to_the_decorator():
    with decorated(Order, writes="approval", writable_fields=["status"]):
        mp = (
            PolicyBuilder()
            .register_models([Order])
            .enable_writes(
                models=["Order"],
                writable_fields={"Order": ["shipped_at"]},
                require_idempotency_key=True,
                max_affected_rows=5,
            )
            .build()
            .for_model(Order)
        )

    assert mp.writes.write_class == "approval"
    assert mp.writes.writable_fields == {"status", "shipped_at"}
    assert mp.writes.require_idempotency_key is True
    assert mp.writes.max_affected_rows == 5


def test_builder_approval_rules_add_to_the_decorator_approval_rules():
    with decorated(Order, writes="reason", approval=[{"tool": "db.delete", "approvers": 2}]):
        policy = (
            PolicyBuilder()
            .register_models([Order, Subscription])
            .require_approval(tool="db.update", model="Subscription")
            .build()
        )

    pairs = {(rule.tool, rule.model, rule.approvers) for rule in policy.approval_rules}
    assert pairs == {("db.delete", Order, 2), ("db.update", Subscription, 1)}
    assert len(policy.approval_rules) == 2


def test_builder_deny_fields_add_to_the_decorator_masks():
    mp = PolicyBuilder().register_models([Note]).deny_fields("body").build().for_model(Note)

    assert "body" not in mp.fields
    assert mp.fields["author_email"].masked


def test_building_twice_does_not_duplicate_decorator_rules():
    with decorated(
        Order,
        writes="burst",
        burst={"max_calls": 3, "max_rows": 30, "per": timedelta(minutes=1)},
        approval=[{"tool": "db.delete", "approvers": 2}],
    ):
        builder = PolicyBuilder().register_models([Order])
        first, second = builder.build(), builder.build()

    assert first == second
    assert len(second.approval_rules) == 1


def test_decorator_rules_are_read_when_the_policy_is_built():
    builder = PolicyBuilder().register_models([Order])
    with decorated(Order, writes="reason", writable_fields=["status"]):
        inside = builder.build()
    outside = builder.build()

    assert inside.for_model(Order).writes.enabled
    assert not outside.for_model(Order).writes.enabled


# --- invalid decorator rules ----------------------------------------------------------


@pytest.mark.parametrize("writes", ["sometimes", "REASON", "", None, "write"])
def test_invalid_write_class_raises_value_error(writes):
    with pytest.raises(ValueError, match="writes"):
        agent_model(writes=writes)


def test_burst_write_class_without_a_burst_bound_raises_value_error():
    with pytest.raises(ValueError, match="burst"):
        agent_model(writes="burst")


def test_decorator_naming_an_unknown_field_is_a_configuration_error():
    with (
        decorated(Order, writes="reason", writable_fields=["stauts"], mask_fields=["totl"]),
        pytest.raises(PolicyConfigurationError) as excinfo,
    ):
        PolicyBuilder().register_models([Order]).build()

    problems = excinfo.value.problems
    assert len(problems) == 2
    assert all("shop.Order" in p and "@agent_model" in p for p in problems)
    assert any("'stauts'" in p for p in problems)
    assert any("'totl'" in p for p in problems)


def test_decorator_soft_delete_on_a_non_nullable_field_is_a_configuration_error():
    with (
        decorated(Order, soft_delete_field="created_at"),
        pytest.raises(PolicyConfigurationError) as excinfo,
    ):
        PolicyBuilder().register_models([Order]).build()

    assert len(excinfo.value.problems) == 1
    assert "shop.Order.created_at" in excinfo.value.problems[0]


def test_decorator_writable_pk_is_a_configuration_error():
    with (
        decorated(Group, writes="reason", writable_fields=["id", "name"]),
        pytest.raises(PolicyConfigurationError) as excinfo,
    ):
        PolicyBuilder().register_models([Group]).build()

    assert len(excinfo.value.problems) == 1
    assert "auth.Group.id" in excinfo.value.problems[0]


@pytest.mark.parametrize(
    "rules",
    [
        {"approval": [{"tool": "db.delete", "approverz": 2}]},
        {"approval": [{"tool": "db.delete", "approvers": 0}]},
        {"writes": "burst", "burst": {"max_calls": 3}},
        {"writes": "burst", "burst": {"max_calls": 3, "max_rows": 30, "per": 60}},
        {"writes": "burst", "burst": {"max_calls": 0, "max_rows": 30, "per": timedelta(1)}},
    ],
    ids=["approval-typo", "approvers-0", "burst-incomplete", "burst-per-int", "burst-calls-0"],
)
def test_invalid_decorator_approval_or_burst_is_refused_as_configuration(rules):
    # Refused by the decorator itself, or reported by build() as a PolicyConfigurationError
    # (which the system check turns into E001); never silently dropped, never a crash.
    try:
        decorate = agent_model(**rules)
    except (ValueError, TypeError):
        return
    decorate(Order)
    try:
        with pytest.raises(PolicyConfigurationError) as excinfo:
            PolicyBuilder().register_models([Order]).build()
    finally:
        del Order._ormai_rules
    assert any("shop.Order" in p for p in excinfo.value.problems)


def test_decorator_writable_fields_without_a_write_class_are_refused():
    # A read-only model must never describe a field to the agent as writable.
    with pytest.raises(ValueError, match="writable_fields needs a write class"):
        agent_model(writable_fields=["status"])


# --- importing the package loads no models --------------------------------------------


def run_without_django_setup(code):
    """Run ``code`` in a fresh interpreter with no DJANGO_SETTINGS_MODULE, as a models.py
    module is imported before Django is set up."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_importing_ormai_django_and_the_decorator_loads_no_models():
    code = (
        "import sys, ormai_django\n"
        "from ormai_django import agent_model\n"
        "assert callable(agent_model)\n"
        "loaded = sorted(m for m in sys.modules if m.endswith('.models') "
        "and (m.startswith('ormai_django') or m.startswith('django.contrib')))\n"
        "assert 'ormai_django.models' not in sys.modules, loaded\n"
        "assert 'django.contrib.auth.models' not in sys.modules, loaded\n"
        "print('ok', loaded)\n"
    )

    result = run_without_django_setup(code)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok []"), result.stdout


def test_a_models_module_can_use_the_decorator_before_django_is_set_up():
    code = (
        "from ormai_django import agent_model\n"
        "rules = agent_model(writes='reason', writable_fields=['status'])\n"
        "class Plain:\n"
        "    pass\n"
        "assert rules(Plain) is Plain\n"
        "from django.apps import apps\n"
        "assert not apps.ready\n"
        "print('ok')\n"
    )

    result = run_without_django_setup(code)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
