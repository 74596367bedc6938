"""dry_run: the preview of a write, computed and never executed. Exact affected_rows, each
row's before and after (masked values masked), capped at max_preview_rows, whether it would
need approval, the cascade of a delete; no row, history, budget or signal is touched."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db.models import signals
from django.utils import timezone

from ormai_django import DEFAULT_PROD, PolicyBuilder, ToolContext
from ormai_django.models import BudgetWindow, IdempotencyRecord
from sandbox_project.shop.models import Customer, Note, Order, Subscription
from tests.factories import CustomerFactory, NoteFactory, OrderFactory, SubscriptionFactory
from tests.support import call_tool, event_of

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-dry")
REASON = "Checking what this would do before doing it."


def dry(tool, policy=None, **arguments):
    return call_tool(tool, AGENT, policy, **arguments, reason=REASON, dry_run=True)


def everything():
    """Every row the app and the sandbox keep, except the audit log."""
    state = {}
    for model in (Customer, Subscription, Order, Note):
        state[model._meta.label] = list(model._base_manager.order_by("pk").values())
        state[f"{model._meta.label} history"] = list(model.history.order_by("history_id").values())
    state["budgets"] = list(BudgetWindow.objects.values())
    state["idempotency"] = list(IdempotencyRecord.objects.values())
    return state


def preview_policy(profile=DEFAULT_PROD, approvals=(), rate_limit=None, **write_options):
    builder = (
        PolicyBuilder(profile)
        .register_models([Customer, Subscription, Order, Note])
        .mask_fields(["customer.email", "customer.phone"])
        .tenant_scope("tenant_id")
        .enable_writes(
            models=[Customer, Order, Note],
            writable_fields={
                "Customer": ["preferred_name", "preferred_language", "email"],
                "Order": ["status"],
                "Note": ["customer", "body"],
            },
            **write_options,
        )
    )
    for rule in approvals:
        builder.require_approval(**rule)
    if rate_limit:
        builder.max_writes_per_minute(rate_limit)
    return builder.build()


def shown_by_get(model, pk, field, policy):
    """The value an agent reads for ``field`` (masked if masked)."""
    result = call_tool("db.get", AGENT, policy, model=model, id=pk)
    assert result["outcome"] == "ok", result
    return result["row"][field]


# --- the preview of each tool -------------------------------------------------------------


def test_an_update_by_id_previews_the_rows_before_and_after():
    customer = CustomerFactory(preferred_name="Al", preferred_language="en")
    before = everything()

    result = dry(
        "db.update",
        preview_policy(),
        model="Customer",
        id=customer.id,
        data={"preferred_name": "Bo", "preferred_language": "fr"},
    )

    assert result["outcome"] == "dry_run", result
    assert result["affected_rows"] == 1
    assert result["would_change"] == [
        {
            "id": customer.id,
            "preferred_name_before": "Al",
            "preferred_name_after": "Bo",
            "preferred_language_before": "en",
            "preferred_language_after": "fr",
        }
    ]
    assert result["truncated"] is False
    assert result["would_require_approval"] is False
    assert "approvers_required" not in result
    assert everything() == before


def test_an_update_with_where_previews_exactly_the_rows_it_would_change():
    matching = [
        CustomerFactory(preferred_language="en", preferred_name=name) for name in ("A", "B", "C")
    ]
    CustomerFactory(preferred_language="fr")
    CustomerFactory(preferred_language="en", tenant_id=8)
    before = everything()

    result = dry(
        "db.update",
        preview_policy(),
        model="Customer",
        where={"preferred_language": "en"},
        data={"preferred_name": "Valued"},
    )

    assert result["outcome"] == "dry_run", result
    assert result["affected_rows"] == 3
    assert result["would_change"] == [
        {"id": c.id, "preferred_name_before": c.preferred_name, "preferred_name_after": "Valued"}
        for c in matching
    ]
    assert result["truncated"] is False
    assert everything() == before


def test_an_update_matching_no_row_previews_zero_rows():
    CustomerFactory(preferred_language="en")

    result = dry(
        "db.update",
        preview_policy(),
        model="Customer",
        where={"preferred_language": "de"},
        data={"preferred_name": "Valued"},
    )

    assert result["outcome"] == "dry_run", result
    assert result["affected_rows"] == 0
    assert result["would_change"] == []
    assert result["truncated"] is False


def test_a_create_previews_the_new_row_stamped_with_the_tenant():
    customer = CustomerFactory()
    before = everything()

    result = dry(
        "db.create",
        preview_policy(),
        model="Note",
        data={"customer": customer.id, "body": "Called about the invoice."},
    )

    assert result["outcome"] == "dry_run", result
    assert result["affected_rows"] == 1
    (row,) = result["would_change"]
    assert row["id"] is None
    assert row["tenant_id_after"] == 7
    assert row["customer_after"] == customer.id
    assert row["body_after"] == "Called about the invoice."
    assert row["deleted_at_after"] is None
    assert not any(key.endswith("_before") for key in row)
    assert result["truncated"] is False
    assert result["would_require_approval"] is False
    assert everything() == before


def test_a_soft_delete_previews_the_marker_it_would_set():
    note = NoteFactory()
    before = everything()
    started = timezone.now()

    result = dry("db.delete", preview_policy(), model="Note", id=note.id)

    assert result["outcome"] == "dry_run", result
    assert result["affected_rows"] == 1
    (row,) = result["would_change"]
    assert set(row) == {"id", "deleted_at_before", "deleted_at_after"}
    assert row["id"] == note.id
    assert row["deleted_at_before"] is None
    assert started <= dt.datetime.fromisoformat(row["deleted_at_after"]) <= timezone.now()
    assert everything() == before


def test_a_hard_delete_previews_the_rows_and_lists_the_cascade():
    customer = CustomerFactory(preferred_name="Al")
    orders = OrderFactory.create_batch(2, customer=customer)
    note = NoteFactory(customer=customer)
    CustomerFactory()  # not matched
    policy = preview_policy(allow_cascade_delete=True)
    before = everything()

    result = dry("db.delete", policy, model="Customer", id=customer.id)

    assert result["outcome"] == "dry_run", result
    assert result["affected_rows"] == 1
    (row,) = result["would_change"]
    assert row["id"] == customer.id
    assert row["preferred_name_before"] == "Al"
    assert row["name_before"] == customer.name
    assert not any(key.endswith("_after") for key in row)
    assert result["cascade"] == {
        "shop.Order": {"count": 2, "ids": sorted(o.id for o in orders)},
        "shop.Note": {"count": 1, "ids": [note.id]},
    }
    assert everything() == before


def test_a_hard_delete_without_related_rows_previews_no_cascade():
    order = OrderFactory()

    result = dry("db.delete", preview_policy(), model="Order", id=order.id)

    assert result["outcome"] == "dry_run", result
    assert result["affected_rows"] == 1
    assert [row["id"] for row in result["would_change"]] == [order.id]
    assert result["cascade"] == {}
    assert Order.objects.filter(pk=order.id).exists()


# --- masked and denied values stay hidden in the preview -----------------------------------


def test_a_masked_before_value_is_masked_in_an_update_preview():
    customer = CustomerFactory(email="ann.example@corp.example.com")
    policy = preview_policy()

    result = dry(
        "db.update", policy, model="Customer", id=customer.id, data={"email": "ann@new.example"}
    )

    assert result["outcome"] == "dry_run", result
    (row,) = result["would_change"]
    assert row["email_before"] == shown_by_get("Customer", customer.id, "email", policy)
    assert row["email_before"] != customer.email
    assert "ann.example" not in str(result)
    assert row["email_after"] == "ann@new.example"  # the agent's own value


def test_masked_values_are_masked_and_denied_fields_absent_in_a_delete_preview():
    customer = CustomerFactory(email="ann.example@corp.example.com", phone="+1 415 555 0199")
    policy = preview_policy()

    result = dry("db.delete", policy, model="Customer", id=customer.id)

    assert result["outcome"] == "dry_run", result
    (row,) = result["would_change"]
    assert row["email_before"] == shown_by_get("Customer", customer.id, "email", policy)
    assert row["phone_before"] == shown_by_get("Customer", customer.id, "phone", policy)
    assert "ann.example" not in str(result)
    assert "415 555" not in str(result)
    assert not {"password_hash_before", "api_token_before"} & set(row)
    assert customer.password_hash not in str(result)


# --- capped at max_preview_rows -----------------------------------------------------------


def capped_policy(**write_options):
    return preview_policy(profile=DEFAULT_PROD.replace(max_preview_rows=3), **write_options)


@pytest.mark.parametrize(("rows", "truncated"), [(5, True), (3, False), (2, False)])
def test_an_update_preview_is_cut_at_max_preview_rows_and_says_so(rows, truncated):
    customers = CustomerFactory.create_batch(rows, preferred_language="en")

    result = dry(
        "db.update",
        capped_policy(),
        model="Customer",
        where={"preferred_language": "en"},
        data={"preferred_language": "fr"},
    )

    assert result["outcome"] == "dry_run", result
    assert result["affected_rows"] == rows
    assert [row["id"] for row in result["would_change"]] == sorted(c.id for c in customers)[:3]
    assert result["truncated"] is truncated


def test_a_delete_preview_and_its_cascade_are_cut_at_max_preview_rows():
    customers = CustomerFactory.create_batch(5, preferred_language="de")
    orders = [OrderFactory(customer=c) for c in customers]

    result = dry(
        "db.delete",
        capped_policy(allow_cascade_delete=True),
        model="Customer",
        where={"preferred_language": "de"},
    )

    assert result["outcome"] == "dry_run", result
    assert result["affected_rows"] == 5
    assert [row["id"] for row in result["would_change"]] == sorted(c.id for c in customers)[:3]
    assert result["truncated"] is True
    assert result["cascade"]["shop.Order"]["count"] == 5
    assert len(result["cascade"]["shop.Order"]["ids"]) == 3
    assert set(result["cascade"]["shop.Order"]["ids"]) <= {o.id for o in orders}
    assert Customer.objects.count() == 5


# --- would it need a human? ---------------------------------------------------------------


def test_a_preview_says_an_approval_rule_would_hold_the_write(policy):
    subscription = SubscriptionFactory(seats=1)

    result = dry("db.update", policy, model="Subscription", id=subscription.id, data={"seats": 4})

    assert result["outcome"] == "dry_run", result
    assert result["would_require_approval"] is True
    assert result["approvers_required"] == 1
    assert result["would_change"] == [{"id": subscription.id, "seats_before": 1, "seats_after": 4}]


def test_a_preview_gives_the_approvers_the_rule_asks(policy):
    customer = CustomerFactory()

    result = dry("db.delete", policy, model="Customer", id=customer.id)

    assert result["outcome"] == "dry_run", result
    assert result["would_require_approval"] is True
    assert result["approvers_required"] == 2
    assert Customer.objects.filter(pk=customer.id).exists()


def test_a_preview_says_a_write_over_max_affected_rows_would_need_approval():
    OrderFactory.create_batch(3, status="pending", customer=CustomerFactory())

    result = dry(
        "db.update",
        preview_policy(max_affected_rows=2),
        model="Order",
        where={"status": "pending"},
        data={"status": "cancelled"},
    )

    assert result["outcome"] == "dry_run", result
    assert result["affected_rows"] == 3
    assert result["would_require_approval"] is True
    assert result["approvers_required"] == 1


def test_a_preview_of_a_when_rule_that_raises_says_approval_would_be_needed():
    def broken(call):
        raise RuntimeError("rule bug")

    order = OrderFactory()
    policy = preview_policy(approvals=[{"model": "Order", "when": broken, "approvers": 2}])

    result = dry("db.update", policy, model="Order", id=order.id, data={"status": "paid"})

    assert result["outcome"] == "dry_run", result
    assert result["would_require_approval"] is True
    assert result["approvers_required"] == 2


def test_a_preview_of_a_when_rule_that_does_not_match_needs_no_approval():
    order = OrderFactory()
    policy = preview_policy(
        approvals=[{"model": "Order", "when": lambda call: call.affected_rows > 50}]
    )

    result = dry("db.update", policy, model="Order", id=order.id, data={"status": "paid"})

    assert result["outcome"] == "dry_run", result
    assert result["would_require_approval"] is False
    assert "approvers_required" not in result


# --- a dry run is refused like the real call ----------------------------------------------


def test_a_dry_run_is_refused_for_the_same_policy_reasons_as_the_real_call():
    customer = CustomerFactory()
    before = everything()

    result = dry(
        "db.update", preview_policy(), model="Customer", id=customer.id, data={"name": "Other"}
    )

    assert result["outcome"] == "denied"
    assert result["error"]["code"] == "FIELD_NOT_WRITABLE"
    assert everything() == before


def test_a_dry_run_create_with_a_bad_value_is_validation_failed():
    theirs = CustomerFactory(tenant_id=8)

    result = dry(
        "db.create", preview_policy(), model="Note", data={"customer": theirs.id, "body": "x"}
    )

    assert result["outcome"] == "error"
    assert result["error"]["code"] == "VALIDATION_FAILED"
    assert set(result["error"]["fields"]) == {"customer"}
    assert not Note.objects.exists()


def frozen(check):
    raise ValidationError("Notes are frozen while the account is reviewed.")


@pytest.mark.parametrize("tool", ["db.create", "db.update", "db.delete"])
def test_a_dry_run_reports_the_policy_validator_refusal_the_real_call_would_hit(tool):
    note = NoteFactory()
    policy = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models([Customer, Note])
        .tenant_scope("tenant_id")
        .enable_writes(models=[Note], writable_fields={"Note": ["customer", "body"]})
        .validate("Note", frozen)
        .build()
    )
    arguments = {
        "db.create": {"model": "Note", "data": {"customer": note.customer_id, "body": "x"}},
        "db.update": {"model": "Note", "id": note.id, "data": {"body": "x"}},
        "db.delete": {"model": "Note", "id": note.id},
    }[tool]
    real = call_tool(tool, AGENT, policy, **arguments, reason=REASON)

    previewed = dry(tool, policy, **arguments)

    assert real["error"]["code"] == "VALIDATION_FAILED"
    assert previewed["outcome"] == real["outcome"], previewed
    assert previewed["error"]["fields"] == real["error"]["fields"]


def test_a_dry_run_reports_the_models_clean_refusal_of_a_single_row_update(monkeypatch):
    def refuse(customer):
        if customer.preferred_name == "Boss":
            raise ValidationError({"preferred_name": "Only staff may be called Boss."})

    monkeypatch.setattr(Customer, "clean", refuse)
    customer = CustomerFactory()
    arguments = {"model": "Customer", "id": customer.id, "data": {"preferred_name": "Boss"}}
    real = call_tool("db.update", AGENT, preview_policy(), **arguments, reason=REASON)

    previewed = dry("db.update", preview_policy(), **arguments)

    assert real["error"]["code"] == "VALIDATION_FAILED"
    assert previewed["outcome"] == "error", previewed
    assert previewed["error"]["fields"] == real["error"]["fields"]


# --- nothing happens ----------------------------------------------------------------------


def dry_calls(customer, note, order):
    return {
        "create": ("db.create", {"model": "Note", "data": {"customer": customer.id, "body": "x"}}),
        "update": (
            "db.update",
            {"model": "Customer", "id": customer.id, "data": {"preferred_name": "Bo"}},
        ),
        "update-where": (
            "db.update",
            {"model": "Order", "where": {"status": "pending"}, "data": {"status": "paid"}},
        ),
        "soft-delete": ("db.delete", {"model": "Note", "id": note.id}),
        "hard-delete": ("db.delete", {"model": "Customer", "id": customer.id}),
        "hard-delete-where": ("db.delete", {"model": "Order", "where": {"status": "pending"}}),
    }


DRY_CALLS = ["create", "update", "update-where", "soft-delete", "hard-delete", "hard-delete-where"]


@pytest.fixture
def shop_signals():
    """Every model signal the sandbox's models (and their history models) send."""
    fired = []

    def receiver(sender, **kwargs):
        if sender._meta.app_label == "shop":
            fired.append((kwargs["signal"], sender.__name__))

    watched = [signals.pre_save, signals.post_save, signals.pre_delete, signals.post_delete]
    for signal in watched:
        signal.connect(receiver, weak=False, dispatch_uid=f"test-dry-run-{id(signal)}")
    yield fired
    for signal in watched:
        signal.disconnect(dispatch_uid=f"test-dry-run-{id(signal)}")


@pytest.mark.parametrize("call", DRY_CALLS)
def test_a_dry_run_changes_nothing_and_fires_no_model_signal(call, shop_signals):
    customer = CustomerFactory()
    note = NoteFactory(customer=customer)
    order = OrderFactory(customer=customer, status="pending")
    policy = preview_policy(allow_cascade_delete=True, rate_limit=5)
    tool, arguments = dry_calls(customer, note, order)[call]
    before = everything()
    shop_signals.clear()

    result = call_tool(
        tool, AGENT, policy, **arguments, reason=REASON, dry_run=True, idempotency_key="k"
    )

    assert result["outcome"] == "dry_run", result
    assert shop_signals == []
    assert everything() == before


@pytest.mark.parametrize("call", ["create", "hard-delete"])
def test_the_same_write_executed_does_fire_model_signals(call, shop_signals):
    # The control for the test above: the receivers do hear these writes when they run.
    customer = CustomerFactory()
    note = NoteFactory(customer=customer)
    order = OrderFactory(customer=customer)
    tool, arguments = dry_calls(customer, note, order)[call]
    shop_signals.clear()

    result = call_tool(
        tool, AGENT, preview_policy(allow_cascade_delete=True), **arguments, reason=REASON
    )

    assert result["outcome"] == "ok", result
    assert shop_signals != []


@pytest.mark.parametrize("call", DRY_CALLS)
def test_a_dry_run_is_audited_as_dry_run(call):
    customer = CustomerFactory()
    note = NoteFactory(customer=customer)
    order = OrderFactory(customer=customer, status="pending")
    tool, arguments = dry_calls(customer, note, order)[call]
    arguments = {**arguments, "reason": REASON, "dry_run": True}

    result = call_tool(tool, AGENT, preview_policy(allow_cascade_delete=True), **arguments)

    event = event_of(result)
    assert event.outcome == "dry_run"
    assert event.tool == tool
    assert event.model == f"shop.{arguments['model']}"
    assert event.principal == AGENT.principal
    assert event.tenant_id == "7"
    assert event.reason == REASON
    assert event.arguments == arguments
    assert event.error_code == ""
    assert event.changes is None  # nothing changed


def test_dry_runs_are_not_counted_by_the_rate_limit():
    customer = CustomerFactory()
    policy = preview_policy(rate_limit=2)
    arguments = {"model": "Customer", "id": customer.id, "data": {"preferred_name": "Bo"}}

    previews = [dry("db.update", policy, **arguments) for _ in range(5)]
    writes = [call_tool("db.update", AGENT, policy, **arguments, reason=REASON) for _ in range(3)]

    assert [p["outcome"] for p in previews] == ["dry_run"] * 5
    assert [w["outcome"] for w in writes] == ["ok", "ok", "denied"]
    assert writes[2]["error"]["code"] == "RATE_LIMITED"
