"""What a write may do: write classes, reasons, writable fields, the rows it can reach,
tenants, and the approval gate. Every refusal is audited and changes no row."""

import pytest
from django.utils import timezone

from ormai_django import DEFAULT_PROD, PolicyBuilder, ToolContext, agent_model
from ormai_django.models import ApprovalRequest
from sandbox_project.shop.models import Customer, Note, Order
from tests.factories import CustomerFactory, NoteFactory, OrderFactory, SubscriptionFactory
from tests.support import call_tool, database_state, event_of, shop_writes

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-writes")
NO_TENANT = ToolContext(principal="agent:support-bot", run_id="run-writes")
REASON = "The customer asked for it on the phone."


def writes_policy(profile=DEFAULT_PROD, approvals=(), **write_options):
    """Customer, Order and Note writable, Subscription read-only; extra approval rules."""
    builder = shop_writes(profile, **write_options).mask_fields(["customer.email"])
    for rule in approvals:
        builder.require_approval(**rule)
    return builder.build()


def assert_refused(result, outcome, code, before, **details):
    """The refusal's outcome and code, its audit row, and no row changed."""
    assert result["outcome"] == outcome, result
    assert result["error"]["code"] == code
    for key, value in details.items():
        assert result["error"][key] == value
    assert database_state() == before
    event = event_of(result)
    assert event.outcome == outcome
    assert event.error_code == code
    assert event.changes is None
    assert event.affected_rows is None
    return event


def assert_held(result, before, approvers_required):
    """Held for people to decide: pending_approval, an ApprovalRequest, no row changed."""
    assert result["outcome"] == "pending_approval", result
    assert result["approvers_required"] == approvers_required
    assert result["approval_id"].startswith("appr_") and result["expires_at"].endswith("Z")
    assert database_state() == before
    approval = ApprovalRequest.objects.get(pk=result["approval_id"])
    assert (approval.status, approval.approvers_required) == ("pending", approvers_required)
    event = event_of(result)
    assert (event.outcome, event.approval_id, event.changes) == (
        "pending_approval",
        approval.id,
        None,
    )
    return event


# --- write classes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("db.create", {"data": {"plan": "pro"}}),
        ("db.update", {"data": {"plan": "pro"}}),
        ("db.update", {"where": {"plan": "basic"}, "data": {"plan": "pro"}}),
        ("db.delete", {}),
        ("db.delete", {"where": {"plan": "basic"}}),
    ],
)
def test_a_write_to_a_read_only_model_is_denied_write_not_allowed(tool, arguments):
    subscription = SubscriptionFactory(plan="basic")
    if tool != "db.create" and "where" not in arguments:
        arguments = {**arguments, "id": subscription.id}
    arguments = {"model": "Subscription", "reason": REASON, **arguments}
    before = database_state()

    result = call_tool(tool, AGENT, writes_policy(), **arguments)

    event = assert_refused(result, "denied", "WRITE_NOT_ALLOWED", before)
    assert event.tool == tool
    assert event.model == "shop.Subscription"
    assert event.arguments == arguments


def test_a_model_without_enable_writes_is_read_only_under_default_prod():
    customer = CustomerFactory()
    policy = PolicyBuilder(DEFAULT_PROD).register_models([Customer]).tenant_scope("tenant_id")
    before = database_state()

    result = call_tool(
        "db.update",
        AGENT,
        policy.build(),
        model="Customer",
        id=customer.id,
        data={"preferred_name": "Al"},
        reason=REASON,
    )

    assert_refused(result, "denied", "WRITE_NOT_ALLOWED", before)


# --- reasons ------------------------------------------------------------------------------


REASONLESS = [
    pytest.param({}, id="missing"),
    pytest.param({"reason": None}, id="null"),
    pytest.param({"reason": ""}, id="empty"),
    pytest.param({"reason": "   \t\n "}, id="whitespace"),
    pytest.param({"reason": 42}, id="number"),
    pytest.param({"reason": True}, id="boolean"),
    pytest.param({"reason": ["because"]}, id="list"),
    pytest.param({"reason": {"why": "because"}}, id="object"),
]


@pytest.mark.parametrize("reason", REASONLESS)
@pytest.mark.parametrize("tool", ["db.create", "db.update", "db.delete"])
def test_a_write_without_a_usable_reason_is_denied_reason_required(tool, reason):
    customer = CustomerFactory()
    note = NoteFactory(customer=customer)
    arguments = {
        "db.create": {"model": "Note", "data": {"customer": customer.id, "body": "hello"}},
        "db.update": {"model": "Note", "id": note.id, "data": {"body": "changed"}},
        "db.delete": {"model": "Note", "id": note.id},
    }[tool] | reason
    before = database_state()

    result = call_tool(tool, AGENT, writes_policy(), **arguments)

    event = assert_refused(result, "denied", "REASON_REQUIRED", before)
    assert event.arguments == arguments
    assert event.model == "shop.Note"


@pytest.mark.parametrize("reason", [{}, {"reason": ""}, {"reason": "  "}], ids=str)
def test_require_reason_false_lets_a_write_run_without_a_reason(reason):
    customer = CustomerFactory(preferred_name="")

    result = call_tool(
        "db.update",
        AGENT,
        writes_policy(require_reason=False),
        model="Customer",
        id=customer.id,
        data={"preferred_name": "Al"},
        **reason,
    )

    assert result["outcome"] == "ok", result
    customer.refresh_from_db()
    assert customer.preferred_name == "Al"
    assert event_of(result).reason == ""


def test_the_reason_is_recorded_stripped_on_the_audit_row():
    customer = CustomerFactory()

    result = call_tool(
        "db.update",
        AGENT,
        writes_policy(),
        model="Customer",
        id=customer.id,
        data={"preferred_name": "Al"},
        reason=f"  {REASON}\n",
    )

    assert result["outcome"] == "ok", result
    assert event_of(result).reason == REASON


# --- writable fields ----------------------------------------------------------------------


NOT_WRITABLE = [
    pytest.param("name", "Someone Else", id="visible-not-writable"),
    pytest.param("is_vip", True, id="visible-boolean-not-writable"),
    pytest.param("id", 999, id="primary-key"),
    pytest.param("pk", 999, id="pk-alias"),
    pytest.param("tenant_id", 8, id="tenant-field"),
    pytest.param("password_hash", "x", id="denied-by-profile"),
    pytest.param("api_token", "x", id="denied-token"),
    pytest.param("email", "new@example.com", id="masked-not-writable"),
]


@pytest.mark.parametrize(("field", "value"), NOT_WRITABLE)
@pytest.mark.parametrize("tool", ["db.create", "db.update"])
def test_data_naming_a_field_outside_writable_fields_is_denied_field_not_writable(
    tool, field, value
):
    customer = CustomerFactory(name="Ann", is_vip=False)
    arguments = {"model": "Customer", "data": {"preferred_name": "Al", field: value}}
    if tool == "db.update":
        arguments["id"] = customer.id
    arguments["reason"] = REASON
    before = database_state()

    result = call_tool(tool, AGENT, writes_policy(), **arguments)

    event = assert_refused(result, "denied", "FIELD_NOT_WRITABLE", before, field=field)
    assert event.arguments == arguments
    assert "preferred_language" in result["error"]["message"]  # says what is writable


def test_a_foreign_key_attname_not_writable_is_denied_like_the_field():
    note = NoteFactory()
    other = CustomerFactory()
    policy = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models([Customer, Note])
        .tenant_scope("tenant_id")
        .enable_writes(models=[Note], writable_fields={"Note": ["body"]})
        .build()
    )
    before = database_state()

    result = call_tool(
        "db.update",
        AGENT,
        policy,
        model="Note",
        id=note.id,
        data={"customer_id": other.id},
        reason=REASON,
    )

    assert_refused(result, "denied", "FIELD_NOT_WRITABLE", before, field="customer_id")


@pytest.mark.parametrize("tool", ["db.create", "db.update"])
def test_data_naming_an_unknown_field_is_unknown_field(tool):
    customer = CustomerFactory()
    arguments = {"model": "Customer", "data": {"nickname": "Al"}, "reason": REASON}
    if tool == "db.update":
        arguments["id"] = customer.id
    before = database_state()

    result = call_tool(tool, AGENT, writes_policy(), **arguments)

    event = assert_refused(result, "error", "UNKNOWN_FIELD", before, field="nickname")
    assert event.arguments == arguments
    assert "preferred_name" in result["error"]["message"]


def test_the_soft_delete_marker_is_not_writable_through_db_update():
    # Deleting goes through db.delete (and its approval rules), never through data.
    note = NoteFactory()
    before = database_state()

    result = call_tool(
        "db.update",
        AGENT,
        writes_policy(),
        model="Note",
        id=note.id,
        data={"deleted_at": "2026-01-01T00:00:00Z"},
        reason=REASON,
    )

    assert_refused(result, "denied", "FIELD_NOT_WRITABLE", before, field="deleted_at")


# --- which rows: id or a non-empty where, never a whole table ------------------------------


ROW_SELECTORS = [
    pytest.param({}, id="neither"),
    pytest.param({"id": None, "where": None}, id="both-null"),
    pytest.param({"where": {}}, id="empty-where"),
    pytest.param({"where": []}, id="list-where"),
    pytest.param({"where": "preferred_language = 'en'"}, id="string-where"),
    pytest.param({"id": "FIRST", "where": {"preferred_language": "en"}}, id="both"),
]


@pytest.mark.parametrize("selector", ROW_SELECTORS)
@pytest.mark.parametrize("tool", ["db.update", "db.delete"])
def test_update_and_delete_need_exactly_one_of_id_or_a_non_empty_where(tool, selector):
    customers = CustomerFactory.create_batch(3, preferred_language="en")
    if selector.get("id") == "FIRST":
        selector = {**selector, "id": customers[0].id}
    arguments = {"model": "Customer", **selector, "reason": REASON}
    if tool == "db.update":
        arguments["data"] = {"preferred_name": "Everyone"}
    before = database_state()

    result = call_tool(tool, AGENT, writes_policy(allow_cascade_delete=True), **arguments)

    event = assert_refused(result, "error", "INVALID_ARGUMENTS", before)
    assert event.arguments == arguments
    assert Customer.objects.count() == 3
    assert not Customer.objects.filter(preferred_name="Everyone").exists()


# --- rows the context can't see are missing ------------------------------------------------


def invisible_rows():
    """Ids that name no row this context (tenant 7) may touch, by why."""
    other_tenant = NoteFactory(customer=CustomerFactory(tenant_id=8))
    deleted = NoteFactory(deleted_at=timezone.now())
    missing = max(other_tenant.id, deleted.id) + 1000
    return {"other-tenant": other_tenant.id, "soft-deleted": deleted.id, "missing": missing}


@pytest.mark.parametrize("why", ["other-tenant", "soft-deleted", "missing"])
@pytest.mark.parametrize("tool", ["db.update", "db.delete"])
def test_an_id_the_context_cannot_see_is_not_found(tool, why):
    note_id = invisible_rows()[why]
    arguments = {"model": "Note", "id": note_id, "reason": REASON}
    if tool == "db.update":
        arguments["data"] = {"body": "overwritten"}
    before = database_state()

    result = call_tool(tool, AGENT, writes_policy(), **arguments)

    assert_refused(result, "error", "NOT_FOUND", before)
    assert not Note._base_manager.filter(body="overwritten").exists()


@pytest.mark.parametrize("tool", ["db.update", "db.delete"])
def test_another_tenants_row_is_refused_exactly_like_a_missing_one(tool):
    ids = invisible_rows()
    results = {}
    for why in ("other-tenant", "missing"):
        arguments = {"model": "Note", "id": ids[why], "reason": REASON}
        if tool == "db.update":
            arguments["data"] = {"body": "overwritten"}
        result = call_tool(tool, AGENT, writes_policy(), **arguments)
        error = dict(result["error"])
        error["message"] = error["message"].replace(repr(ids[why]), "<id>")
        results[why] = (result["outcome"], error)

    assert results["other-tenant"] == results["missing"]


def test_a_where_never_reaches_another_tenants_rows():
    mine = CustomerFactory(preferred_language="en")
    theirs = CustomerFactory(tenant_id=8, preferred_language="en", preferred_name="")

    result = call_tool(
        "db.update",
        AGENT,
        writes_policy(),
        model="Customer",
        where={"preferred_language": "en"},
        data={"preferred_name": "Everyone"},
        reason=REASON,
    )

    assert result["outcome"] == "ok", result
    assert result["affected_rows"] == 1
    assert result["ids"] == [mine.id]
    theirs.refresh_from_db()
    assert theirs.preferred_name == ""


@pytest.mark.parametrize(
    "case", ["create", "update-id", "update-where", "delete-id", "delete-where"]
)
def test_a_write_without_a_tenant_in_context_is_denied_tenant_required(case):
    customer = CustomerFactory(name="Ann")
    note = NoteFactory(customer=customer)
    OrderFactory(customer=customer)
    tool, arguments = {
        "create": ("db.create", {"model": "Note", "data": {"customer": customer.id, "body": "x"}}),
        "update-id": (
            "db.update",
            {"model": "Customer", "id": customer.id, "data": {"preferred_name": "x"}},
        ),
        "update-where": (
            "db.update",
            {"model": "Customer", "where": {"name": "Ann"}, "data": {"preferred_name": "x"}},
        ),
        "delete-id": ("db.delete", {"model": "Note", "id": note.id}),
        "delete-where": ("db.delete", {"model": "Order", "where": {"status": "pending"}}),
    }[case]
    arguments["reason"] = REASON
    before = database_state()

    result = call_tool(tool, NO_TENANT, writes_policy(), **arguments)

    event = assert_refused(result, "denied", "TENANT_REQUIRED", before)
    assert event.tenant_id == ""


# --- the approval gate --------------------------------------------------------------------


def test_a_write_matching_a_require_approval_rule_is_held_for_approval(policy):
    subscription = SubscriptionFactory(plan="basic", seats=1)
    before = database_state()

    result = call_tool(
        "db.update",
        AGENT,
        policy,
        model="Subscription",
        id=subscription.id,
        data={"seats": 5},
        reason=REASON,
    )

    assert_held(result, before, 1)


def test_approvers_required_is_what_the_matching_rule_asks(policy):
    customer = CustomerFactory()  # no related rows: nothing would cascade
    before = database_state()

    result = call_tool("db.delete", AGENT, policy, model="Customer", id=customer.id, reason=REASON)

    assert_held(result, before, 2)


def test_the_most_demanding_of_several_matching_rules_wins():
    customer = CustomerFactory()
    policy = writes_policy(
        approvals=[
            {"tool": "db.update", "model": "Customer", "approvers": 1},
            {"model": "Customer", "approvers": 3},
        ]
    )
    before = database_state()

    result = call_tool(
        "db.update",
        AGENT,
        policy,
        model="Customer",
        id=customer.id,
        data={"preferred_name": "Al"},
        reason=REASON,
    )

    assert_held(result, before, 3)


def test_a_rule_for_another_tool_or_model_does_not_hold_the_write():
    customer = CustomerFactory(preferred_name="")
    policy = writes_policy(
        approvals=[
            {"tool": "db.delete", "model": "Customer", "approvers": 2},
            {"tool": "db.update", "model": "Order", "approvers": 2},
        ]
    )

    result = call_tool(
        "db.update",
        AGENT,
        policy,
        model="Customer",
        id=customer.id,
        data={"preferred_name": "Al"},
        reason=REASON,
    )

    assert result["outcome"] == "ok", result
    customer.refresh_from_db()
    assert customer.preferred_name == "Al"


def approval_class_calls(note, customer):
    return [
        ("db.create", {"model": "Note", "data": {"customer": customer.id, "body": "new"}}),
        ("db.update", {"model": "Note", "id": note.id, "data": {"body": "changed"}}),
        ("db.delete", {"model": "Note", "id": note.id}),
    ]


@pytest.mark.parametrize("index", [0, 1, 2], ids=["create", "update", "delete"])
def test_every_write_to_an_approval_class_model_declared_by_decorator_is_held(index, monkeypatch):
    # The sandbox's Note, decorated again as it would be in a project's models.py.
    monkeypatch.setattr(Note, "_ormai_rules", Note._ormai_rules)
    agent_model(
        writes="approval",
        writable_fields=["customer", "body"],
        soft_delete_field="deleted_at",
        mask_fields=["author_email"],
    )(Note)
    policy = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models([Customer, Note])
        .tenant_scope("tenant_id")
        .build()
    )
    customer = CustomerFactory()
    note = NoteFactory(customer=customer, body="original")
    tool, arguments = approval_class_calls(note, customer)[index]
    before = database_state()

    result = call_tool(tool, AGENT, policy, **arguments, reason=REASON)

    assert_held(result, before, 1)


@pytest.mark.parametrize("index", [0, 1, 2], ids=["create", "update", "delete"])
def test_every_write_to_a_model_whose_policy_rule_names_no_tool_is_held(index):
    policy = writes_policy(approvals=[{"model": "Note", "approvers": 2}])
    customer = CustomerFactory()
    note = NoteFactory(customer=customer, body="original")
    tool, arguments = approval_class_calls(note, customer)[index]
    before = database_state()

    result = call_tool(tool, AGENT, policy, **arguments, reason=REASON)

    assert_held(result, before, 2)


@pytest.mark.parametrize("tool", ["db.update", "db.delete"])
def test_a_write_over_more_rows_than_max_affected_rows_needs_approval(tool):
    OrderFactory.create_batch(3, status="pending", customer=CustomerFactory())
    arguments = {"model": "Order", "where": {"status": "pending"}, "reason": REASON}
    if tool == "db.update":
        arguments["data"] = {"status": "cancelled"}
    before = database_state()

    result = call_tool(tool, AGENT, writes_policy(max_affected_rows=2), **arguments)

    assert_held(result, before, 1)


@pytest.mark.parametrize("tool", ["db.update", "db.delete"])
def test_a_write_over_exactly_max_affected_rows_runs(tool):
    customer = CustomerFactory()
    orders = OrderFactory.create_batch(2, status="pending", customer=customer)
    OrderFactory(status="paid", customer=customer)
    arguments = {"model": "Order", "where": {"status": "pending"}, "reason": REASON}
    if tool == "db.update":
        arguments["data"] = {"status": "cancelled"}

    result = call_tool(tool, AGENT, writes_policy(max_affected_rows=2), **arguments)

    assert result["outcome"] == "ok", result
    assert result["affected_rows"] == 2
    assert sorted(result["ids"]) == sorted(o.id for o in orders)
    assert not Order.objects.filter(status="pending").exists()


def test_the_sandbox_holds_an_order_update_over_fifty_rows_by_its_when_rule(policy):
    OrderFactory.create_batch(51, status="pending", customer=CustomerFactory())
    before = database_state()

    result = call_tool(
        "db.update",
        AGENT,
        policy,
        model="Order",
        where={"status": "pending"},
        data={"status": "cancelled"},
        reason=REASON,
    )

    assert_held(result, before, 1)


def test_a_when_rule_that_does_not_match_lets_the_write_run():
    seen = []

    def over_fifty(call):
        seen.append(call)
        return call.affected_rows > 50

    customer = CustomerFactory()
    orders = OrderFactory.create_batch(3, status="pending", customer=customer)
    policy = writes_policy(approvals=[{"tool": "db.update", "model": "Order", "when": over_fifty}])

    result = call_tool(
        "db.update",
        AGENT,
        policy,
        model="Order",
        where={"status": "pending"},
        data={"status": "cancelled"},
        reason=REASON,
    )

    assert result["outcome"] == "ok", result
    assert set(Order.objects.values_list("status", flat=True)) == {"cancelled"}
    assert len(seen) == 1
    call = seen[0]
    assert call.tool == "db.update"
    assert call.model == "Order"
    assert call.affected_rows == len(orders)
    assert call.data == {"status": "cancelled"}
    assert call.where == {"status": "pending"}
    assert call.reason == REASON
    assert call.context == AGENT


@pytest.mark.parametrize("tool", ["db.create", "db.update", "db.delete"])
def test_a_when_rule_that_raises_holds_the_write_fail_closed(tool):
    def broken(call):
        raise KeyError("no such thing")

    policy = writes_policy(approvals=[{"model": "Note", "when": broken, "approvers": 2}])
    customer = CustomerFactory()
    note = NoteFactory(customer=customer, body="original")
    index = ["db.create", "db.update", "db.delete"].index(tool)
    _, arguments = approval_class_calls(note, customer)[index]
    before = database_state()

    result = call_tool(tool, AGENT, policy, **arguments, reason=REASON)

    assert_held(result, before, 2)
