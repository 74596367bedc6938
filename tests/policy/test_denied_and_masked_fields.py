"""Denied fields are absent everywhere; masked fields are shown masked and can't be used
to filter, order, aggregate or group (so no value leaks through a yes/no answer)."""

import json

import pytest
from django.apps import apps
from django.db import models
from django.test import override_settings

from ormai_django import DEFAULT_DEV, DEFAULT_PROD, PolicyBuilder, tool_definitions
from ormai_django.policy.masking import DefaultMasker
from tests.factories import CustomerFactory, NoteFactory, OrderFactory
from tests.support import call_tool, without_audit_id

pytestmark = pytest.mark.django_db

DENIED = ("password_hash", "api_token")
SANDBOX_POLICY = "sandbox_project.shop.policy.build_policy"


def assert_field_denied(result):
    assert result["outcome"] == "denied", result
    assert result["error"]["code"] == "FIELD_DENIED"
    assert not {"rows", "row", "result", "groups"} & set(result)


class UpperMasker:
    """A project's own masker: shows the kind and the value upper-cased."""

    def mask(self, value, kind, field):
        return f"{kind}:{str(value).upper()}"


class DomainOnlyMasker(DefaultMasker):
    """A DefaultMasker subclass that overrides mask() alone."""

    def mask(self, value, kind, field):
        if kind == "email" and value:
            return "***@" + value.rpartition("@")[2]
        return super().mask(value, kind, field)


# --- denied fields are absent ------------------------------------------------------------


def test_denied_fields_are_absent_from_query_and_get_rows(ctx):
    customer = CustomerFactory(password_hash="pbkdf2$known", api_token="tok_known")

    rows = call_tool("db.query", ctx, model="Customer")["rows"]
    row = call_tool("db.get", ctx, model="Customer", id=customer.id)["row"]

    for shown in (rows[0], row):
        assert set(DENIED).isdisjoint(shown)
        assert "name" in shown
    text = json.dumps([rows, row])
    assert "pbkdf2$known" not in text
    assert "tok_known" not in text


def test_denied_fields_are_absent_from_describe(ctx):
    for arguments in ({}, {"model": "Customer"}):
        result = call_tool("db.describe", ctx, **arguments)

        assert result["outcome"] == "ok"
        customer = next(m for m in result["models"] if m["name"] == "Customer")
        names = {f["name"] for f in customer["fields"]}
        assert {"name", "email", "phone"} <= names
        assert set(DENIED).isdisjoint(names)
        text = json.dumps(result)
        assert "password_hash" not in text
        assert "api_token" not in text


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "json_schema"])
def test_denied_fields_are_absent_from_tool_definitions(policy, fmt):
    text = json.dumps(tool_definitions(policy, format=fmt))

    assert "preferred_language" in text  # the fields are spelled out ...
    assert "password_hash" not in text  # ... but not the denied ones
    assert "api_token" not in text


@pytest.mark.parametrize(
    ("tool", "fields"),
    [
        ("db.query", ["password_hash"]),
        ("db.query", ["name", "api_token"]),
        ("db.get", ["password_hash"]),
        ("db.get", ["api_token", "email"]),
    ],
)
def test_selecting_a_denied_field_is_field_denied(ctx, tool, fields):
    customer = CustomerFactory()
    arguments = {"model": "Customer", "fields": fields}
    if tool == "db.get":
        arguments["id"] = customer.id

    result = call_tool(tool, ctx, **arguments)

    assert_field_denied(result)


# --- denied and masked fields can't be used as an oracle -----------------------------------


@pytest.mark.parametrize(
    ("key", "matching", "not_matching"),
    [
        ("password_hash", "pbkdf2$known", "pbkdf2$other"),
        ("password_hash__startswith", "pbkdf2", "argon2"),
        ("api_token__in", ["tok_known"], ["tok_other"]),
        ("api_token__isnull", False, True),
        ("email", "ann@example.com", "bob@example.com"),
        ("email__iexact", "ANN@example.com", "BOB@example.com"),
        ("email__icontains", "ann", "zzz"),
        ("email__endswith", "example.com", "example.org"),
        ("email__isnull", False, True),
        ("phone__endswith", "0001", "9999"),
        ("phone__gt", "+0", "+9"),
    ],
)
def test_filtering_on_a_denied_or_masked_field_answers_the_same_for_any_value(
    ctx, key, matching, not_matching
):
    CustomerFactory(
        email="ann@example.com",
        phone="+1 415 555 0001",
        password_hash="pbkdf2$known",
        api_token="tok_known",
    )

    yes = call_tool("db.query", ctx, model="Customer", where={key: matching})
    no = call_tool("db.query", ctx, model="Customer", where={key: not_matching})

    assert_field_denied(yes)
    assert without_audit_id(yes) == without_audit_id(no)


@pytest.mark.parametrize(
    "where",
    [
        {"or": [{"name": "nobody"}, {"email__icontains": "ann"}]},
        {"not": {"password_hash": "pbkdf2$known"}},
        {"and": [{"is_vip": False}, {"not": {"phone__isnull": True}}]},
    ],
)
def test_a_denied_or_masked_field_nested_in_or_and_not_is_field_denied(ctx, where):
    CustomerFactory(email="ann@example.com", password_hash="pbkdf2$known")

    assert_field_denied(call_tool("db.query", ctx, model="Customer", where=where))


@pytest.mark.parametrize("field", ["email__isnull", "phone__isnull", "api_token__isnull"])
def test_isnull_on_a_masked_or_denied_field_is_field_denied(ctx, field):
    CustomerFactory(phone="")

    for value in (True, False):
        assert_field_denied(call_tool("db.query", ctx, model="Customer", where={field: value}))
        assert_field_denied(
            call_tool(
                "db.aggregate",
                ctx,
                model="Customer",
                where={field: value},
                aggregations={"n": {"count": "id"}},
            )
        )


def test_a_masked_field_declared_with_the_decorator_cannot_be_filtered(ctx):
    NoteFactory(author_email="lee@support.example.com")

    for value in ("lee@support.example.com", "nobody@example.com"):
        assert_field_denied(call_tool("db.query", ctx, model="Note", where={"author_email": value}))


@pytest.mark.parametrize(
    "order_by",
    ["password_hash", "-api_token", "email", "-phone", ["name", "-email"]],
)
def test_ordering_by_a_denied_or_masked_field_is_field_denied(ctx, order_by):
    CustomerFactory()
    CustomerFactory()

    assert_field_denied(call_tool("db.query", ctx, model="Customer", order_by=order_by))


@pytest.mark.parametrize(
    "aggregations",
    [
        {"n": {"count": "password_hash"}},
        {"n": {"count_distinct": "api_token"}},
        {"first": {"min": "email"}},
        {"last": {"max": "phone"}},
        {"ok": {"count": "id"}, "leak": {"max": "email"}},
    ],
)
def test_aggregating_a_denied_or_masked_field_is_field_denied(ctx, aggregations):
    CustomerFactory()

    result = call_tool("db.aggregate", ctx, model="Customer", aggregations=aggregations)

    assert_field_denied(result)


@pytest.mark.parametrize("group_by", ["email", ["is_vip", "phone"], "password_hash", "api_token"])
def test_grouping_by_a_denied_or_masked_field_is_field_denied(ctx, group_by):
    CustomerFactory()

    result = call_tool(
        "db.aggregate",
        ctx,
        model="Customer",
        aggregations={"n": {"count": "id"}},
        group_by=group_by,
    )

    assert_field_denied(result)


@pytest.mark.parametrize(
    ("model", "key", "matching", "not_matching"),
    [
        ("Order", "customer__email__icontains", "ann", "zzz"),
        ("Order", "customer__email", "ann@example.com", "bob@example.com"),
        ("Order", "customer__email__isnull", False, True),
        ("Order", "customer__phone__endswith", "0001", "9999"),
        ("Order", "customer__password_hash", "pbkdf2$known", "x"),
        ("Order", "customer__password_hash__startswith", "pbkdf2", "argon2"),
        ("Order", "customer__api_token__isnull", False, True),
        ("Subscription", "customer__email__iendswith", "EXAMPLE.COM", "EXAMPLE.ORG"),
        ("Note", "customer__api_token", "tok_known", "tok_other"),
    ],
)
def test_a_denied_or_masked_field_reached_through_a_relation_is_field_denied(
    ctx, model, key, matching, not_matching
):
    customer = CustomerFactory(
        email="ann@example.com",
        phone="+1 415 555 0001",
        password_hash="pbkdf2$known",
        api_token="tok_known",
    )
    OrderFactory(customer=customer)
    NoteFactory(customer=customer)

    yes = call_tool("db.query", ctx, model=model, where={key: matching})
    no = call_tool("db.query", ctx, model=model, where={key: not_matching})
    negated = call_tool("db.query", ctx, model=model, where={"not": {key: matching}})

    assert_field_denied(yes)
    assert without_audit_id(yes) == without_audit_id(no)
    assert_field_denied(negated)


# --- masked values -----------------------------------------------------------------------


def test_a_masked_email_keeps_its_shape(ctx):
    customer = CustomerFactory(email="alice@example.com")

    row = call_tool("db.get", ctx, model="Customer", id=customer.id)["row"]

    assert row["email"] == "a***@e***.com"


def test_a_masked_phone_keeps_only_its_last_digits(ctx):
    customer = CustomerFactory(phone="+1 415 555 0187")

    row = call_tool("db.get", ctx, model="Customer", id=customer.id)["row"]

    masked = row["phone"]
    assert masked.endswith("0187")
    assert [c for c in masked if c.isdigit()] == list("0187")
    assert len(masked) == len("+1 415 555 0187")


def test_a_masked_field_of_another_kind_is_redacted(ctx):
    policy = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Customer"])
        .mask_fields(["customer.name", "customer.created_at"])
        .tenant_scope("tenant_id")
        .build()
    )
    CustomerFactory(name="Ann Lee")

    row = call_tool("db.query", ctx, policy, model="Customer")["rows"][0]

    assert row["name"] == "[masked]"
    assert row["created_at"] == "[masked]"
    assert "Ann" not in json.dumps(row)


def test_masked_fields_can_be_selected_and_come_back_masked(ctx):
    customer = CustomerFactory(email="alice@example.com", phone="+1 415 555 0187")
    NoteFactory(customer=customer, author_email="lee@support.example.com")

    rows = call_tool("db.query", ctx, model="Customer", fields=["email", "phone"])["rows"]
    row = call_tool("db.get", ctx, model="Customer", id=customer.id, fields=["email"])["row"]
    note = call_tool("db.query", ctx, model="Note", fields=["author_email"])["rows"][0]

    assert [sorted(r) for r in rows] == [["email", "id", "phone"]]
    assert rows[0]["email"] == "a***@e***.com"
    assert rows[0]["phone"].endswith("0187") and "415" not in rows[0]["phone"]
    assert row == {"id": customer.id, "email": "a***@e***.com"}
    assert note["author_email"] == "l***@s***.com"
    assert "alice" not in json.dumps([rows, row]) and "lee@" not in json.dumps(note)


def test_describe_marks_masked_fields_as_not_filterable(ctx):
    result = call_tool("db.describe", ctx, model="Customer")

    fields = {f["name"]: f for f in result["models"][0]["fields"]}
    assert (fields["email"]["masked"], fields["email"]["filterable"]) == (True, False)
    assert (fields["phone"]["masked"], fields["phone"]["filterable"]) == (True, False)
    assert (fields["name"]["masked"], fields["name"]["filterable"]) == (False, True)


def test_a_custom_masker_named_in_settings_is_used(ctx):
    customer = CustomerFactory(email="alice@example.com", phone="+1 415 555 0187")
    masker = "tests.policy.test_denied_and_masked_fields.UpperMasker"

    with override_settings(ORMAI={"POLICY": SANDBOX_POLICY, "MASKER": masker}):
        row = call_tool("db.get", ctx, model="Customer", id=customer.id)["row"]
    after = call_tool("db.get", ctx, model="Customer", id=customer.id)["row"]

    assert row["email"] == "email:ALICE@EXAMPLE.COM"
    assert row["phone"] == "phone:+1 415 555 0187"
    assert row["name"] == customer.name  # unmasked fields don't go through the masker
    assert after["email"] == "a***@e***.com"  # leaving the override restores the default


def test_a_custom_masker_applies_to_an_explicit_policy(ctx, policy):
    note = NoteFactory(author_email="lee@support.example.com")
    masker = "tests.policy.test_denied_and_masked_fields.UpperMasker"

    with override_settings(ORMAI={"MASKER": masker}):
        row = call_tool("db.get", ctx, policy, model="Note", id=note.id)["row"]

    assert row["author_email"] == "email:LEE@SUPPORT.EXAMPLE.COM"


def test_a_default_masker_subclass_overriding_only_mask_is_obeyed(ctx):
    customer = CustomerFactory(email="alice@example.com", phone="+1 415 555 0187")
    masker = "tests.policy.test_denied_and_masked_fields.DomainOnlyMasker"

    with override_settings(ORMAI={"POLICY": SANDBOX_POLICY, "MASKER": masker}):
        row = call_tool("db.get", ctx, model="Customer", id=customer.id)["row"]

    assert row["email"] == "***@example.com"
    assert row["phone"] == "+* *** *** 0187"  # the inherited default for other kinds


# --- profile deny globs ------------------------------------------------------------------


@pytest.mark.parametrize("profile", [DEFAULT_PROD, DEFAULT_DEV])
def test_profile_denies_secrets_even_when_the_builder_denies_nothing(ctx, profile):
    policy = (
        PolicyBuilder(profile).register_models(["shop.Customer"]).tenant_scope("tenant_id").build()
    )
    customer = CustomerFactory(password_hash="pbkdf2$known", api_token="tok_known")

    row = call_tool("db.get", ctx, policy, model="Customer", id=customer.id)["row"]
    described = call_tool("db.describe", ctx, policy, model="Customer")

    assert set(DENIED).isdisjoint(row)
    assert "password_hash" not in json.dumps(described)
    assert_field_denied(call_tool("db.query", ctx, policy, model="Customer", fields=["api_token"]))
    assert_field_denied(
        call_tool("db.query", ctx, policy, model="Customer", where={"password_hash": "x"})
    )


@pytest.fixture
def gadget_model():
    """A model with ``*_key`` and ``*secret*`` fields, registered for one test only.

    The sandbox's models have no such field. Unmanaged and never queried: what is tested
    here is refused before any SQL runs.
    """
    attrs = {
        "__module__": __name__,
        "Meta": type("Meta", (), {"app_label": "shop", "managed": False}),
        "label": models.CharField(max_length=20),
        "signing_key": models.CharField(max_length=20),
        "client_secret_hint": models.CharField(max_length=20),
    }
    model = type("KeyedGadget", (models.Model,), attrs)
    yield model
    del apps.all_models["shop"]["keyedgadget"]
    apps.clear_cache()


@pytest.mark.parametrize("profile", [DEFAULT_PROD, DEFAULT_DEV])
def test_profile_denies_key_and_secret_fields_by_default(ctx, gadget_model, profile):
    policy = PolicyBuilder(profile).register_models([gadget_model]).build()

    described = call_tool("db.describe", ctx, policy, model="KeyedGadget")
    definitions = json.dumps(tool_definitions(policy, format="json_schema"))

    assert [f["name"] for f in described["models"][0]["fields"]] == ["id", "label"]
    assert "signing_key" not in definitions and "client_secret_hint" not in definitions
    for name in ("signing_key", "client_secret_hint"):
        assert_field_denied(call_tool("db.query", ctx, policy, model="KeyedGadget", fields=[name]))
        assert_field_denied(
            call_tool("db.query", ctx, policy, model="KeyedGadget", where={name: "x"})
        )
        assert_field_denied(call_tool("db.query", ctx, policy, model="KeyedGadget", order_by=name))
