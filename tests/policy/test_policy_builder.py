"""PolicyBuilder: every method stores what it is told on the built, immutable Policy."""

import dataclasses
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import models
from django.test.utils import isolate_apps

from ormai_django import DEFAULT_DEV, DEFAULT_PROD, PolicyBuilder, PolicyConfigurationError
from ormai_django.policy import ApprovalRule, Budget, Profile
from ormai_django.policy.resolution import ModelNameError, resolve_model
from sandbox_project.shop.models import Customer, Note, Order, Subscription

pytestmark = pytest.mark.django_db

SHOP = [Customer, Subscription, Order, Note]


def labels(policy):
    return sorted(mp.label for mp in policy.models)


def problems_of(builder):
    with pytest.raises(PolicyConfigurationError) as excinfo:
        builder.build()
    return excinfo.value.problems


# --- register_models ------------------------------------------------------------------


def test_register_models_accepts_model_classes():
    policy = PolicyBuilder().register_models([Customer, Order]).build()

    assert labels(policy) == ["shop.Customer", "shop.Order"]
    assert policy.for_model(Customer).model is Customer
    assert policy.for_model(Subscription) is None


def test_register_models_accepts_app_label_dot_model_in_any_case():
    policy = PolicyBuilder().register_models(["shop.Customer", "SHOP.order", "auth.group"]).build()

    assert labels(policy) == ["auth.Group", "shop.Customer", "shop.Order"]
    assert policy.for_model(Group).name == "Group"


def test_register_models_matches_class_names_case_insensitively():
    policy = PolicyBuilder().register_models(["customer", "ORDER", "SubScription"]).build()

    assert labels(policy) == ["shop.Customer", "shop.Order", "shop.Subscription"]


def test_register_models_takes_varargs_and_several_calls():
    policy = PolicyBuilder().register_models(Customer, "shop.Order").register_models([Note]).build()

    assert labels(policy) == ["shop.Customer", "shop.Note", "shop.Order"]


def test_a_model_registered_twice_under_different_names_appears_once():
    policy = PolicyBuilder().register_models([Customer, "shop.Customer", "customer"]).build()

    assert labels(policy) == ["shop.Customer"]


def test_built_policy_resolves_agent_model_names_case_insensitively():
    policy = PolicyBuilder().register_models([Customer, Order]).build()

    assert policy.resolve("customer").model is Customer
    assert policy.resolve("CUSTOMER").model is Customer
    assert policy.resolve("shop.order").model is Order


# --- deny_fields ----------------------------------------------------------------------


def test_profile_denies_secret_fields_without_any_deny_call():
    mp = PolicyBuilder(DEFAULT_PROD).register_models([Customer]).build().for_model(Customer)

    assert "password_hash" not in mp.fields
    assert "api_token" not in mp.fields
    assert {"id", "name", "email", "phone", "tenant_id"} <= set(mp.fields)


def test_deny_fields_glob_removes_matching_fields_on_every_model():
    policy = PolicyBuilder().register_models([Customer, Order]).deny_fields("*_at", "phone").build()

    customer, order = policy.for_model(Customer), policy.for_model(Order)
    assert "created_at" not in customer.fields
    assert "phone" not in customer.fields
    assert "created_at" not in order.fields
    assert "shipped_at" not in order.fields
    assert "status" in order.fields
    assert "name" in customer.fields


def test_deny_fields_accepts_a_list_and_is_case_insensitive():
    mp = PolicyBuilder().register_models([Customer]).deny_fields(["PHONE", "Is_VIP"]).build()
    fields = mp.for_model(Customer).fields

    assert "phone" not in fields
    assert "is_vip" not in fields


def test_model_dot_field_glob_denies_only_on_that_model():
    policy = PolicyBuilder().register_models([Customer, Order]).deny_fields("order.*_at").build()

    assert "created_at" not in policy.for_model(Order).fields
    assert "shipped_at" not in policy.for_model(Order).fields
    assert "created_at" in policy.for_model(Customer).fields


def test_model_dot_field_glob_matches_app_label_and_model_name_case_insensitively():
    policy = (
        PolicyBuilder()
        .register_models([Customer, Order])
        .deny_fields("shop.customer.phone", "Order.Currency")
        .build()
    )

    assert "phone" not in policy.for_model(Customer).fields
    assert "currency" not in policy.for_model(Order).fields
    assert "email" in policy.for_model(Customer).fields


def test_model_glob_on_the_model_name_denies_across_models_it_matches():
    policy = PolicyBuilder().register_models([Order, Note]).deny_fields("*.created_at").build()

    assert "created_at" not in policy.for_model(Order).fields
    assert "created_at" not in policy.for_model(Note).fields


def test_denying_a_foreign_key_by_name_hides_the_relation_and_its_attname():
    mp = PolicyBuilder().register_models([Order]).deny_fields("customer").build().for_model(Order)

    assert "customer" not in mp.fields
    assert mp.field_named("customer_id") is None


# --- mask_fields ----------------------------------------------------------------------


def test_mask_fields_marks_fields_masked_with_their_kind_and_unfilterable():
    mp = (
        PolicyBuilder()
        .register_models([Customer])
        .mask_fields(["customer.email", "customer.phone", "customer.name"])
        .build()
        .for_model(Customer)
    )

    assert (mp.fields["email"].masked, mp.fields["email"].mask_kind) == (True, "email")
    assert (mp.fields["phone"].masked, mp.fields["phone"].mask_kind) == (True, "phone")
    assert (mp.fields["name"].masked, mp.fields["name"].mask_kind) == (True, "redact")
    assert not mp.fields["email"].filterable
    assert mp.fields["preferred_name"].masked is False
    assert mp.fields["preferred_name"].mask_kind is None
    assert "email" not in mp.filterable_names()
    assert "preferred_name" in mp.filterable_names()


def test_mask_fields_accepts_varargs_and_app_label_model_field():
    policy = (
        PolicyBuilder()
        .register_models([Customer, Order])
        .mask_fields("shop.Customer.email", "ORDER.total_cents")
        .build()
    )

    assert policy.for_model(Customer).fields["email"].masked
    assert policy.for_model(Order).fields["total_cents"].masked


def test_mask_fields_without_a_model_part_is_a_configuration_error():
    problems = problems_of(PolicyBuilder().register_models([Customer]).mask_fields(["email"]))

    assert len(problems) == 1
    assert "'email'" in problems[0]
    assert "model.field" in problems[0]


# --- tenant_scope ---------------------------------------------------------------------


def test_tenant_scope_scopes_every_registered_model_by_default():
    policy = PolicyBuilder().register_models(SHOP).tenant_scope("tenant_id").build()

    for mp in policy.models:
        assert mp.tenant_field == "tenant_id"
        assert mp.fields["tenant_id"].is_tenant
        assert not mp.fields["id"].is_tenant


def test_without_tenant_scope_no_model_is_scoped():
    policy = PolicyBuilder().register_models(SHOP).build()

    assert all(mp.tenant_field is None for mp in policy.models)


def test_tenant_scope_models_limits_scoping_to_the_listed_models():
    policy = (
        PolicyBuilder()
        .register_models([Customer, Order, Group])
        .tenant_scope("tenant_id", models=["Customer", Order])
        .build()
    )

    assert policy.for_model(Customer).tenant_field == "tenant_id"
    assert policy.for_model(Order).tenant_field == "tenant_id"
    assert policy.for_model(Group).tenant_field is None


def test_tenant_scope_exclude_leaves_shared_models_unscoped():
    policy = (
        PolicyBuilder()
        .register_models([Customer, Order, Group])
        .tenant_scope("tenant_id", exclude=["auth.Group"])
        .build()
    )

    assert policy.for_model(Customer).tenant_field == "tenant_id"
    assert policy.for_model(Order).tenant_field == "tenant_id"
    assert policy.for_model(Group).tenant_field is None


# --- enable_writes --------------------------------------------------------------------


def test_enable_writes_stores_write_rules_on_the_listed_models_only():
    policy = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models([Customer, Order])
        .enable_writes(
            models=["Customer"],
            writable_fields={"Customer": ["preferred_name", "preferred_language"]},
            require_reason=False,
            require_idempotency_key=True,
            max_affected_rows=5,
        )
        .build()
    )

    writes = policy.for_model(Customer).writes
    assert writes.enabled
    assert writes.write_class == "reason"
    assert writes.writable_fields == frozenset({"preferred_name", "preferred_language"})
    assert writes.require_reason is False
    assert writes.require_idempotency_key is True
    assert writes.max_affected_rows == 5
    assert policy.for_model(Customer).fields["preferred_name"].writable
    assert not policy.for_model(Customer).fields["name"].writable
    assert not policy.for_model(Order).writes.enabled
    assert policy.for_model(Order).writes.writable_fields == frozenset()
    assert policy.writes_enabled


def test_enable_writes_accepts_classes_and_labels_as_writable_fields_keys():
    policy = (
        PolicyBuilder()
        .register_models([Customer, Order])
        .enable_writes(
            models=[Customer, "shop.Order"],
            writable_fields={Customer: ["preferred_name"], "shop.order": ["status"]},
        )
        .build()
    )

    assert policy.for_model(Customer).writes.writable_fields == {"preferred_name"}
    assert policy.for_model(Order).writes.writable_fields == {"status"}


def test_writable_foreign_key_named_by_attname_is_stored_by_field_name():
    mp = (
        PolicyBuilder()
        .register_models([Order, Customer])
        .enable_writes(models=["Order"], writable_fields={"Order": ["customer_id"]})
        .build()
        .for_model(Order)
    )

    assert mp.writes.writable_fields == {"customer"}


def test_a_writable_foreign_key_into_an_unregistered_model_is_a_configuration_error():
    # The value couldn't be checked against the context's tenant.
    problems = problems_of(
        PolicyBuilder()
        .register_models([Order])
        .enable_writes(models=["Order"], writable_fields={"Order": ["customer"]})
    )

    assert problems == [
        "shop.Order.customer is writable but points to a model the policy doesn't register, "
        "so the agent's value can't be checked against its tenant"
    ]


def test_enable_writes_without_writable_fields_opens_writes_but_no_field():
    mp = (
        PolicyBuilder()
        .register_models([Order])
        .enable_writes(models=["Order"])
        .build()
        .for_model(Order)
    )

    assert mp.writes.enabled
    assert mp.writes.writable_fields == frozenset()


def test_max_affected_rows_must_be_a_positive_integer():
    with pytest.raises(ValueError, match="max_affected_rows"):
        PolicyBuilder().enable_writes(models=["Order"], max_affected_rows=0)


# --- max_writes_per_minute ------------------------------------------------------------


def test_max_writes_per_minute_is_stored_and_unset_by_default():
    assert PolicyBuilder().register_models([Order]).build().max_writes_per_minute is None
    policy = PolicyBuilder().register_models([Order]).max_writes_per_minute(10).build()

    assert policy.max_writes_per_minute == 10


@pytest.mark.parametrize("bad", [0, -3, 2.5, "10", True])
def test_max_writes_per_minute_rejects_anything_but_a_positive_integer(bad):
    with pytest.raises(ValueError, match="max_writes_per_minute"):
        PolicyBuilder().max_writes_per_minute(bad)


# --- require_approval -----------------------------------------------------------------


def test_require_approval_stores_tool_model_when_approvers_and_expiry():
    def big(call):
        return call.affected_rows > 50

    policy = (
        PolicyBuilder()
        .register_models([Subscription, Order, Customer])
        .require_approval(tool="db.update", model="Subscription", approvers=1)
        .require_approval(tool="db.update", model=Order, when=big)
        .require_approval(
            tool="db.delete", model="shop.customer", approvers=2, expires_in=timedelta(hours=2)
        )
        .build()
    )

    rules = policy.approval_rules
    assert len(rules) == 3
    assert all(isinstance(rule, ApprovalRule) for rule in rules)
    assert (rules[0].tool, rules[0].model, rules[0].approvers, rules[0].when) == (
        "db.update",
        Subscription,
        1,
        None,
    )
    assert (rules[1].tool, rules[1].model, rules[1].approvers) == ("db.update", Order, 1)
    assert rules[1].when is big
    assert (rules[2].tool, rules[2].model, rules[2].approvers) == ("db.delete", Customer, 2)
    assert rules[2].expires_in == timedelta(hours=2)


def test_require_approval_accepts_underscore_tool_names():
    policy = (
        PolicyBuilder()
        .register_models([Order])
        .require_approval(tool="db_delete", model="Order")
        .build()
    )

    assert policy.approval_rules[0].tool == "db.delete"


def test_require_approval_without_tool_or_model_matches_broadly():
    policy = PolicyBuilder().register_models([Order]).require_approval(approvers=3).build()

    (rule,) = policy.approval_rules
    assert (rule.tool, rule.model, rule.approvers) == (None, None, 3)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_require_approval_rejects_approvers_that_are_not_a_positive_integer(bad):
    with pytest.raises(ValueError, match="approvers"):
        PolicyBuilder().require_approval(tool="db.update", model="Order", approvers=bad)


@pytest.mark.parametrize("expires_in", [5, "1h", timedelta(0), timedelta(hours=-1)])
def test_require_approval_expires_in_must_be_a_positive_timedelta(expires_in):
    # Refused when called (like bounded_burst's per) or at build, never stored as is.
    with pytest.raises((ValueError, TypeError, PolicyConfigurationError)):
        (
            PolicyBuilder()
            .register_models([Order])
            .require_approval(tool="db.update", model="Order", expires_in=expires_in)
            .build()
        )


# --- bounded_burst --------------------------------------------------------------------


def test_bounded_burst_stores_a_burst_rule_and_makes_writes_bursty():
    policy = (
        PolicyBuilder()
        .register_models([Note, Order])
        .enable_writes(models=["Note"], writable_fields={"Note": ["body"]})
        .bounded_burst(model="Note", max_calls=20, max_rows=100, per=timedelta(minutes=1))
        .build()
    )

    mp = policy.for_model(Note)
    # A burst is a principal budget on the model that escalates to approval.
    assert policy.budgets == (
        Budget(
            id="burst:principal:shop.Note:calls=20,rows=100/1m",
            scope="principal",
            max_calls=20,
            max_rows=100,
            per=timedelta(minutes=1),
            on_exceed="approve",
            model=Note,
            model_label="shop.Note",
            kind="burst",
        ),
    )
    assert policy.budgets_for("db.update", Note) == policy.budgets
    assert policy.budgets_for("db.update", Order) == ()
    assert mp.writes.write_class == "burst"
    assert mp.writes.enabled
    assert policy.for_model(Order).writes.write_class == "none"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_calls": -1},
        {"max_calls": 0},
        {"max_rows": 0},
        {"max_rows": "100"},
    ],
)
def test_bounded_burst_rejects_non_positive_bounds(kwargs):
    arguments = {"model": "Note", "max_calls": 20, "max_rows": 100, "per": timedelta(minutes=1)}
    with pytest.raises(ValueError):
        PolicyBuilder().bounded_burst(**{**arguments, **kwargs})


@pytest.mark.parametrize("per", [60, "1m", None, timedelta(0), timedelta(seconds=-5)])
def test_bounded_burst_per_must_be_a_positive_timedelta(per):
    with pytest.raises(ValueError, match="per"):
        PolicyBuilder().bounded_burst(model="Note", max_calls=20, max_rows=100, per=per)


# --- soft_delete ----------------------------------------------------------------------


def test_soft_delete_stores_a_nullable_datetime_field():
    mp = (
        PolicyBuilder()
        .register_models([Order])
        .soft_delete("Order", "shipped_at")
        .build()
        .for_model(Order)
    )

    assert mp.soft_delete_field == "shipped_at"


def test_soft_delete_accepts_a_boolean_field():
    mp = (
        PolicyBuilder()
        .register_models([Customer])
        .soft_delete(Customer, "is_vip")
        .build()
        .for_model(Customer)
    )

    assert mp.soft_delete_field == "is_vip"


def test_soft_delete_on_a_non_nullable_datetime_is_a_configuration_error():
    problems = problems_of(
        PolicyBuilder().register_models([Order]).soft_delete("Order", "created_at")
    )

    assert len(problems) == 1
    assert "shop.Order.created_at" in problems[0]


def test_models_without_soft_delete_have_none():
    mp = PolicyBuilder().register_models([Order]).build().for_model(Order)

    assert mp.soft_delete_field is None


# --- row_limits -----------------------------------------------------------------------


def test_row_limits_default_to_the_profile():
    policy = PolicyBuilder(DEFAULT_PROD).register_models([Order]).build()

    assert (policy.default_limit, policy.max_limit) == (
        DEFAULT_PROD.default_limit,
        DEFAULT_PROD.max_limit,
    )


def test_row_limits_override_the_profile():
    policy = PolicyBuilder().register_models([Order]).row_limits(default=10, max=20).build()

    assert (policy.default_limit, policy.max_limit) == (10, 20)


def test_row_limits_default_above_max_is_a_configuration_error():
    problems = problems_of(PolicyBuilder().register_models([Order]).row_limits(default=30, max=20))

    assert len(problems) == 1
    assert "30" in problems[0]
    assert "20" in problems[0]


@pytest.mark.parametrize("kwargs", [{"default": 0}, {"max": -1}, {"default": "10"}])
def test_row_limits_must_be_positive_integers(kwargs):
    with pytest.raises(ValueError):
        PolicyBuilder().row_limits(**kwargs)


# --- profiles -------------------------------------------------------------------------


def test_default_prod_makes_nothing_writable():
    policy = PolicyBuilder(DEFAULT_PROD).register_models(SHOP).build()

    assert not policy.writes_enabled
    for mp in policy.models:
        assert mp.writes.write_class == "none"
        assert not mp.writes.enabled
        assert mp.writes.writable_fields == frozenset()
        assert not any(info.writable for info in mp.fields.values())


def test_default_prod_is_the_builders_default_profile():
    assert PolicyBuilder().register_models([Order]).build().profile == DEFAULT_PROD


def test_default_prod_write_defaults_bound_rows_and_require_a_reason():
    writes = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models([Order])
        .enable_writes(models=["Order"], writable_fields={"Order": ["status"]})
        .build()
        .for_model(Order)
        .writes
    )

    assert writes.max_affected_rows == 100
    assert writes.require_reason is True
    assert writes.require_idempotency_key is False
    assert writes.allow_cascade_delete is False


def test_default_dev_is_roomier_than_prod_and_still_denies_secrets():
    assert DEFAULT_DEV.max_affected_rows > DEFAULT_PROD.max_affected_rows
    assert DEFAULT_DEV.max_limit > DEFAULT_PROD.max_limit
    assert DEFAULT_DEV.default_limit >= DEFAULT_PROD.default_limit

    policy = (
        PolicyBuilder(DEFAULT_DEV)
        .register_models([Customer])
        .enable_writes(models=["Customer"], writable_fields={"Customer": ["preferred_name"]})
        .build()
    )
    mp = policy.for_model(Customer)
    assert policy.profile == DEFAULT_DEV
    assert policy.max_limit == DEFAULT_DEV.max_limit
    assert mp.writes.max_affected_rows == DEFAULT_DEV.max_affected_rows
    assert "password_hash" not in mp.fields
    assert "api_token" not in mp.fields


def test_default_dev_still_makes_nothing_writable_until_enable_writes():
    policy = PolicyBuilder(DEFAULT_DEV).register_models(SHOP).build()

    assert not policy.writes_enabled


def test_a_derived_profile_sets_the_policy_defaults():
    strict = DEFAULT_PROD.replace(name="strict", max_affected_rows=3, default_limit=5)
    writes_policy = (
        PolicyBuilder(strict)
        .register_models([Order])
        .enable_writes(models=["Order"], writable_fields={"Order": ["status"]})
        .build()
    )

    assert isinstance(strict, Profile)
    assert writes_policy.default_limit == 5
    assert writes_policy.for_model(Order).writes.max_affected_rows == 3
    assert DEFAULT_PROD.max_affected_rows == 100


@pytest.mark.parametrize("bad", ["prod", None, {"name": "prod"}, DEFAULT_PROD.__dict__])
def test_policy_builder_takes_only_a_profile(bad):
    with pytest.raises(TypeError):
        PolicyBuilder(bad)


# --- immutability ---------------------------------------------------------------------


def _sandbox_like_policy():
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(SHOP)
        .mask_fields(["customer.email"])
        .tenant_scope("tenant_id")
        .enable_writes(models=["Customer"], writable_fields={"Customer": ["preferred_name"]})
        .max_writes_per_minute(10)
        .require_approval(tool="db.delete", model="Customer", approvers=2)
        .bounded_burst(model="Note", max_calls=20, max_rows=100, per=timedelta(minutes=1))
        .build()
    )


def test_policy_attributes_cannot_be_assigned():
    policy = _sandbox_like_policy()
    mp = policy.for_model(Customer)

    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.max_limit = 10**6
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.max_writes_per_minute = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        mp.tenant_field = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        mp.writes.writable_fields = frozenset({"email"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        mp.fields["email"].masked = False
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.approval_rules[0].approvers = 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.budgets[0].max_calls = 10**6


def test_policy_collections_are_immutable():
    policy = _sandbox_like_policy()

    assert isinstance(policy.models, tuple)
    assert isinstance(policy.approval_rules, tuple)
    assert isinstance(policy.for_model(Customer).writes.writable_fields, frozenset)


def test_model_policy_fields_mapping_cannot_be_mutated():
    mp = _sandbox_like_policy().for_model(Customer)
    email = mp.fields["email"]

    with pytest.raises(TypeError):
        mp.fields["email"] = dataclasses.replace(email, masked=False)
    with pytest.raises(TypeError):
        del mp.fields["email"]
    with pytest.raises((TypeError, AttributeError)):
        mp.fields.pop("email")
    with pytest.raises((TypeError, AttributeError)):
        mp.fields.update(password_hash=email)
    with pytest.raises((TypeError, AttributeError)):
        mp.aliases.update(x="email")
    assert mp.fields["email"].masked


def test_later_builder_calls_do_not_change_a_built_policy():
    builder = PolicyBuilder().register_models([Customer])
    writable = ["preferred_name"]
    builder.enable_writes(models=["Customer"], writable_fields={"Customer": writable})
    first = builder.build()

    writable.append("name")
    builder.deny_fields("phone").mask_fields("customer.email")

    mp = first.for_model(Customer)
    assert "phone" in mp.fields
    assert not mp.fields["email"].masked
    assert mp.writes.writable_fields == {"preferred_name"}


def test_build_twice_gives_equal_policies_without_duplicated_rules():
    builder = (
        PolicyBuilder()
        .register_models(SHOP)
        .tenant_scope("tenant_id")
        .enable_writes(models=["Customer"], writable_fields={"Customer": ["preferred_name"]})
        .require_approval(tool="db.update", model="Subscription")
        .require_approval(tool="db.delete", model="Customer", approvers=2)
        .bounded_burst(model="Note", max_calls=20, max_rows=100, per=timedelta(minutes=1))
    )

    first, second = builder.build(), builder.build()

    assert first == second
    assert first is not second
    assert len(second.approval_rules) == 2
    assert second.budgets == first.budgets
    assert len(second.budgets) == 1  # the burst, once


# --- configuration errors -------------------------------------------------------------


def test_unknown_model_is_a_configuration_error_naming_it():
    problems = problems_of(PolicyBuilder().register_models(["shop.Customer", "shop.Invoice"]))

    assert len(problems) == 1
    assert "shop.Invoice" in problems[0]


def test_unknown_class_name_is_a_configuration_error():
    problems = problems_of(PolicyBuilder().register_models(["Invoice"]))

    assert len(problems) == 1
    assert "Invoice" in problems[0]


def test_a_policy_without_models_is_a_configuration_error():
    problems = problems_of(PolicyBuilder())

    assert len(problems) == 1


def test_rules_on_a_model_that_is_not_registered_are_configuration_errors():
    problems = problems_of(
        PolicyBuilder()
        .register_models([Customer])
        .mask_fields(["order.status"])
        .enable_writes(models=["Order"])
        .soft_delete("Note", "deleted_at")
        .require_approval(tool="db.update", model="Subscription")
        .bounded_burst(model="Note", max_calls=1, max_rows=1, per=timedelta(minutes=1))
    )

    assert len(problems) == 5
    assert any("mask_fields" in p and "order" in p for p in problems)
    assert any("enable_writes" in p and "Order" in p for p in problems)
    assert any("soft_delete" in p and "Note" in p for p in problems)
    assert any("require_approval" in p and "Subscription" in p for p in problems)
    assert any("bounded_burst" in p and "Note" in p for p in problems)


@pytest.mark.parametrize(
    ("configure", "where", "field"),
    [
        (lambda b: b.mask_fields(["customer.nickname"]), "mask_fields", "nickname"),
        (
            lambda b: b.enable_writes(models=["Customer"], writable_fields={"Customer": ["vip"]}),
            "writable_fields",
            "vip",
        ),
        (lambda b: b.soft_delete("Customer", "removed_at"), "soft_delete", "removed_at"),
        (lambda b: b.tenant_scope("org_id"), "tenant_scope", "org_id"),
    ],
    ids=["mask_fields", "writable_fields", "soft_delete", "tenant_scope"],
)
def test_unknown_field_is_a_configuration_error_naming_model_and_field(configure, where, field):
    problems = problems_of(configure(PolicyBuilder().register_models([Customer])))

    assert len(problems) == 1
    assert where in problems[0]
    assert "shop.Customer" in problems[0]
    assert repr(field) in problems[0]


def test_tenant_scoped_model_without_the_field_is_a_configuration_error():
    problems = problems_of(
        PolicyBuilder().register_models([Customer, Group, Order]).tenant_scope("tenant_id")
    )

    assert len(problems) == 1
    assert "auth.Group" in problems[0]
    assert "tenant_id" in problems[0]


def test_tenant_scope_models_naming_an_unregistered_model_is_a_configuration_error():
    problems = problems_of(
        PolicyBuilder().register_models([Customer]).tenant_scope("tenant_id", models=["Order"])
    )

    assert len(problems) == 1
    assert "Order" in problems[0]


def test_writable_field_that_is_denied_is_a_configuration_error():
    problems = problems_of(
        PolicyBuilder()
        .register_models([Customer])
        .deny_fields("phone")
        .enable_writes(
            models=["Customer"],
            writable_fields={"Customer": ["phone", "password_hash", "preferred_name"]},
        )
    )

    assert len(problems) == 2
    assert any("shop.Customer.phone" in p and "denied" in p for p in problems)
    assert any("shop.Customer.password_hash" in p and "denied" in p for p in problems)


def test_writable_primary_key_is_a_configuration_error():
    problems = problems_of(
        PolicyBuilder()
        .register_models([Order])
        .enable_writes(models=["Order"], writable_fields={"Order": ["id", "status"]})
    )

    assert len(problems) == 1
    assert "shop.Order.id" in problems[0]
    assert "primary key" in problems[0]


def test_writable_tenant_field_is_a_configuration_error():
    problems = problems_of(
        PolicyBuilder()
        .register_models([Order])
        .tenant_scope("tenant_id")
        .enable_writes(models=["Order"], writable_fields={"Order": ["tenant_id", "status"]})
    )

    assert len(problems) == 1
    assert "shop.Order.tenant_id" in problems[0]
    assert "tenant" in problems[0]


def test_writable_fields_open_the_models_they_name_to_writes():
    policy = (
        PolicyBuilder()
        .register_models([Customer, Order])
        .enable_writes(writable_fields={"Customer": ["preferred_name"], "Order": ["status"]})
        .build()
    )

    assert policy.for_model(Customer).writes.writable_fields == {"preferred_name"}
    assert policy.for_model(Order).writes.writable_fields == {"status"}
    assert policy.for_model(Order).writes.write_class == "reason"


def test_writable_fields_for_an_unregistered_model_is_a_configuration_error():
    problems = problems_of(
        PolicyBuilder()
        .register_models([Customer])
        .enable_writes(writable_fields={"Customer": ["preferred_name"], "Order": ["status"]})
    )

    assert len(problems) == 1
    assert "'Order'" in problems[0]
    assert "register_models" in problems[0]


@pytest.mark.parametrize("tool", ["db.query", "db.get", "db.drop", "update", ""])
def test_require_approval_on_a_tool_that_is_not_a_write_is_a_configuration_error(tool):
    problems = problems_of(
        PolicyBuilder().register_models([Order]).require_approval(tool=tool, model="Order")
    )

    assert len(problems) == 1
    assert repr(tool) in problems[0]


@pytest.mark.parametrize("when", ["call.affected_rows > 50", 50, True])
def test_require_approval_with_a_non_callable_when_is_refused_where_it_is_written(when):
    with pytest.raises(ValueError, match="when must be a callable"):
        PolicyBuilder().register_models([Order]).require_approval(tool="db.update", when=when)


def test_configuration_error_lists_every_problem_at_once():
    builder = (
        PolicyBuilder()
        .register_models([Customer, Order, Group, "shop.Invoice"])
        .mask_fields(["customer.nickname"])
        .tenant_scope("tenant_id")
        .soft_delete("Order", "archived_at")
        .enable_writes(
            models=["Customer"],
            writable_fields={"Customer": ["password_hash", "id", "tenant_id"], "Order": ["status"]},
            require_reason=True,
        )
        .enable_writes(models=["Customer"], require_reason=False)
        .require_approval(tool="db.query", model="Order")
    )

    with pytest.raises(PolicyConfigurationError) as excinfo:
        builder.build()

    problems = excinfo.value.problems
    expected = [
        "shop.Invoice",  # unknown model
        "'nickname'",  # unknown masked field
        "auth.Group",  # tenant-scoped without the field
        "'archived_at'",  # unknown soft-delete field
        "shop.Customer.password_hash",  # writable but denied
        "shop.Customer.id",  # writable primary key
        "shop.Customer.tenant_id",  # writable tenant field
        "require_reason of shop.Customer is set to both",  # two enable_writes disagree
        "'db.query'",  # not a write tool
    ]
    for needle in expected:
        assert sum(needle in p for p in problems) >= 1, (needle, problems)
    assert len(problems) == len(expected)
    for problem in problems:
        assert problem in str(excinfo.value)


# --- ambiguous model names ------------------------------------------------------------


def test_no_installed_model_names_are_ambiguous_so_names_resolve_uniquely():
    # The sandbox has no two installed models with one class name (simple_history's models
    # are Historical*), so ambiguity is shown on resolve_model below.
    from django.apps import apps

    names = [m._meta.model_name for m in apps.get_models()]
    assert len(names) == len(set(names))


@isolate_apps("sandbox_project.shop")
def test_resolve_model_refuses_an_ambiguous_class_name_and_accepts_the_label():
    def make(app_label):
        meta = type("Meta", (), {"app_label": app_label})
        return type("Invoice", (models.Model,), {"__module__": __name__, "Meta": meta})

    billing, crm = make("billing"), make("crm")

    with pytest.raises(ModelNameError) as excinfo:
        resolve_model("invoice", [billing, crm])

    assert excinfo.value.ambiguous
    assert "billing.Invoice" in str(excinfo.value)
    assert "crm.Invoice" in str(excinfo.value)
    assert resolve_model("crm.Invoice", [billing, crm]) is crm
    assert resolve_model("BILLING.invoice", [billing, crm]) is billing
    assert resolve_model(crm, [billing, crm]) is crm
    assert resolve_model("Invoice", [crm]) is crm


def test_resolve_model_refuses_unknown_names_without_calling_them_ambiguous():
    with pytest.raises(ModelNameError) as excinfo:
        resolve_model("Invoice", [Customer, Order])

    assert not excinfo.value.ambiguous
    with pytest.raises(ModelNameError):
        resolve_model(Note, [Customer, Order])
    with pytest.raises(ModelNameError):
        resolve_model("", [Customer])


def test_the_soft_delete_field_is_never_writable():
    # Otherwise db.update could delete rows past db.delete's approval rules.
    problems = problems_of(
        PolicyBuilder()
        .register_models([Note])
        .enable_writes(models=["Note"], writable_fields={"Note": ["body", "deleted_at"]})
    )

    assert problems == [
        "shop.Note.deleted_at is the soft-delete field; it can't be writable "
        "(deleting goes through db.delete and its approval rules)"
    ]


def test_a_built_policy_is_hashable_and_equal_policies_hash_alike():
    builder = PolicyBuilder().register_models(SHOP).mask_fields(["customer.email"])
    first, second = builder.build(), builder.build()

    assert hash(first) == hash(second)
    assert len({first, second}) == 1
