"""A builder that keeps its word: either bound alone, calls that add, one spelling for fields,
the spec it records, and one error hierarchy."""

from datetime import timedelta

import pytest

from ormai_django import (
    DEFAULT_PROD,
    ApprovalError,
    CapabilityTokenError,
    OrmaiError,
    PolicyBuilder,
    PolicyConfigurationError,
    PolicyWideningError,
    RollbackError,
    ToolContext,
    ToolDenied,
    ToolError,
    execute,
)
from ormai_django.models import ApprovalRequest
from ormai_django.policy import PolicySpec
from sandbox_project.shop.models import Customer, Note, Order
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:note-taker", tenant_id=7)


def note_policy(**burst):
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Customer", "shop.Note"])
        .tenant_scope("tenant_id")
        .enable_writes(writable_fields=["note.customer", "note.body"])
        .bounded_burst(model="Note", per=timedelta(minutes=1), **burst)
        .build()
    )


def create_note(customer, policy):
    arguments = {"model": "Note", "data": {"customer": customer.id, "body": "called"}}
    call = {"name": "db.create", "arguments": {**arguments, "reason": "log the call"}}
    return execute(call, AGENT, policy)


def test_a_burst_bounded_by_calls_alone_escalates_the_fourth_call_in_the_window():
    policy = note_policy(max_calls=3)
    customer = CustomerFactory(tenant_id=7)

    outcomes = [create_note(customer, policy)["outcome"] for _ in range(4)]

    assert outcomes == ["ok", "ok", "ok", "pending_approval"]
    held = ApprovalRequest.objects.get()
    assert "3 writes per 60 s" in held.why_held
    assert "rows" not in held.why_held.split("(")[0]  # no row bound was given


def test_a_burst_bounded_by_rows_alone_escalates_past_its_rows():
    policy = note_policy(max_rows=2)
    customer = CustomerFactory(tenant_id=7)

    outcomes = [create_note(customer, policy)["outcome"] for _ in range(3)]

    assert outcomes == ["ok", "ok", "pending_approval"]


def test_a_burst_needs_at_least_one_bound():
    with pytest.raises(ValueError, match="max_calls"):
        PolicyBuilder().bounded_burst(model="Note", per=timedelta(minutes=1))


def test_the_decorator_takes_a_burst_with_one_bound_too():
    from ormai_django import agent_model

    decorate = agent_model(writes="burst", burst={"max_calls": 3, "per": timedelta(minutes=1)})
    assert callable(decorate)


def test_two_bursts_for_one_model_both_apply_neither_overwrites_the_other():
    policy = (
        PolicyBuilder()
        .register_models([Note])
        .enable_writes(models=[Note])
        .bounded_burst(model="Note", max_calls=3, per=timedelta(minutes=1))
        .bounded_burst(model="Note", max_rows=30, per=timedelta(hours=1))
        .build()
    )

    assert [(b.max_calls, b.max_rows, b.per) for b in policy.budgets_for("db.create", Note)] == [
        (3, None, timedelta(minutes=1)),
        (None, 30, timedelta(hours=1)),
    ]


def test_the_same_burst_given_twice_is_one_budget_counted_once():
    burst = {"model": "Note", "max_calls": 3, "per": timedelta(minutes=1)}
    policy = (
        PolicyBuilder()
        .register_models([Note])
        .enable_writes(models=[Note])
        .bounded_burst(**burst)
        .bounded_burst(**burst)
        .build()
    )

    assert len(policy.budgets) == 1


def test_two_different_budgets_with_one_id_are_refused_not_overwritten():
    builder = (
        PolicyBuilder()
        .register_models([Note])
        .enable_writes(models=[Note])
        .write_budget(scope="run", max_calls=3, id="run-cap")
        .write_budget(scope="run", max_calls=30, id="run-cap")
    )
    with pytest.raises(PolicyConfigurationError, match="two different budgets have the id"):
        builder.build()


def test_row_limits_called_twice_keeps_both_bounds():
    policy = (
        PolicyBuilder().register_models([Order]).row_limits(default=20).row_limits(max=500).build()
    )

    assert (policy.default_limit, policy.max_limit) == (20, 500)


def test_row_limits_refuses_a_second_value_for_the_same_bound():
    builder = PolicyBuilder().register_models([Order]).row_limits(default=20)
    with pytest.raises(ValueError, match="already 20"):
        builder.row_limits(default=30)
    builder.row_limits(default=20)  # the same value again is no contradiction


def test_tenant_scope_called_twice_adds_a_scope_for_other_models():
    policy = (
        PolicyBuilder()
        .register_models([Customer, Order, "auth.Group"])
        .tenant_scope("tenant_id", models=[Customer])
        .tenant_scope("tenant_id", models=[Order])
        .build()
    )

    assert policy.for_model(Customer).tenant_field == "tenant_id"
    assert policy.for_model(Order).tenant_field == "tenant_id"
    assert policy.find_model("Group").tenant_field is None


def test_a_model_scoped_by_two_tenant_fields_is_a_configuration_error():
    builder = (
        PolicyBuilder()
        .register_models([Customer])
        .tenant_scope("tenant_id")
        .tenant_scope("name", models=[Customer])
    )
    with pytest.raises(PolicyConfigurationError, match="scoped by both 'tenant_id' and 'name'"):
        builder.build()


def test_two_soft_delete_fields_for_one_model_are_a_configuration_error():
    builder = (
        PolicyBuilder()
        .register_models(["auth.User"])
        .soft_delete("auth.User", "is_staff")
        .soft_delete("User", "is_superuser")
    )
    with pytest.raises(PolicyConfigurationError, match="one soft-delete field"):
        builder.build()


def test_fields_are_named_model_dot_field_in_any_case_everywhere():
    policy = (
        PolicyBuilder()
        .register_models([Customer])
        .mask_fields("Customer.EMAIL", "shop.customer.Phone")
        .enable_writes(writable_fields=["CUSTOMER.Preferred_Name"])
        .build()
    )

    mp = policy.for_model(Customer)
    assert mp.fields["email"].masked and mp.fields["phone"].masked
    assert mp.writes.writable_fields == {"preferred_name"}


def test_enable_writes_with_writable_fields_alone_opens_those_models():
    policy = (
        PolicyBuilder()
        .register_models([Customer, Order])
        .enable_writes(writable_fields={"Customer": ["preferred_name"]})
        .build()
    )

    assert policy.for_model(Customer).writes.enabled
    assert not policy.for_model(Order).writes.enabled


def test_enable_writes_needs_models_or_fields():
    with pytest.raises(ValueError, match="enable_writes needs"):
        PolicyBuilder().enable_writes()


def test_require_approval_takes_several_tools():
    policy = (
        PolicyBuilder()
        .register_models([Customer])
        .enable_writes(models=[Customer])
        .require_approval(tool=["db.update", "db_delete"], model="Customer", approvers=2)
        .build()
    )

    assert [(r.tool, r.approvers) for r in policy.approval_rules] == [
        ("db.update", 2),
        ("db.delete", 2),
    ]


def test_the_builder_records_a_public_frozen_spec_that_builds_the_same_policy():
    builder = (
        PolicyBuilder()
        .register_models([Customer])
        .mask_fields("customer.email")
        .enable_writes(writable_fields={Customer: ["preferred_name"]})
    )
    spec = builder.spec

    assert isinstance(spec, PolicySpec)
    assert spec.mask_fields == ("customer.email",)
    assert spec.writes[0].writable_fields == ("shop.Customer.preferred_name",)
    with pytest.raises(AttributeError):
        spec.models = ()  # frozen
    builder.register_models([Order])
    assert builder.spec.models == (Customer, Order) and spec.models == (Customer,)
    assert builder.build() == builder.build()


def test_a_narrowed_policy_indexes_only_the_models_it_keeps(policy):
    narrowed = policy.narrowed(models=["Order"])

    assert narrowed.find_model("order") is narrowed.models[0]
    assert narrowed.find_model("customer") is None
    assert narrowed.for_model(Customer) is None


@pytest.mark.parametrize(
    "error",
    [
        ToolError("NOT_FOUND", "m"),
        ToolDenied("FIELD_DENIED", "m"),
        CapabilityTokenError("TOKEN_EXPIRED", "m"),
        ApprovalError("UNKNOWN_APPROVAL", "m"),
        RollbackError("ROLLBACK_CONFLICT", "m", conflicts=[]),
        PolicyConfigurationError(["a problem", "another"]),
        PolicyWideningError("m"),
    ],
)
def test_every_error_is_an_ormai_error_with_a_code_a_message_and_details(error):
    assert isinstance(error, OrmaiError)
    assert error.code.isupper() and error.message
    assert error.as_error()["code"] == error.code


def test_a_policy_widening_error_is_still_a_value_error():
    assert isinstance(PolicyWideningError("m"), ValueError)
