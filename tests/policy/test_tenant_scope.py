"""Tenant scoping fails closed, hides other tenants' rows like missing rows, and applies to
every relation a filter walks; soft-deleted rows are invisible the same way."""

import datetime as dt

import pytest
from django.utils import timezone

from ormai_django import DEFAULT_PROD, PolicyBuilder, ToolContext
from sandbox_project.shop.models import Note
from tests.factories import (
    CustomerFactory,
    NoteFactory,
    OrderFactory,
    RefundFactory,
    SubscriptionFactory,
)
from tests.support import call_tool, query_ids, without_audit_id

pytestmark = pytest.mark.django_db

NO_TENANT = ToolContext(principal="agent:support-bot", run_id="run-test")
DATA_KEYS = {"rows", "row", "result", "groups"}


def count(ctx, model, where=None, policy=None):
    result = call_tool(
        "db.aggregate", ctx, policy, model=model, where=where, aggregations={"n": {"count": "id"}}
    )
    assert result["outcome"] == "ok", result
    return result["result"]["n"]


# --- fail closed -------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["Customer", "Subscription", "Order", "Note", "Refund"])
@pytest.mark.parametrize("tool", ["db.query", "db.get", "db.aggregate"])
def test_a_context_without_tenant_is_denied_on_every_read_of_a_scoped_model(tool, model):
    customer = CustomerFactory()
    rows = {
        "Customer": customer,
        "Subscription": SubscriptionFactory(customer=customer),
        "Order": OrderFactory(customer=customer),
        "Note": NoteFactory(customer=customer),
        "Refund": RefundFactory(order=OrderFactory(customer=customer)),
    }
    arguments = {
        "db.query": {"model": model},
        "db.get": {"model": model, "id": rows[model].id},
        "db.aggregate": {"model": model, "aggregations": {"n": {"count": "id"}}},
    }[tool]

    result = call_tool(tool, NO_TENANT, **arguments)

    assert result["outcome"] == "denied", result
    assert result["error"]["code"] == "TENANT_REQUIRED"
    assert not DATA_KEYS & set(result)


def test_a_context_without_tenant_is_denied_whatever_the_where(ctx):
    order = OrderFactory()

    for where in ({"id": order.id}, {"tenant_id": 7}, {"or": [{"tenant_id": 7}]}):
        result = call_tool("db.query", NO_TENANT, model="Order", where=where)
        assert (result["outcome"], result["error"]["code"]) == ("denied", "TENANT_REQUIRED")


@pytest.mark.parametrize("tenant_id", ["", " ", "abc", "7; DROP TABLE shop_customer"])
def test_a_tenant_id_that_names_no_tenant_fails_closed(tenant_id):
    CustomerFactory()
    context = ToolContext(principal="agent:support-bot", tenant_id=tenant_id)

    result = call_tool("db.query", context, model="Customer")

    assert result["outcome"] in ("denied", "error"), result
    assert result["error"]["code"] in ("TENANT_REQUIRED", "INVALID_CONTEXT")
    assert not DATA_KEYS & set(result)


def test_a_tenant_id_given_as_a_string_scopes_like_the_integer():
    mine = CustomerFactory(tenant_id=7)
    CustomerFactory(tenant_id=8)
    as_text = ToolContext(principal="agent:support-bot", tenant_id="7")

    assert query_ids(as_text, "Customer") == [mine.id]


# --- another tenant's row looks exactly like a missing row -------------------------------


@pytest.mark.parametrize(
    ("model", "factory"),
    [("Customer", CustomerFactory), ("Order", OrderFactory), ("Note", NoteFactory)],
)
def test_another_tenants_row_is_indistinguishable_from_a_missing_one(ctx, model, factory):
    theirs = factory(tenant_id=8) if model == "Customer" else factory(customer__tenant_id=8)
    theirs_id = theirs.id

    hidden = call_tool("db.get", ctx, model=model, id=theirs_id)
    type(theirs).objects.filter(pk=theirs_id).delete()
    missing = call_tool("db.get", ctx, model=model, id=theirs_id)

    assert hidden["outcome"] == "error"
    assert hidden["error"]["code"] == "NOT_FOUND"
    assert without_audit_id(hidden) == without_audit_id(missing)


def test_another_tenant_sees_the_row_the_first_cannot(ctx, other_ctx):
    theirs = CustomerFactory(tenant_id=8)

    assert call_tool("db.get", ctx, model="Customer", id=theirs.id)["outcome"] == "error"
    assert call_tool("db.get", other_ctx, model="Customer", id=theirs.id)["row"]["id"] == theirs.id


def test_query_never_returns_other_tenants_rows(ctx, other_ctx):
    ann7 = CustomerFactory(tenant_id=7, name="Shared Name")
    bob7 = CustomerFactory(tenant_id=7, name="Bob")
    ann8 = CustomerFactory(tenant_id=8, name="Shared Name")

    assert query_ids(ctx, "Customer") == sorted([ann7.id, bob7.id])
    assert query_ids(other_ctx, "Customer") == [ann8.id]
    assert query_ids(ctx, "Customer", {"tenant_id": 8}) == []
    assert query_ids(ctx, "Customer", {"tenant_id__in": [7, 8]}) == sorted([ann7.id, bob7.id])
    assert query_ids(ctx, "Customer", {"not": {"tenant_id": 7}}) == []
    assert query_ids(ctx, "Customer", {"id": ann8.id}) == []
    assert query_ids(ctx, "Customer", {"or": [{"tenant_id": 8}, {"name": "Shared Name"}]}) == [
        ann7.id
    ]
    all_ids = [ann7.id, bob7.id, ann8.id]
    assert query_ids(ctx, "Customer", {"id__in": all_ids}) == sorted([ann7.id, bob7.id])


def test_aggregate_never_counts_other_tenants_rows(ctx, other_ctx):
    OrderFactory(customer=CustomerFactory(tenant_id=7), total_cents=1000, status="paid")
    OrderFactory(customer=CustomerFactory(tenant_id=7), total_cents=2000, status="pending")
    OrderFactory(customer=CustomerFactory(tenant_id=8), total_cents=50000, status="paid")

    mine = call_tool(
        "db.aggregate",
        ctx,
        model="Order",
        where={"tenant_id__in": [7, 8]},
        aggregations={
            "n": {"count": "id"},
            "total": {"sum": "total_cents"},
            "top": {"max": "total_cents"},
            "customers": {"count_distinct": "customer"},
        },
    )
    groups = call_tool(
        "db.aggregate",
        ctx,
        model="Order",
        aggregations={"n": {"count": "id"}, "total": {"sum": "total_cents"}},
        group_by=["tenant_id", "status"],
    )

    assert mine["result"] == {"n": 2, "total": 3000, "top": 2000, "customers": 2}
    assert groups["groups"] == [
        {"tenant_id": 7, "status": "paid", "n": 1, "total": 1000},
        {"tenant_id": 7, "status": "pending", "n": 1, "total": 2000},
    ]
    assert count(other_ctx, "Order") == 1


# --- relations are scoped ----------------------------------------------------------------


def _cross_tenant_orders():
    """Tenant 7's order pointing (inconsistently) at tenant 8's customer."""
    ann7 = CustomerFactory(tenant_id=7, name="Ann Seven")
    ann8 = CustomerFactory(tenant_id=8, name="Ann Eight", is_vip=True)
    own = OrderFactory(tenant_id=7, customer=ann7, total_cents=1000)
    cross = OrderFactory(tenant_id=7, customer=ann8, total_cents=2000)
    OrderFactory(tenant_id=8, customer=ann8, total_cents=3000)
    return ann8, own, cross


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"customer__name__icontains": "ann"}, ["own"]),
        ({"customer__name": "Ann Eight"}, []),
        ({"customer__is_vip": True}, []),
        ({"customer__tenant_id": 8}, []),
        ({"customer__name__in": ["Ann Seven", "Ann Eight"]}, ["own"]),
        ({"or": [{"customer__name": "Ann Eight"}, {"total_cents": 1000}]}, ["own"]),
        ({"or": [{"customer__name": "Ann Eight"}, {"total_cents__gte": 1500}]}, ["cross"]),
        ({"or": [{"customer__is_vip": True}, {"customer__name": "Ann Seven"}]}, ["own"]),
        # The hidden customer matches no customer__ condition, so its negation holds.
        ({"not": {"customer__name": "Ann Eight"}}, ["own", "cross"]),
        ({"not": {"customer__name": "Ann Seven"}}, ["cross"]),
        ({"not": {"customer__name__icontains": "ann"}}, ["cross"]),
        ({"not": {"or": [{"customer__is_vip": True}, {"total_cents": 1000}]}}, ["cross"]),
        ({"and": [{"total_cents": 2000}, {"customer__name__startswith": "Ann"}]}, []),
    ],
)
def test_a_relation_into_another_tenant_matches_no_filter_on_it(ctx, where, expected):
    _, own, cross = _cross_tenant_orders()
    orders = {"own": own, "cross": cross}

    assert query_ids(ctx, "Order", where) == sorted(orders[k].id for k in expected)
    assert count(ctx, "Order", where) == len(expected)


def test_another_tenants_related_row_is_no_oracle(ctx):
    ann8, _, _ = _cross_tenant_orders()
    wheres = [
        {"customer__name": "Ann Eight"},
        {"customer__is_vip": True},
        {"not": {"customer__name": "Ann Eight"}},
        {"not": {"customer__is_vip": False}},
        {"or": [{"customer__name__startswith": "Ann E"}, {"total_cents": 1000}]},
    ]

    before = [query_ids(ctx, "Order", w) for w in wheres]
    ann8.name, ann8.is_vip = "Zed Other", False
    ann8.save()
    after = [query_ids(ctx, "Order", w) for w in wheres]

    assert before == after


# --- soft-deleted rows -------------------------------------------------------------------


def test_soft_deleted_notes_are_invisible_to_every_read(ctx):
    customer = CustomerFactory()
    live = NoteFactory(customer=customer)
    gone = NoteFactory(customer=customer, deleted_at=timezone.now() - dt.timedelta(hours=1))

    assert query_ids(ctx, "Note") == [live.id]
    assert query_ids(ctx, "Note", {"deleted_at__isnull": False}) == []
    assert query_ids(ctx, "Note", {"id": gone.id}) == []
    assert query_ids(ctx, "Note", {"not": {"deleted_at": None}}) == []
    assert count(ctx, "Note") == 1
    grouped = call_tool(
        "db.aggregate",
        ctx,
        model="Note",
        aggregations={"n": {"count": "id"}},
        group_by="customer",
    )
    assert grouped["groups"] == [{"customer": customer.id, "n": 1}]


def test_a_soft_deleted_note_looks_exactly_like_a_missing_one(ctx):
    gone_id = NoteFactory(deleted_at=timezone.now()).id

    hidden = call_tool("db.get", ctx, model="Note", id=gone_id)
    Note.objects.filter(pk=gone_id).delete()
    missing = call_tool("db.get", ctx, model="Note", id=gone_id)

    assert hidden["error"]["code"] == "NOT_FOUND"
    assert without_audit_id(hidden) == without_audit_id(missing)


@pytest.fixture
def customer_soft_delete_policy():
    """Customer.is_vip serves as Customer's soft-delete flag: the sandbox Customer has no
    deleted_at, and a true boolean marks a soft-deleted row."""
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Customer", "shop.Order", "shop.Note"])
        .tenant_scope("tenant_id")
        .soft_delete("Customer", "is_vip")
        .build()
    )


def test_a_soft_deleted_customer_is_invisible(ctx, customer_soft_delete_policy):
    policy = customer_soft_delete_policy
    live = CustomerFactory(name="Bob Live")
    gone = CustomerFactory(name="Bob Gone", is_vip=True)

    assert query_ids(ctx, "Customer", None, policy) == [live.id]
    assert query_ids(ctx, "Customer", {"is_vip": True}, policy) == []
    assert count(ctx, "Customer", None, policy) == 1
    result = call_tool("db.get", ctx, policy, model="Customer", id=gone.id)
    assert result["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"customer__name__startswith": "Bob"}, ["live"]),
        ({"customer__name": "Bob Gone"}, []),
        ({"customer__is_vip": True}, []),
        ({"or": [{"customer__name": "Bob Gone"}, {"status": "paid"}]}, ["live"]),
        ({"not": {"customer__name": "Bob Gone"}}, ["live", "gone"]),
        ({"not": {"customer__name__startswith": "Bob"}}, ["gone"]),
    ],
)
def test_a_relation_into_a_soft_deleted_row_matches_no_filter_on_it(
    ctx, customer_soft_delete_policy, where, expected
):
    policy = customer_soft_delete_policy
    live_customer = CustomerFactory(name="Bob Live")
    gone_customer = CustomerFactory(name="Bob Gone", is_vip=True)
    orders = {
        "live": OrderFactory(customer=live_customer, status="paid"),
        "gone": OrderFactory(customer=gone_customer, status="pending"),
    }
    notes = {
        "live": NoteFactory(customer=live_customer),
        "gone": NoteFactory(customer=gone_customer),
    }

    assert query_ids(ctx, "Order", where, policy) == sorted(orders[k].id for k in expected)
    if "status" not in str(where):
        assert query_ids(ctx, "Note", where, policy) == sorted(notes[k].id for k in expected)


# --- models excluded from the tenant scope -----------------------------------------------


@pytest.fixture
def shared_subscriptions_policy():
    """Subscription is excluded from the tenant scope; Customer stays scoped."""
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Customer", "shop.Subscription"])
        .tenant_scope("tenant_id", exclude=["Subscription"])
        .build()
    )


def test_a_model_excluded_from_the_tenant_scope_is_readable_without_tenant(
    shared_subscriptions_policy,
):
    policy = shared_subscriptions_policy
    seven = SubscriptionFactory(customer=CustomerFactory(tenant_id=7))
    eight = SubscriptionFactory(customer=CustomerFactory(tenant_id=8))

    assert query_ids(NO_TENANT, "Subscription", None, policy) == sorted([seven.id, eight.id])
    assert call_tool("db.get", NO_TENANT, policy, model="Subscription", id=eight.id)["row"][
        "id"
    ] == (eight.id)
    assert count(NO_TENANT, "Subscription", {"tenant_id": 8}, policy) == 1
    customers = call_tool("db.query", NO_TENANT, policy, model="Customer")
    assert customers["error"]["code"] == "TENANT_REQUIRED"

    described = call_tool("db.describe", NO_TENANT, policy)["models"]
    scoped = {m["name"]: m["tenant_scoped"] for m in described}
    assert scoped == {"Customer": True, "Subscription": False}


def test_a_relation_from_an_excluded_model_into_a_scoped_one_stays_scoped(
    ctx, shared_subscriptions_policy
):
    policy = shared_subscriptions_policy
    seven = SubscriptionFactory(customer=CustomerFactory(tenant_id=7, name="Ann Seven"))
    SubscriptionFactory(customer=CustomerFactory(tenant_id=8, name="Ann Eight"))

    where = {"customer__name__startswith": "Ann"}
    assert query_ids(ctx, "Subscription", where, policy) == [seven.id]
    assert query_ids(ctx, "Subscription", {"customer__name": "Ann Eight"}, policy) == []
    # Without a tenant the relation can't be scoped, so the filter fails closed.
    result = call_tool("db.query", NO_TENANT, policy, model="Subscription", where=where)
    assert (result["outcome"], result["error"]["code"]) == ("denied", "TENANT_REQUIRED")
