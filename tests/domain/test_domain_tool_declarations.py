"""Declaring a domain tool: mistakes in the decorator fail at once; a name declared twice,
a model that isn't installed and an allowed tool nobody declares are system check errors."""

import pytest
from django.core import checks
from django.test import override_settings
from rest_framework import serializers

from ormai_django import agent_tool
from ormai_django.domain import declarations


class Empty(serializers.Serializer):
    pass


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"name": "refund"}, "dotted lower-case words"),
        ({"name": "Billing.Refund"}, "dotted lower-case words"),
        ({"name": "db.refund"}, "belong to the built-in tools"),
        ({"name": "approval.nudge"}, "belong to the built-in tools"),
        ({"name": "billing." + "x" * 70}, "too long"),
        ({"input": dict}, "Serializer class"),
        ({"description": "  "}, "description is required"),
        ({"compensate": "undo"}, "compensate must be a callable"),
        ({"irreversible": True, "compensate": lambda c, o: None}, "not irreversible"),
    ],
)
def test_a_bad_declaration_is_refused_where_it_is_written(options, message):
    arguments = {"name": "billing.refund", "input": Empty, "description": "Refunds."}
    with pytest.raises(ValueError, match=message):
        agent_tool(**{**arguments, **options})


@pytest.fixture
def registry():
    """The declarations as they were: a test's own tools don't outlive it."""
    saved, clashes = dict(declarations.REGISTRY), list(declarations.CLASHES)
    yield declarations.REGISTRY
    declarations.REGISTRY.clear()
    declarations.REGISTRY.update(saved)
    declarations.CLASHES[:] = clashes


def ids(messages):
    return [m.id for m in messages if m.id in {f"ormai_django.E00{n}" for n in (5, 6, 7, 8)}]


def test_a_name_declared_twice_is_a_system_check_error(registry):
    def first(call):
        return {}

    def second(call):
        return {}

    agent_tool(name="testcheck.twice", input=Empty, description="One.")(first)
    agent_tool(name="testcheck.twice", input=Empty, description="Two.")(second)

    messages = checks.run_checks(tags=["ormai_django"])

    assert ids(messages) == ["ormai_django.E005"]
    assert "testcheck.twice" in next(m.msg for m in messages if m.id == "ormai_django.E005")
    assert registry["testcheck.twice"].function is first  # the first one stays


def test_writes_naming_a_model_that_isnt_installed_is_a_system_check_error(registry):
    agent_tool(
        name="testcheck.ghost", input=Empty, description="Writes a ghost.", writes=["shop.Invoice"]
    )(lambda call: {})

    messages = [m for m in checks.run_checks(tags=["ormai_django"]) if m.id.endswith("E006")]

    assert len(messages) == 1 and "'shop.Invoice'" in messages[0].msg


def test_an_allowed_tool_nobody_declares_is_a_system_check_error():
    with override_settings(ORMAI={"POLICY": "tests.policies_for_checks.allows_a_ghost_tool"}):
        messages = checks.run_checks(tags=["ormai_django"])

    assert "ormai_django.E007" in ids(messages)


def test_an_allowed_tool_writing_an_unregistered_model_is_a_system_check_error():
    with override_settings(
        ORMAI={"POLICY": "tests.policies_for_checks.allows_refunds_without_their_models"}
    ):
        messages = checks.run_checks(tags=["ormai_django"])

    assert ids(messages).count("ormai_django.E008") == 1


def test_the_sandbox_policy_and_its_tools_pass_the_checks():
    assert ids(checks.run_checks(tags=["ormai_django"])) == []
