"""The ``where`` compiler, seen through ``execute()``: lookups, date parts, nesting,
relations, the lookup allow-list, and values converted by the field (never a DB error)."""

import datetime as dt

import pytest

from ormai_django import DEFAULT_PROD, PolicyBuilder
from ormai_django.models import AuditEvent
from tests.factories import (
    CustomerFactory,
    NoteFactory,
    OrderFactory,
    SubscriptionFactory,
)
from tests.support import call_tool, query_ids

pytestmark = pytest.mark.django_db


def at(text):
    """An aware UTC datetime from ``"YYYY-MM-DD HH:MM"``."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def error_code(result):
    return result["outcome"], result["error"]["code"]


# --- every allow-listed lookup -----------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"name": "Ann Lee"}, ["ann"]),
        ({"name__exact": "Ann Lee"}, ["ann"]),
        ({"name": "ann lee"}, []),
        ({"name__iexact": "ann LEE"}, ["ann"]),
        ({"name__contains": "Ann"}, ["ann", "bob"]),
        ({"name__icontains": "ANN"}, ["ann", "bob"]),
        ({"name__in": ["Ann Lee", "Cleo Bright", "Nobody"]}, ["ann", "cleo"]),
        ({"name__in": []}, []),
        ({"name__startswith": "Bob"}, ["bob"]),
        ({"name__istartswith": "bob"}, ["bob"]),
        ({"name__endswith": "Lee"}, ["ann"]),
        ({"name__iendswith": "BRIGHT"}, ["cleo"]),
        ({"name__gt": "Bob"}, ["bob", "cleo"]),
        ({"name__gte": "Bob Annson"}, ["bob", "cleo"]),
        ({"name__lt": "Bob"}, ["ann"]),
        ({"name__lte": "Bob Annson"}, ["ann", "bob"]),
        ({"name__range": ["B", "Cz"]}, ["bob", "cleo"]),
        ({"is_vip": True}, ["ann"]),
        ({"is_vip": "False"}, ["bob", "cleo"]),
        ({"is_vip__in": [True, False]}, ["ann", "bob", "cleo"]),
    ],
)
def test_text_and_boolean_lookups_return_the_matching_customers(ctx, where, expected):
    customers = {
        "ann": CustomerFactory(name="Ann Lee", is_vip=True),
        "bob": CustomerFactory(name="Bob Annson"),
        "cleo": CustomerFactory(name="Cleo Bright"),
    }

    assert query_ids(ctx, "Customer", where) == sorted(customers[k].id for k in expected)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"total_cents": 5000}, ["mid"]),
        ({"total_cents__exact": 5000}, ["mid"]),
        ({"total_cents__gt": 5000}, ["high"]),
        ({"total_cents__gte": 5000}, ["mid", "high"]),
        ({"total_cents__lt": 5000}, ["low"]),
        ({"total_cents__lte": 5000}, ["low", "mid"]),
        ({"total_cents__range": [1000, 5000]}, ["low", "mid"]),
        ({"total_cents__in": [1000, 9000]}, ["low", "high"]),
        ({"shipped_at__isnull": True}, ["mid", "high"]),
        ({"shipped_at__isnull": False}, ["low"]),
        ({"shipped_at": None}, ["mid", "high"]),
    ],
)
def test_ordered_and_isnull_lookups_return_the_matching_orders(ctx, where, expected):
    orders = {
        "low": OrderFactory(total_cents=1000, shipped_at=at("2025-02-01 09:00")),
        "mid": OrderFactory(total_cents=5000),
        "high": OrderFactory(total_cents=9000),
    }

    assert query_ids(ctx, "Order", where) == sorted(orders[k].id for k in expected)


def test_like_wildcards_in_a_value_are_matched_literally(ctx):
    percent = CustomerFactory(name="100% cotton")
    underscore = CustomerFactory(name="snake_case")
    CustomerFactory(name="plain name")

    assert query_ids(ctx, "Customer", {"name__contains": "%"}) == [percent.id]
    assert query_ids(ctx, "Customer", {"name__icontains": "_"}) == [underscore.id]
    assert query_ids(ctx, "Customer", {"name__startswith": "%"}) == []


# --- date parts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"created_at__year": 2025}, ["march", "newyearseve"]),
        ({"created_at__year": "2026"}, ["january"]),
        ({"created_at__year__gte": 2026}, ["january"]),
        ({"created_at__year__lt": 2026}, ["march", "newyearseve"]),
        ({"created_at__year__in": [2024, 2026]}, ["january"]),
        ({"created_at__month": 12}, ["newyearseve"]),
        ({"created_at__month__range": [1, 3]}, ["march", "january"]),
        ({"created_at__day": 2}, ["january"]),
        ({"created_at__quarter": 1}, ["march", "january"]),
        ({"created_at__hour__gte": 10}, ["march", "newyearseve"]),
        ({"created_at__date": "2025-12-31"}, ["newyearseve"]),
        ({"created_at__date__lt": "2026-01-01"}, ["march", "newyearseve"]),
        ({"created_at__lt": "2026-01-01"}, ["march", "newyearseve"]),
        ({"created_at__gte": "2025-12-31T23:00:00+00:00"}, ["newyearseve", "january"]),
        ({"created_at__range": ["2025-03-01", "2025-04-01"]}, ["march"]),
    ],
)
def test_date_parts_and_datetime_values_select_the_right_orders(ctx, where, expected):
    orders = {
        "march": OrderFactory(created_at=at("2025-03-15 10:00")),
        "newyearseve": OrderFactory(created_at=at("2025-12-31 23:30")),
        "january": OrderFactory(created_at=at("2026-01-02 08:00")),
    }

    assert query_ids(ctx, "Order", where) == sorted(orders[k].id for k in expected)


def test_date_parts_apply_to_date_fields(ctx):
    june = SubscriptionFactory(renews_on=dt.date(2026, 6, 30))
    SubscriptionFactory(renews_on=dt.date(2027, 1, 15))

    assert query_ids(ctx, "Subscription", {"renews_on__year": 2026}) == [june.id]
    assert query_ids(ctx, "Subscription", {"renews_on__month__gte": 6}) == [june.id]
    assert query_ids(ctx, "Subscription", {"renews_on__lte": "2026-12-31"}) == [june.id]


def test_a_time_part_on_a_date_field_is_refused(ctx):
    SubscriptionFactory()

    result = call_tool("db.query", ctx, model="Subscription", where={"renews_on__hour": 3})

    assert error_code(result) == ("error", "INVALID_ARGUMENTS")


# --- and / or / not ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"or": [{"status": "paid"}, {"total_cents__gte": 9000}]}, ["p1", "p2", "q1", "c1"]),
        ({"status": "paid", "not": {"currency": "USD"}}, ["p1"]),
        (
            {
                "and": [
                    {"currency": "EUR"},
                    {"or": [{"status": "pending"}, {"total_cents__lt": 2000}]},
                ]
            },
            ["p1", "q1", "q2"],
        ),
        ({"not": {"or": [{"status": "paid"}, {"currency": "USD"}]}}, ["q1", "q2"]),
        # "not" of a conjunction excludes only the rows matching all of it.
        ({"not": {"status": "paid", "currency": "USD"}}, ["p1", "q1", "q2", "c1"]),
        # Keys next to "or" are ANDed with it.
        ({"or": [{"status": "paid"}, {"status": "cancelled"}], "currency": "USD"}, ["p2", "c1"]),
        ({"not": {"not": {"status": "pending"}}}, ["q1", "q2"]),
        ({"and": [{"status": "paid"}, {"status": "pending"}]}, []),
        # A row never shipped was not shipped before March: "not" keeps NULLs.
        ({"not": {"shipped_at__lt": "2025-03-01"}}, ["p2", "q1", "q2", "c1"]),
    ],
)
def test_and_or_not_nest_with_boolean_semantics(ctx, where, expected):
    orders = {
        "p1": OrderFactory(status="paid", total_cents=1000, shipped_at=at("2025-01-10 12:00")),
        "p2": OrderFactory(
            status="paid", total_cents=9000, currency="USD", shipped_at=at("2025-06-01 12:00")
        ),
        "q1": OrderFactory(status="pending", total_cents=9000),
        "q2": OrderFactory(status="pending", total_cents=500),
        "c1": OrderFactory(status="cancelled", total_cents=20000, currency="USD"),
    }

    assert query_ids(ctx, "Order", where) == sorted(orders[k].id for k in expected)


@pytest.mark.parametrize(
    "where",
    [
        {"or": []},
        {"or": {"status": "paid"}},
        {"and": ["status"]},
        {"not": {}},
        {"not": [{"status": "paid"}]},
    ],
)
def test_malformed_nesting_is_invalid_arguments(ctx, where):
    OrderFactory()

    assert error_code(call_tool("db.query", ctx, model="Order", where=where)) == (
        "error",
        "INVALID_ARGUMENTS",
    )


# --- relations ---------------------------------------------------------------------------


def test_filters_follow_a_foreign_key_into_a_registered_model(ctx):
    ann = CustomerFactory(name="Ann Lee")
    bob = CustomerFactory(name="Bob Stone")
    ann_order = OrderFactory(customer=ann)
    OrderFactory(customer=bob)
    ann_sub = SubscriptionFactory(customer=ann)
    SubscriptionFactory(customer=bob)
    ann_note = NoteFactory(customer=ann)
    NoteFactory(customer=bob)

    where = {"customer__name__icontains": "ann"}
    assert query_ids(ctx, "Order", where) == [ann_order.id]
    assert query_ids(ctx, "Subscription", where) == [ann_sub.id]
    assert query_ids(ctx, "Note", where) == [ann_note.id]
    assert query_ids(ctx, "Order", {"customer__is_vip": False, "customer__name": "Ann Lee"}) == [
        ann_order.id
    ]


def test_foreign_key_values_filter_by_the_related_id(ctx):
    ann, bob, cleo = CustomerFactory(), CustomerFactory(), CustomerFactory()
    ann_order = OrderFactory(customer=ann)
    bob_order = OrderFactory(customer=bob)
    OrderFactory(customer=cleo)

    assert query_ids(ctx, "Order", {"customer": ann.id}) == [ann_order.id]
    assert query_ids(ctx, "Order", {"customer": str(ann.id)}) == [ann_order.id]
    assert query_ids(ctx, "Order", {"customer_id": ann.id}) == [ann_order.id]
    assert query_ids(ctx, "Order", {"customer__in": [ann.id, bob.id]}) == sorted(
        [ann_order.id, bob_order.id]
    )
    assert query_ids(ctx, "Order", {"customer_id__in": [bob.id]}) == [bob_order.id]
    assert query_ids(ctx, "Order", {"customer__id": bob.id}) == [bob_order.id]


def test_a_range_on_a_foreign_key_bounds_the_related_id(ctx):
    # Django has no range lookup on a ForeignKey; the compiler spells out the bounds.
    ann, bob, cleo = CustomerFactory(), CustomerFactory(), CustomerFactory()
    orders = [OrderFactory(customer=c) for c in (ann, bob, cleo)]

    assert query_ids(ctx, "Order", {"customer__range": [ann.id, bob.id]}) == sorted(
        o.id for o in orders[:2]
    )
    assert query_ids(ctx, "Order", {"customer_id__range": [bob.id, bob.id]}) == [orders[1].id]
    assert query_ids(ctx, "Order", {"not": {"customer__range": [ann.id, bob.id]}}) == [orders[2].id]


@pytest.fixture
def orders_only_policy():
    """Registers Order but not Customer: the relation can be filtered by id, not walked."""
    return (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Order"])
        .tenant_scope("tenant_id")
        .build()
    )


@pytest.mark.parametrize(
    "where",
    [
        {"customer__name__icontains": "ann"},
        {"customer__name": "Ann Lee"},
        {"customer__id": 1},
        {"customer__created_at__year": 2025},
        {"customer__name__regex": "^A"},
        {"or": [{"status": "paid"}, {"customer__is_vip": True}]},
        {"not": {"customer__name": "Ann Lee"}},
    ],
)
def test_walking_into_an_unregistered_model_is_relation_denied(ctx, orders_only_policy, where):
    OrderFactory(customer=CustomerFactory(name="Ann Lee", is_vip=True), status="paid")

    result = call_tool("db.query", ctx, orders_only_policy, model="Order", where=where)

    assert error_code(result) == ("denied", "RELATION_DENIED")
    assert "rows" not in result


def test_relation_denied_is_the_same_whether_or_not_the_value_matches(ctx, orders_only_policy):
    OrderFactory(customer=CustomerFactory(name="Ann Lee"))

    def attempt(name):
        result = call_tool(
            "db.query", ctx, orders_only_policy, model="Order", where={"customer__name": name}
        )
        result.pop("audit_id")
        return result

    assert attempt("Ann Lee") == attempt("Somebody Else")


def test_an_unregistered_relation_can_still_be_filtered_by_its_id(ctx, orders_only_policy):
    ann, bob = CustomerFactory(), CustomerFactory()
    ann_order = OrderFactory(customer=ann)
    OrderFactory(customer=bob)

    for where in ({"customer": ann.id}, {"customer_id": ann.id}, {"customer__in": [ann.id]}):
        assert query_ids(ctx, "Order", where, orders_only_policy) == [ann_order.id]


# --- the lookup allow-list ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("Customer", "name__regex"),
        ("Customer", "name__iregex"),
        ("Customer", "name__search"),
        ("Customer", "name__unaccent"),
        ("Customer", "name__trigram_similar"),
        ("Customer", "name__lower"),
        ("Customer", "name__icontains__exact"),
        ("Order", "created_at__year__regex"),
        ("Order", "created_at__date__year"),
        ("Order", "customer__name__regex"),
    ],
)
def test_a_lookup_outside_the_allow_list_is_denied(ctx, model, key):
    OrderFactory(customer=CustomerFactory(name="Ann Lee"))

    result = call_tool("db.query", ctx, model=model, where={key: "^A"})

    assert error_code(result) == ("denied", "LOOKUP_NOT_ALLOWED")
    assert "rows" not in result


def test_an_allowed_lookup_after_a_date_part_must_suit_the_part(ctx):
    OrderFactory()

    result = call_tool("db.query", ctx, model="Order", where={"created_at__year__icontains": "20"})

    assert error_code(result) == ("error", "INVALID_ARGUMENTS")


@pytest.mark.parametrize(
    ("model", "key", "value"),
    [
        ("Order", "total_cents__contains", "5"),
        ("Order", "total_cents__icontains", "5"),
        ("Order", "total_cents__startswith", "5"),
        ("Order", "total_cents__iexact", "5000"),
        ("Order", "created_at__icontains", "2025"),
        ("Order", "customer__endswith", "1"),
        ("Customer", "is_vip__istartswith", "t"),
        ("Customer", "is_vip__gt", False),
        ("Subscription", "monthly_price__contains", "29"),
        ("Subscription", "renews_on__iendswith", "30"),
    ],
)
def test_text_lookups_on_non_text_fields_are_refused(ctx, model, key, value):
    SubscriptionFactory()
    OrderFactory(total_cents=5000)

    result = call_tool("db.query", ctx, model=model, where={key: value})

    assert error_code(result) == ("error", "INVALID_ARGUMENTS")


# --- values go through the field's to_python ---------------------------------------------


def test_a_numeric_string_is_converted_for_an_integer_field(ctx):
    big = OrderFactory(total_cents=5000)
    OrderFactory(total_cents=4999)

    assert query_ids(ctx, "Order", {"total_cents": "5000"}) == [big.id]
    assert query_ids(ctx, "Order", {"total_cents__gte": " 5000 "}) == [big.id]
    assert query_ids(ctx, "Order", {"total_cents__in": ["5000", 1]}) == [big.id]


def test_a_decimal_string_is_converted_for_a_decimal_field(ctx):
    cheap = SubscriptionFactory(monthly_price="9.50")
    SubscriptionFactory(monthly_price="29.00")

    assert query_ids(ctx, "Subscription", {"monthly_price": "9.5"}) == [cheap.id]
    assert query_ids(ctx, "Subscription", {"monthly_price__lt": 10}) == [cheap.id]


@pytest.mark.parametrize(
    ("model", "where"),
    [
        ("Order", {"total_cents": "abc"}),
        ("Order", {"total_cents": "50.5"}),
        ("Order", {"total_cents": True}),
        ("Order", {"total_cents": {"gt": 1}}),
        ("Order", {"total_cents__in": ["5000", "abc"]}),
        ("Order", {"total_cents__in": "5000"}),
        ("Order", {"total_cents__range": [1000]}),
        ("Order", {"total_cents__range": [1000, "x"]}),
        ("Order", {"total_cents__gt": None}),
        ("Order", {"total_cents": 2**80}),
        ("Order", {"shipped_at__isnull": "yes"}),
        ("Order", {"created_at": "2026-13-40"}),
        ("Order", {"created_at__gte": "yesterday"}),
        ("Order", {"created_at__date": "2026-13-40"}),
        ("Order", {"created_at__year": "abc"}),
        ("Order", {"created_at__year": 0}),
        ("Order", {"customer": "abc"}),
        ("Order", {"customer__in": [1, "two"]}),
        ("Subscription", {"renews_on": "2026-13-40"}),
        ("Subscription", {"renews_on": 20260101}),
        ("Subscription", {"monthly_price": "abc"}),
        ("Subscription", {"monthly_price": "NaN"}),
        ("Subscription", {"monthly_price": "1e999999"}),
        ("Customer", {"is_vip": "maybe"}),
        ("Customer", {"name__icontains": 5}),
        ("Customer", {"id": "1; DROP TABLE shop_customer"}),
    ],
)
def test_a_value_the_field_cannot_hold_is_invalid_arguments_not_a_database_error(ctx, model, where):
    SubscriptionFactory()
    OrderFactory()

    result = call_tool("db.query", ctx, model=model, where=where)

    assert error_code(result) == ("error", "INVALID_ARGUMENTS")
    assert "Traceback" not in result["error"]["message"]


@pytest.mark.parametrize(
    ("where", "code"),
    [({"status": "paid\x00"}, "INVALID_ARGUMENTS"), ({"sta\x00tus": "paid"}, "UNKNOWN_FIELD")],
)
def test_a_nul_character_in_where_is_refused_and_the_refusal_audited(ctx, where, code):
    OrderFactory()

    result = call_tool("db.query", ctx, model="Order", where=where)

    assert error_code(result) == ("error", code)
    event = AuditEvent.objects.get(pk=result["audit_id"])
    assert (event.tool, event.outcome, event.error_code) == ("db.query", "error", code)


def test_an_integer_beyond_the_column_range_matches_nothing(ctx):
    OrderFactory(total_cents=5000)

    assert query_ids(ctx, "Order", {"total_cents": 2**40}) == []
    assert query_ids(ctx, "Order", {"total_cents__gt": 2**40}) == []
    assert len(query_ids(ctx, "Order", {"total_cents__lt": 2**40})) == 1


def test_bad_values_are_refused_in_aggregate_too(ctx):
    OrderFactory()

    result = call_tool(
        "db.aggregate",
        ctx,
        model="Order",
        where={"created_at__date": "2026-13-40"},
        aggregations={"n": {"count": "id"}},
    )

    assert error_code(result) == ("error", "INVALID_ARGUMENTS")


def test_where_filters_aggregate_results(ctx):
    OrderFactory(status="paid", total_cents=1000)
    OrderFactory(status="paid", total_cents=2500)
    OrderFactory(status="pending", total_cents=9000)

    result = call_tool(
        "db.aggregate",
        ctx,
        model="Order",
        where={"or": [{"status": "paid"}, {"total_cents__lt": 100}]},
        aggregations={"total": {"sum": "total_cents"}, "n": {"count": "id"}},
    )

    assert result["outcome"] == "ok", result
    assert result["result"] == {"total": 3500, "n": 2}
