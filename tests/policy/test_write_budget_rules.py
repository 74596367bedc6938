"""write_budget and its siblings in the builder: recorded in the spec, checked where written,
resolved when built (every problem listed), each budget with a stable id."""

from datetime import timedelta

import pytest
from django.core import checks
from django.test import override_settings

from ormai_django import PolicyBuilder, PolicyConfigurationError
from ormai_django.policy import Budget, PolicySpec
from ormai_django.policy.spec import BudgetSpec, PreviewSpec
from sandbox_project.shop.models import Customer, Note
from tests.support import shop_writes

pytestmark = pytest.mark.django_db


def test_write_budget_records_into_the_spec_and_every_call_adds():
    builder = (
        PolicyBuilder()
        .write_budget(scope="run", max_calls=50, max_rows=500)
        .write_budget(scope="tenant", max_rows=10_000, per=timedelta(days=1))
        .propose_writes()
        .expose_dry_run_tools()
        .require_preview(over_rows=5)
    )

    spec = builder.spec
    assert isinstance(spec, PolicySpec)
    assert spec.budgets == (
        BudgetSpec(scope="run", max_calls=50, max_rows=500),
        BudgetSpec(scope="tenant", max_rows=10_000, per=timedelta(days=1)),
    )
    assert (spec.propose_writes, spec.dry_run_tools) == (True, True)
    assert spec.previews == (PreviewSpec(over_rows=5, within=timedelta(minutes=15)),)


def test_the_designs_four_budgets_build_with_ids_derived_from_their_definitions():
    policy = (
        shop_writes()
        .write_budget(scope="run", max_calls=50, max_rows=500)
        .write_budget(scope="tenant", max_rows=10_000, per=timedelta(days=1))
        .write_budget(scope="row", max_calls=3, per=timedelta(hours=1))
        .write_budget(
            scope="principal",
            model="Note",
            max_rows=200,
            per=timedelta(hours=1),
            on_exceed="approve",
        )
        .build()
    )

    assert [b.id for b in policy.budgets] == [
        "budget:run:calls=50,rows=500",
        "budget:tenant:rows=10000/1d",
        "budget:row:calls=3/1h",
        "budget:principal:shop.Note:rows=200/1h:approve",
    ]
    note_budget = policy.budgets[3]
    assert (note_budget.model, note_budget.model_label, note_budget.on_exceed) == (
        Note,
        "shop.Note",
        "approve",
    )
    assert note_budget.as_dict() == {
        "id": "budget:principal:shop.Note:rows=200/1h:approve",
        "scope": "principal",
        "model": "shop.Note",
        "max_calls": None,
        "max_rows": 200,
        "per_seconds": 3600.0,
        "on_exceed": "approve",
    }
    assert policy.budgets_for("db.create", Customer) == policy.budgets[:3]


def test_an_explicit_id_names_the_budget():
    policy = shop_writes().write_budget(scope="run", max_calls=50, id="run-cap").build()

    assert [b.id for b in policy.budgets] == ["run-cap"]


def test_the_rate_limit_and_the_bursts_are_budgets_too():
    policy = (
        shop_writes()
        .max_writes_per_minute(10)
        .max_writes_per_minute(5)
        .bounded_burst(model="Note", max_rows=100, per=timedelta(minutes=1))
        .build()
    )

    assert policy.max_writes_per_minute == 5
    assert policy.budgets == (
        Budget(
            id="rate:principal:calls=5/1m",
            scope="principal",
            max_calls=5,
            max_rows=None,
            per=timedelta(minutes=1),
            kind="rate_limit",
        ),
        Budget(
            id="burst:principal:shop.Note:rows=100/1m",
            scope="principal",
            max_calls=None,
            max_rows=100,
            per=timedelta(minutes=1),
            on_exceed="approve",
            model=Note,
            model_label="shop.Note",
            kind="burst",
        ),
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"scope": "session", "max_calls": 1}, "scope must be one of"),
        ({"scope": "run"}, "needs max_calls=..., max_rows=... or both"),
        ({"scope": "run", "max_calls": 0}, "max_calls must be a positive integer"),
        ({"scope": "run", "max_rows": True}, "max_rows must be a positive integer"),
        ({"scope": "run", "max_calls": 1, "per": 60}, "per must be a positive timedelta"),
        ({"scope": "run", "max_calls": 1, "on_exceed": "warn"}, "on_exceed must be one of"),
        ({"scope": "row", "max_rows": 3}, "give\nmax_calls|give max_calls"),
        ({"scope": "run", "max_calls": 1, "id": "has spaces"}, "id must be"),
        ({"scope": "run", "max_calls": 1, "tool": 7}, "must be a tool name"),
    ],
)
def test_a_budget_that_cant_work_is_refused_where_it_is_written(arguments, message):
    with pytest.raises(ValueError, match=message):
        PolicyBuilder().write_budget(**arguments)


def test_unknown_models_and_tools_are_listed_together_when_the_policy_is_built():
    builder = (
        shop_writes()
        .write_budget(scope="run", model="Invoice", max_calls=1)
        .write_budget(scope="run", tool="db.upsert", max_calls=1)
    )

    with pytest.raises(PolicyConfigurationError) as raised:
        builder.build()

    problems = raised.value.problems
    assert any("write_budget" in p and "Invoice" in p for p in problems)
    assert any("db.upsert" in p for p in problems)


def test_require_preview_and_enable_writes_mode_check_their_arguments():
    with pytest.raises(ValueError, match="over_rows"):
        PolicyBuilder().require_preview(over_rows=0)
    with pytest.raises(ValueError, match="within"):
        PolicyBuilder().require_preview(over_rows=5, within=5)


def test_a_budget_on_a_model_nobody_may_write_is_flagged_by_w003(settings):
    path = "tests.policy.test_write_budget_rules.dead_budget_policy"
    with override_settings(ORMAI={"POLICY": path}):
        messages = checks.run_checks(tags=["ormai_django"])

    dead = [m for m in messages if m.id == "ormai_django.W003"]
    assert [m.msg for m in dead] == [
        "write_budget on shop.Subscription never applies: the model is not open to agent writes."
    ]


def dead_budget_policy():
    return shop_writes().write_budget(scope="tenant", model="Subscription", max_calls=1).build()
