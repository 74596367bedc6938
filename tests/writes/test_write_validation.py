"""Values a write sets are validated before any row changes: field cleaning for every write,
full_clean() for creates and single-row updates, the policy's validators, foreign keys
that must point at a visible row. A failure is VALIDATION_FAILED with error.fields and
leaves no row, no history row and no audited change behind."""

import json

import pytest
from django.core.exceptions import ValidationError

from ormai_django import DEFAULT_PROD, PolicyBuilder, ToolContext, agent_model
from sandbox_project.shop.models import Customer, Note, Order, Subscription
from tests.factories import CustomerFactory, NoteFactory, OrderFactory, SubscriptionFactory
from tests.support import call_tool, database_state, event_of

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-validation")
REASON = "The customer asked for it."


def validation_policy(*validators):
    """Most plain fields writable, no approval rules; ``validators`` on Note."""
    builder = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models([Customer, Subscription, Order, Note])
        .tenant_scope("tenant_id")
        .enable_writes(
            models=[Customer, Subscription, Order, Note],
            writable_fields={
                "Customer": ["name", "preferred_name", "preferred_language", "is_vip"],
                "Subscription": ["plan", "seats", "monthly_price", "renews_on"],
                "Order": ["status", "total_cents"],
                "Note": ["customer", "body"],
            },
        )
    )
    if validators:
        builder.validate("Note", *validators)
    return builder.build()


def assert_validation_failed(result, before, fields):
    """VALIDATION_FAILED naming exactly ``fields`` ({name: message fragment}); nothing written."""
    assert result["outcome"] == "error", result
    error = result["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert set(error["fields"]) == set(fields), error
    for name, fragment in fields.items():
        messages = error["fields"][name]
        assert isinstance(messages, list)
        assert all(isinstance(m, str) for m in messages)
        assert any(fragment in m for m in messages), (name, messages)
    assert database_state() == before
    event = event_of(result)
    assert event.outcome == "error"
    assert event.error_code == "VALIDATION_FAILED"
    assert event.changes is None
    assert event.affected_rows is None


def write_arguments(tool, model, row, data):
    """The same ``data`` written by create, by update of ``row``, or by update with a where."""
    if tool == "create":
        return "db.create", {"model": model, "data": data, "reason": REASON}
    if tool == "update-id":
        return "db.update", {"model": model, "id": row.id, "data": data, "reason": REASON}
    return "db.update", {
        "model": model,
        "where": {"id__in": [row.id]},
        "data": data,
        "reason": REASON,
    }


# --- field-level cleaning, for every write ------------------------------------------------


BAD_VALUES = [
    pytest.param(
        "Customer",
        {"preferred_language": "xx"},
        {"preferred_language": "not a valid choice"},
        id="bad-choice",
    ),
    pytest.param(
        "Customer",
        {"preferred_name": "x" * 81},
        {"preferred_name": "at most 80 characters"},
        id="too-long",
    ),
    pytest.param("Customer", {"name": ""}, {"name": "cannot be blank"}, id="blank"),
    pytest.param(
        "Customer", {"preferred_name": None}, {"preferred_name": "cannot be null"}, id="null"
    ),
    pytest.param("Customer", {"is_vip": "maybe"}, {"is_vip": "True or False"}, id="not-a-boolean"),
    pytest.param("Customer", {"is_vip": None}, {"is_vip": "True or False"}, id="null-boolean"),
    pytest.param(
        "Customer",
        {"preferred_name": {"first": "Al"}},
        {"preferred_name": "single value"},
        id="object-for-a-string",
    ),
    pytest.param("Subscription", {"seats": "many"}, {"seats": "not an integer"}, id="not-an-int"),
    pytest.param("Subscription", {"seats": 1.5}, {"seats": "integer"}, id="fraction-for-an-int"),
    pytest.param(
        "Subscription", {"seats": -1}, {"seats": "greater than or equal to 0"}, id="negative"
    ),
    pytest.param(
        "Subscription", {"monthly_price": "abc"}, {"monthly_price": "decimal"}, id="not-a-decimal"
    ),
    pytest.param(
        "Subscription",
        {"monthly_price": "123456789.00"},
        {"monthly_price": "no more than 10 digits"},
        id="too-many-digits",
    ),
    pytest.param(
        "Subscription", {"renews_on": "soon"}, {"renews_on": "YYYY-MM-DD"}, id="not-a-date"
    ),
    pytest.param(
        "Subscription", {"renews_on": 20300101}, {"renews_on": "ISO 8601"}, id="int-for-a-date"
    ),
    pytest.param("Subscription", {"plan": "gold"}, {"plan": "not a valid choice"}, id="bad-plan"),
    pytest.param("Note", {"customer": "abc"}, {"customer": "not an integer"}, id="bad-foreign-key"),
    pytest.param("Note", {"body": ""}, {"body": "cannot be blank"}, id="blank-text"),
    pytest.param(
        "Customer",
        {"preferred_language": "xx", "preferred_name": "x" * 81, "name": ""},
        {"preferred_language": "valid choice", "preferred_name": "at most 80", "name": "blank"},
        id="every-bad-field-at-once",
    ),
]


@pytest.mark.parametrize(("model", "data", "fields"), BAD_VALUES)
@pytest.mark.parametrize("tool", ["create", "update-id", "update-where"])
def test_a_bad_value_is_validation_failed_with_its_field_and_nothing_is_written(
    tool, model, data, fields
):
    customer = CustomerFactory()
    row = {
        "Customer": customer,
        "Subscription": SubscriptionFactory(customer=customer),
        "Note": NoteFactory(customer=customer),
    }[model]
    name, arguments = write_arguments(tool, model, row, data)
    before = database_state()

    result = call_tool(name, AGENT, validation_policy(), **arguments)

    assert_validation_failed(result, before, fields)


def test_a_valid_value_of_every_kind_is_written():
    subscription = SubscriptionFactory(seats=1, plan="basic")

    result = call_tool(
        "db.update",
        AGENT,
        validation_policy(),
        model="Subscription",
        id=subscription.id,
        data={"seats": "3", "plan": "pro", "monthly_price": 12.5, "renews_on": "2030-01-02"},
        reason=REASON,
    )

    assert result["outcome"] == "ok", result
    subscription.refresh_from_db()
    assert subscription.seats == 3
    assert subscription.plan == "pro"
    assert str(subscription.monthly_price) == "12.50"
    assert subscription.renews_on.isoformat() == "2030-01-02"


# --- full_clean(): creates and single-row updates -----------------------------------------


def test_a_create_missing_a_required_field_fails_full_clean():
    before = database_state()

    result = call_tool(
        "db.create", AGENT, validation_policy(), model="Note", data={"body": "hello"}, reason=REASON
    )

    assert_validation_failed(result, before, {"customer": "cannot be null"})


def test_a_create_missing_required_fields_reports_each_visible_one():
    before = database_state()

    result = call_tool(
        "db.create",
        AGENT,
        validation_policy(),
        model="Customer",
        data={"preferred_name": "Al"},
        reason=REASON,
    )

    assert result["outcome"] == "error", result
    assert result["error"]["code"] == "VALIDATION_FAILED"
    assert result["error"]["fields"]["name"] == ["This field cannot be blank."]
    assert result["error"]["fields"]["email"] == ["This field cannot be blank."]
    assert database_state() == before


def test_a_create_refused_by_full_clean_never_names_a_denied_field():
    # password_hash is denied by DEFAULT_PROD's globs: agents must not learn it exists.
    result = call_tool(
        "db.create",
        AGENT,
        validation_policy(),
        model="Customer",
        data={"preferred_name": "Al"},
        reason=REASON,
    )

    assert result["error"]["code"] == "VALIDATION_FAILED"
    assert "password_hash" not in result["error"]["fields"]
    assert "password_hash" not in json.dumps(result)


def refuse_bosses(customer):
    if customer.preferred_name == "Boss":
        raise ValidationError({"preferred_name": "Only staff may be called Boss."})


def refuse_everything(customer):
    raise ValidationError("This customer is locked for an audit.")


def test_a_single_row_update_runs_the_models_clean(monkeypatch):
    monkeypatch.setattr(Customer, "clean", refuse_bosses)
    customer = CustomerFactory(preferred_name="Al")
    before = database_state()

    result = call_tool(
        "db.update",
        AGENT,
        validation_policy(),
        model="Customer",
        id=customer.id,
        data={"preferred_name": "Boss"},
        reason=REASON,
    )

    assert_validation_failed(result, before, {"preferred_name": "Only staff may be called Boss."})


def test_an_update_refused_on_a_denied_field_never_names_it(monkeypatch):
    def guard_secret(customer):
        raise ValidationError({"password_hash": "Rotate the secret first."})

    monkeypatch.setattr(Customer, "clean", guard_secret)
    customer = CustomerFactory(preferred_name="Al")

    result = call_tool(
        "db.update",
        AGENT,
        validation_policy(),
        model="Customer",
        id=customer.id,
        data={"preferred_name": "Bo"},
        reason=REASON,
    )

    assert result["error"]["code"] == "VALIDATION_FAILED"
    assert list(result["error"]["fields"]) == ["__all__"]
    assert "password_hash" not in json.dumps(result)
    assert "Rotate the secret" not in json.dumps(result)


def test_a_models_clean_sees_the_row_as_it_would_be_after_the_update(monkeypatch):
    seen = []

    def record(customer):
        seen.append((customer.pk, customer.name, customer.preferred_name, customer.tenant_id))

    monkeypatch.setattr(Customer, "clean", record)
    customer = CustomerFactory(name="Ann Example", preferred_name="Al")

    result = call_tool(
        "db.update",
        AGENT,
        validation_policy(),
        model="Customer",
        id=customer.id,
        data={"preferred_name": "Annie"},
        reason=REASON,
    )

    assert result["outcome"] == "ok", result
    assert seen == [(customer.id, "Ann Example", "Annie", 7)]


def test_a_models_clean_error_without_a_field_is_reported_under_all(monkeypatch):
    monkeypatch.setattr(Customer, "clean", refuse_everything)
    customer = CustomerFactory()
    before = database_state()

    result = call_tool(
        "db.update",
        AGENT,
        validation_policy(),
        model="Customer",
        id=customer.id,
        data={"preferred_name": "Al"},
        reason=REASON,
    )

    assert_validation_failed(result, before, {"__all__": "locked for an audit"})


def test_a_create_runs_the_models_clean(monkeypatch):
    monkeypatch.setattr(Note, "clean", lambda note: refuse_everything(note))
    customer = CustomerFactory()
    before = database_state()

    result = call_tool(
        "db.create",
        AGENT,
        validation_policy(),
        model="Note",
        data={"customer": customer.id, "body": "hello"},
        reason=REASON,
    )

    assert_validation_failed(result, before, {"__all__": "locked for an audit"})


# --- policy validators --------------------------------------------------------------------


def no_shouting(check):
    if check.data.get("body", "").isupper():
        raise ValidationError({"body": "Notes are written without shouting."})


def frozen(check):
    raise ValidationError("Notes are frozen while the account is reviewed.")


def note_calls(customer, notes):
    return {
        "create": (
            "db.create",
            {"model": "Note", "data": {"customer": customer.id, "body": "HEY"}},
        ),
        "update-id": ("db.update", {"model": "Note", "id": notes[0].id, "data": {"body": "HEY"}}),
        "update-where": (
            "db.update",
            {"model": "Note", "where": {"customer": customer.id}, "data": {"body": "HEY"}},
        ),
    }


@pytest.mark.parametrize("tool", ["create", "update-id", "update-where"])
def test_a_policy_validator_refusal_is_validation_failed(tool):
    customer = CustomerFactory()
    notes = NoteFactory.create_batch(2, customer=customer, body="calm")
    name, arguments = note_calls(customer, notes)[tool]
    before = database_state()

    result = call_tool(name, AGENT, validation_policy(no_shouting), **arguments, reason=REASON)

    assert_validation_failed(result, before, {"body": "without shouting"})


@pytest.mark.parametrize("tool", ["db.delete-id", "db.delete-where"])
def test_a_policy_validator_also_guards_deletes(tool):
    customer = CustomerFactory()
    notes = NoteFactory.create_batch(2, customer=customer)
    arguments = (
        {"id": notes[0].id} if tool == "db.delete-id" else {"where": {"customer": customer.id}}
    )
    before = database_state()

    result = call_tool(
        "db.delete", AGENT, validation_policy(frozen), model="Note", reason=REASON, **arguments
    )

    assert_validation_failed(result, before, {"__all__": "frozen while the account is reviewed"})


def test_a_policy_validator_that_passes_lets_the_write_run():
    customer = CustomerFactory()
    note = NoteFactory(customer=customer, body="calm")

    result = call_tool(
        "db.update",
        AGENT,
        validation_policy(no_shouting),
        model="Note",
        id=note.id,
        data={"body": "still calm"},
        reason=REASON,
    )

    assert result["outcome"] == "ok", result
    note.refresh_from_db()
    assert note.body == "still calm"


def recording_validator():
    checks = []
    return checks, checks.append


def test_a_validator_gets_the_row_as_it_would_be_for_a_create():
    checks, pks_when_checked = [], []

    def record(check):
        checks.append(check)
        pks_when_checked.append(check.instance.pk)

    customer = CustomerFactory()

    result = call_tool(
        "db.create",
        AGENT,
        validation_policy(record),
        model="Note",
        data={"customer": customer.id, "body": "hello"},
        reason=REASON,
    )

    assert result["outcome"] == "ok", result
    (check,) = checks
    assert check.tool == "db.create"
    assert check.model == "Note"
    assert check.data == {"customer": customer.id, "body": "hello"}
    assert check.context == AGENT
    assert isinstance(check.instance, Note)
    assert pks_when_checked == [None]  # checked before it is saved
    assert check.instance.pk == result["ids"][0]
    assert check.instance.tenant_id == 7
    assert check.instance.customer_id == customer.id
    assert check.instance.body == "hello"


def test_a_validator_gets_the_row_as_it_would_be_for_a_single_row_update():
    checks, record = recording_validator()
    customer = CustomerFactory()
    note = NoteFactory(customer=customer, body="before", author_email="lee@example.com")

    result = call_tool(
        "db.update",
        AGENT,
        validation_policy(record),
        model="Note",
        id=note.id,
        data={"body": "after"},
        reason=REASON,
    )

    assert result["outcome"] == "ok", result
    (check,) = checks
    assert check.tool == "db.update"
    assert check.data == {"body": "after"}
    assert isinstance(check.instance, Note)
    assert check.instance.pk == note.id
    assert check.instance.body == "after"
    assert check.instance.author_email == "lee@example.com"
    assert check.instance.customer_id == customer.id


def test_a_validator_gets_no_instance_for_a_multi_row_update():
    checks, record = recording_validator()
    customer = CustomerFactory()
    NoteFactory.create_batch(3, customer=customer)

    result = call_tool(
        "db.update",
        AGENT,
        validation_policy(record),
        model="Note",
        where={"customer": customer.id},
        data={"body": "after"},
        reason=REASON,
    )

    assert result["outcome"] == "ok", result
    assert result["affected_rows"] == 3
    (check,) = checks
    assert check.tool == "db.update"
    assert check.data == {"body": "after"}
    assert check.instance is None


def test_a_validator_is_not_run_for_a_call_refused_before_validation():
    checks, record = recording_validator()
    note = NoteFactory()

    result = call_tool(
        "db.update",
        AGENT,
        validation_policy(record),
        model="Note",
        id=note.id,
        data={"body": "after", "author_email": "x@example.com"},
        reason=REASON,
    )

    assert result["error"]["code"] == "FIELD_NOT_WRITABLE"
    assert checks == []


def decorated_note_policy(monkeypatch, *validators):
    """Note decorated with ``validators`` as a project's models.py would do it."""
    monkeypatch.setattr(Note, "_ormai_rules", Note._ormai_rules)
    agent_model(
        writes="reason",
        writable_fields=["customer", "body"],
        soft_delete_field="deleted_at",
        mask_fields=["author_email"],
        validators=validators,
    )(Note)
    return PolicyBuilder(DEFAULT_PROD).register_models([Customer, Note]).tenant_scope("tenant_id")


@pytest.mark.parametrize("tool", ["create", "update-id", "update-where"])
def test_a_validator_declared_with_agent_model_refuses_bad_writes(tool, monkeypatch):
    policy = decorated_note_policy(monkeypatch, no_shouting).build()
    customer = CustomerFactory()
    notes = NoteFactory.create_batch(2, customer=customer, body="calm")
    name, arguments = note_calls(customer, notes)[tool]
    before = database_state()

    result = call_tool(name, AGENT, policy, **arguments, reason=REASON)

    assert_validation_failed(result, before, {"body": "without shouting"})


def test_decorator_and_builder_validators_both_run(monkeypatch):
    from_decorator, record_decorator = recording_validator()
    from_builder, record_builder = recording_validator()
    policy = decorated_note_policy(monkeypatch, record_decorator)
    policy = policy.validate("Note", record_builder).build()
    note = NoteFactory(body="before")

    result = call_tool(
        "db.update", AGENT, policy, model="Note", id=note.id, data={"body": "after"}, reason=REASON
    )

    assert result["outcome"] == "ok", result
    assert [c.instance.body for c in from_decorator] == ["after"]
    assert [c.instance.body for c in from_builder] == ["after"]


# --- foreign keys point at visible rows; creates are stamped with the tenant ---------------


@pytest.mark.parametrize("key", ["customer", "customer_id"])
def test_a_create_pointing_at_another_tenants_row_is_validation_failed(key):
    theirs = CustomerFactory(tenant_id=8)
    before = database_state()

    result = call_tool(
        "db.create",
        AGENT,
        validation_policy(),
        model="Note",
        data={key: theirs.id, "body": "hello"},
        reason=REASON,
    )

    assert_validation_failed(result, before, {"customer": "visible"})


@pytest.mark.parametrize("tool", ["update-id", "update-where"])
def test_an_update_pointing_at_another_tenants_row_is_validation_failed(tool):
    mine = CustomerFactory()
    theirs = CustomerFactory(tenant_id=8)
    note = NoteFactory(customer=mine)
    name, arguments = write_arguments(tool, "Note", note, {"customer": theirs.id})
    before = database_state()

    result = call_tool(name, AGENT, validation_policy(), **arguments)

    assert_validation_failed(result, before, {"customer": "visible"})
    note.refresh_from_db()
    assert note.customer_id == mine.id


def test_another_tenants_row_and_a_missing_row_are_refused_alike():
    theirs = CustomerFactory(tenant_id=8)
    missing = theirs.id + 1000
    messages = {}
    for pk in (theirs.id, missing):
        result = call_tool(
            "db.create",
            AGENT,
            validation_policy(),
            model="Note",
            data={"customer": pk, "body": "hello"},
            reason=REASON,
        )
        assert result["error"]["code"] == "VALIDATION_FAILED"
        messages[pk] = [m.replace(repr(pk), "<id>") for m in result["error"]["fields"]["customer"]]

    assert messages[theirs.id] == messages[missing]


def test_a_foreign_key_into_a_soft_deleted_row_is_validation_failed():
    # Orders point at customers; here customers are soft-deletable by is_vip for the test.
    policy = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models([Customer, Order])
        .tenant_scope("tenant_id")
        .soft_delete(Customer, "is_vip")
        .enable_writes(models=[Order], writable_fields={"Order": ["customer"]})
        .build()
    )
    live = CustomerFactory()
    deleted = CustomerFactory(is_vip=True)
    order = OrderFactory(customer=live)
    before = database_state()

    result = call_tool(
        "db.update",
        AGENT,
        policy,
        model="Order",
        id=order.id,
        data={"customer": deleted.id},
        reason=REASON,
    )

    assert_validation_failed(result, before, {"customer": "visible"})


def test_a_create_pointing_at_a_visible_row_is_stamped_with_the_context_tenant():
    customer = CustomerFactory(tenant_id=8)
    ctx = ToolContext(principal="agent:support-bot", tenant_id="8")

    result = call_tool(
        "db.create",
        ctx,
        validation_policy(),
        model="Note",
        data={"customer": customer.id, "body": "hello"},
        reason=REASON,
    )

    assert result["outcome"] == "ok", result
    (note_id,) = result["ids"]
    note = Note.objects.get(pk=note_id)
    assert note.tenant_id == 8
    assert note.customer_id == customer.id
    assert note.body == "hello"
