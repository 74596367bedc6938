"""db.aggregate: count, sum, avg, min, max, count_distinct over the rows a context may see."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from ormai_django import DEFAULT_PROD, PolicyBuilder, ToolContext, execute
from ormai_django.models import AuditEvent
from tests.factories import CustomerFactory, NoteFactory, OrderFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-agg")


def aggregate(arguments, policy=None, context=AGENT):
    return execute({"name": "db.aggregate", "arguments": arguments}, context, policy=policy)


def ok(result):
    assert result["outcome"] == "ok", result
    return result


def refused(result, code="INVALID_ARGUMENTS", outcome="error"):
    assert result["outcome"] == outcome, result
    assert result["error"]["code"] == code, result
    assert "result" not in result and "groups" not in result
    return result["error"]


def orders(*specs, tenant_id=7):
    """Orders of one customer from ``(status, total_cents)`` pairs."""
    customer = CustomerFactory(tenant_id=tenant_id)
    return [OrderFactory(customer=customer, status=s, total_cents=t) for s, t in specs]


# --- the functions ------------------------------------------------------------------------


def test_every_function_over_orders_matches_the_rows():
    made = orders(("paid", 1000), ("paid", 2500), ("pending", 400), ("shipped", 2500))
    totals = [o.total_cents for o in made]

    result = ok(
        aggregate(
            {
                "model": "Order",
                "aggregations": {
                    "n": {"count": "id"},
                    "total": {"sum": "total_cents"},
                    "mean": {"avg": "total_cents"},
                    "smallest": {"min": "total_cents"},
                    "largest": {"max": "total_cents"},
                    "statuses": {"count_distinct": "status"},
                    "amounts": {"count_distinct": "total_cents"},
                },
            }
        )
    )["result"]

    assert result == {
        "n": len(made),
        "total": sum(totals),
        "mean": pytest.approx(sum(totals) / len(totals)),
        "smallest": min(totals),
        "largest": max(totals),
        "statuses": len({o.status for o in made}),
        "amounts": len(set(totals)),
    }


def test_count_star_counts_every_visible_row():
    made = orders(("paid", 1), ("paid", 2), ("pending", 3))
    orders(("paid", 4), tenant_id=8)

    result = ok(aggregate({"model": "Order", "aggregations": {"n": {"count": "*"}}}))

    assert result["result"] == {"n": len(made)}


def test_count_of_a_nullable_field_counts_only_set_values():
    customer = CustomerFactory()
    OrderFactory(customer=customer, shipped_at=timezone.now())
    OrderFactory.create_batch(2, customer=customer, shipped_at=None)

    result = ok(
        aggregate(
            {
                "model": "Order",
                "aggregations": {"shipped": {"count": "shipped_at"}, "all": {"count": "*"}},
            }
        )
    )

    assert result["result"] == {"shipped": 1, "all": 3}


def test_min_and_max_of_dates_and_strings_are_json_values():
    customer = CustomerFactory()
    early = timezone.now() - dt.timedelta(days=3)
    late = timezone.now()
    OrderFactory(customer=customer, created_at=early, status="paid")
    OrderFactory(customer=customer, created_at=late, status="shipped")

    result = ok(
        aggregate(
            {
                "model": "Order",
                "aggregations": {
                    "first": {"min": "created_at"},
                    "last": {"max": "created_at"},
                    "lowest_status": {"min": "status"},
                },
            }
        )
    )["result"]

    assert dt.datetime.fromisoformat(result["first"]) == early
    assert dt.datetime.fromisoformat(result["last"]) == late
    assert result["lowest_status"] == "paid"


def test_aggregate_with_where_counts_only_matching_rows():
    made = orders(("paid", 1000), ("paid", 3000), ("pending", 500), ("cancelled", 9000))
    paid = [o for o in made if o.status == "paid"]

    result = ok(
        aggregate(
            {
                "model": "Order",
                "where": {"status": "paid"},
                "aggregations": {"n": {"count": "*"}, "total": {"sum": "total_cents"}},
            }
        )
    )

    assert result["result"] == {"n": len(paid), "total": sum(o.total_cents for o in paid)}


def test_aggregate_with_nested_where_and_relation_filter():
    ann = CustomerFactory(name="Ann Lee")
    bob = CustomerFactory(name="Bob Stone")
    OrderFactory(customer=ann, status="paid", total_cents=100)
    OrderFactory(customer=ann, status="cancelled", total_cents=200)
    OrderFactory(customer=bob, status="paid", total_cents=400)

    result = ok(
        aggregate(
            {
                "model": "Order",
                "where": {"customer__name__icontains": "ann", "not": {"status": "cancelled"}},
                "aggregations": {"total": {"sum": "total_cents"}},
            }
        )
    )

    assert result["result"] == {"total": 100}


def test_aggregate_sees_only_the_contexts_tenant_and_no_soft_deleted_rows():
    mine = CustomerFactory(tenant_id=7)
    theirs = CustomerFactory(tenant_id=8)
    NoteFactory.create_batch(2, customer=mine)
    NoteFactory(customer=mine, deleted_at=timezone.now())
    NoteFactory.create_batch(5, customer=theirs)

    result = ok(aggregate({"model": "Note", "aggregations": {"n": {"count": "*"}}}))

    assert result["result"] == {"n": 2}


def test_aggregate_on_a_tenant_scoped_model_without_tenant_is_denied():
    orders(("paid", 1))

    result = aggregate(
        {"model": "Order", "aggregations": {"n": {"count": "*"}}},
        context=ToolContext(principal="agent:support-bot"),
    )

    refused(result, "TENANT_REQUIRED", outcome="denied")


# --- group_by ---------------------------------------------------------------------------


def test_group_by_returns_one_object_per_group_with_correct_counts():
    made = orders(("paid", 100), ("paid", 200), ("paid", 300), ("pending", 50), ("shipped", 70))
    orders(("refunded", 1), ("paid", 1), tenant_id=8)
    statuses = sorted({o.status for o in made})

    result = ok(
        aggregate(
            {
                "model": "Order",
                "group_by": "status",
                "aggregations": {"n": {"count": "*"}, "total": {"sum": "total_cents"}},
            }
        )
    )

    expected = [
        {
            "status": status,
            "n": sum(1 for o in made if o.status == status),
            "total": sum(o.total_cents for o in made if o.status == status),
        }
        for status in statuses
    ]
    assert result["groups"] == expected
    assert result["count"] == len(statuses)
    assert result["truncated"] is False
    assert "result" not in result


def test_group_by_two_fields_gives_one_object_per_combination():
    customer = CustomerFactory()
    specs = [("paid", "EUR"), ("paid", "EUR"), ("paid", "USD"), ("pending", "EUR")]
    for status, currency in specs:
        OrderFactory(customer=customer, status=status, currency=currency)

    result = ok(
        aggregate(
            {
                "model": "Order",
                "group_by": ["status", "currency"],
                "aggregations": {"n": {"count": "id"}},
            }
        )
    )

    expected = [
        {"status": s, "currency": c, "n": specs.count((s, c))} for s, c in sorted(set(specs))
    ]
    assert result["groups"] == expected


def test_group_by_a_foreign_key_groups_by_the_related_id():
    ann, bob = CustomerFactory(), CustomerFactory()
    OrderFactory.create_batch(3, customer=ann)
    OrderFactory(customer=bob)

    result = ok(
        aggregate(
            {"model": "Order", "group_by": ["customer"], "aggregations": {"n": {"count": "*"}}}
        )
    )

    assert sorted((g["customer"], g["n"]) for g in result["groups"]) == sorted(
        [(ann.id, 3), (bob.id, 1)]
    )


def test_group_by_over_an_empty_set_gives_no_groups():
    orders(("paid", 1))

    result = ok(
        aggregate(
            {
                "model": "Order",
                "where": {"status": "refunded"},
                "group_by": "status",
                "aggregations": {"n": {"count": "*"}},
            }
        )
    )

    assert result["groups"] == []
    assert result["count"] == 0


def test_group_by_beyond_the_profiles_group_cap_is_truncated():
    policy = (
        PolicyBuilder(DEFAULT_PROD.replace(max_aggregate_groups=2))
        .register_models(["shop.Customer", "shop.Order"])
        .tenant_scope("tenant_id")
        .build()
    )
    orders(("paid", 1), ("pending", 2), ("shipped", 3))

    result = ok(
        aggregate(
            {"model": "Order", "group_by": "status", "aggregations": {"n": {"count": "*"}}},
            policy,
        )
    )

    assert result["count"] == 2
    assert len(result["groups"]) == 2
    assert result["truncated"] is True


@pytest.mark.parametrize("group_by", [[], 5, [5], {"status": 1}, ["status"] * 6], ids=repr)
def test_malformed_group_by_is_invalid_arguments(group_by):
    orders(("paid", 1))

    result = aggregate(
        {"model": "Order", "group_by": group_by, "aggregations": {"n": {"count": "*"}}}
    )

    refused(result)


def test_group_by_a_denied_field_is_denied():
    CustomerFactory()

    result = aggregate(
        {"model": "Customer", "group_by": "password_hash", "aggregations": {"n": {"count": "*"}}}
    )

    refused(result, "FIELD_DENIED", outcome="denied")


def test_group_by_a_masked_field_is_denied():
    CustomerFactory()

    result = aggregate(
        {"model": "Customer", "group_by": "email", "aggregations": {"n": {"count": "*"}}}
    )

    refused(result, "FIELD_DENIED", outcome="denied")


def test_aggregation_name_equal_to_a_group_by_field_is_refused():
    orders(("paid", 1))

    result = aggregate(
        {"model": "Order", "group_by": "status", "aggregations": {"status": {"count": "*"}}}
    )

    refused(result)


# --- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize("function", ["sum", "avg"])
@pytest.mark.parametrize("field", ["status", "currency", "created_at", "customer"])
def test_sum_and_avg_of_a_non_numeric_field_are_refused(function, field):
    orders(("paid", 1))

    error = refused(aggregate({"model": "Order", "aggregations": {"x": {function: field}}}))

    assert function in error["message"]


def test_sum_of_a_boolean_is_refused():
    CustomerFactory(is_vip=True)

    refused(aggregate({"model": "Customer", "aggregations": {"x": {"sum": "is_vip"}}}))


@pytest.mark.parametrize("function", ["median", "SUM", "stddev", "count_all", "", "raw"])
def test_unknown_function_is_refused_naming_the_known_ones(function):
    orders(("paid", 1))

    error = refused(aggregate({"model": "Order", "aggregations": {"x": {function: "total_cents"}}}))

    for known in ("count", "sum", "avg", "min", "max", "count_distinct"):
        assert known in error["message"]


@pytest.mark.parametrize(
    "aggregations",
    [
        {},
        [],
        "count",
        ["count", "id"],
        {"n": "count"},
        {"n": ["count", "id"]},
        {"n": {}},
        {"n": {"sum": "total_cents", "max": "total_cents"}},
        {"n": {"sum": 5}},
        {"n": {"sum": None}},
        {"n": {"sum": ""}},
        {"n": {"sum": ["total_cents"]}},
        {"n" * 65: {"count": "*"}},
        {"": {"count": "*"}},
        {f"a{i}": {"count": "*"} for i in range(21)},
    ],
    ids=[
        "empty",
        "list",
        "string",
        "list-of-strings",
        "spec-string",
        "spec-list",
        "spec-empty",
        "two-functions",
        "field-number",
        "field-null",
        "field-empty",
        "field-list",
        "name-too-long",
        "name-empty",
        "too-many",
    ],
)
def test_malformed_aggregations_are_invalid_arguments(aggregations):
    orders(("paid", 1))

    refused(aggregate({"model": "Order", "aggregations": aggregations}))


def test_missing_aggregations_is_invalid_arguments():
    refused(aggregate({"model": "Order"}))


def test_unknown_field_is_unknown_field():
    orders(("paid", 1))

    refused(
        aggregate({"model": "Order", "aggregations": {"x": {"sum": "discount_cents"}}}),
        "UNKNOWN_FIELD",
    )


@pytest.mark.parametrize("function", ["count", "count_distinct", "min", "max"])
@pytest.mark.parametrize("field", ["password_hash", "api_token"])
def test_aggregating_a_denied_field_is_denied(function, field):
    CustomerFactory()

    refused(
        aggregate({"model": "Customer", "aggregations": {"x": {function: field}}}),
        "FIELD_DENIED",
        outcome="denied",
    )


@pytest.mark.parametrize("function", ["count", "count_distinct", "min", "max"])
def test_aggregating_a_masked_field_is_denied(function):
    CustomerFactory()

    refused(
        aggregate({"model": "Customer", "aggregations": {"x": {function: "email"}}}),
        "FIELD_DENIED",
        outcome="denied",
    )


def test_aggregating_through_a_relation_is_not_a_lookup_path():
    orders(("paid", 1))

    result = aggregate({"model": "Order", "aggregations": {"x": {"max": "customer__email"}}})
    other = aggregate({"model": "Order", "aggregations": {"x": {"max": "customer__nothing"}}})

    # Whatever the refusal, it is the same for a masked and an unknown related field.
    assert result["outcome"] in ("error", "denied")
    assert (result["outcome"], result["error"]["code"]) == (
        other["outcome"],
        other["error"]["code"],
    )


# --- empty sets and decimals --------------------------------------------------------------


def test_empty_set_gives_count_zero_and_null_for_the_others():
    orders(("paid", 1000))

    result = ok(
        aggregate(
            {
                "model": "Order",
                "where": {"status": "refunded"},
                "aggregations": {
                    "n": {"count": "*"},
                    "distinct": {"count_distinct": "status"},
                    "total": {"sum": "total_cents"},
                    "mean": {"avg": "total_cents"},
                    "smallest": {"min": "total_cents"},
                    "largest": {"max": "created_at"},
                },
            }
        )
    )

    assert result["result"] == {
        "n": 0,
        "distinct": 0,
        "total": None,
        "mean": None,
        "smallest": None,
        "largest": None,
    }


def test_empty_model_gives_count_zero_and_sum_null():
    result = ok(
        aggregate(
            {"model": "Subscription", "aggregations": {"n": {"count": "*"}, "s": {"sum": "seats"}}}
        )
    )

    assert result["result"] == {"n": 0, "s": None}


def test_decimal_results_are_strings_with_the_exact_value():
    customer = CustomerFactory()
    prices = [Decimal("29.00"), Decimal("10.50"), Decimal("0.25"), Decimal("100.10")]
    for price in prices:
        SubscriptionFactory(customer=customer, monthly_price=price)

    result = ok(
        aggregate(
            {
                "model": "Subscription",
                "aggregations": {
                    "total": {"sum": "monthly_price"},
                    "mean": {"avg": "monthly_price"},
                    "low": {"min": "monthly_price"},
                    "high": {"max": "monthly_price"},
                },
            }
        )
    )["result"]

    assert all(isinstance(value, str) for value in result.values()), result
    assert Decimal(result["total"]) == sum(prices)
    assert Decimal(result["mean"]) == sum(prices) / len(prices)
    assert Decimal(result["low"]) == min(prices)
    assert Decimal(result["high"]) == max(prices)


def test_min_and_max_of_a_decimal_read_like_the_fields_own_values():
    customer = CustomerFactory()
    SubscriptionFactory(customer=customer, monthly_price=Decimal("29.00"))
    SubscriptionFactory(customer=customer, monthly_price=Decimal("12.50"))
    rows = execute(
        {"name": "db.query", "arguments": {"model": "Subscription", "fields": ["monthly_price"]}},
        AGENT,
    )["rows"]
    as_read = {Decimal(r["monthly_price"]): r["monthly_price"] for r in rows}

    result = ok(
        aggregate(
            {
                "model": "Subscription",
                "aggregations": {
                    "low": {"min": "monthly_price"},
                    "high": {"max": "monthly_price"},
                },
            }
        )
    )["result"]

    # The same value, spelled the same way on every database: "29.00", as db.query shows it.
    assert result == {"low": as_read[Decimal("12.50")], "high": as_read[Decimal("29.00")]}


def test_grouped_decimal_sums_are_strings():
    customer = CustomerFactory()
    SubscriptionFactory(customer=customer, plan="basic", monthly_price=Decimal("9.99"))
    SubscriptionFactory(customer=customer, plan="basic", monthly_price=Decimal("0.01"))
    SubscriptionFactory(customer=customer, plan="pro", monthly_price=Decimal("49.50"))

    groups = ok(
        aggregate(
            {
                "model": "Subscription",
                "group_by": "plan",
                "aggregations": {"total": {"sum": "monthly_price"}},
            }
        )
    )["groups"]

    assert [g["plan"] for g in groups] == ["basic", "pro"]
    assert all(isinstance(g["total"], str) for g in groups)
    assert [Decimal(g["total"]) for g in groups] == [Decimal("10.00"), Decimal("49.50")]


# --- aliases ------------------------------------------------------------------------------


def test_alias_named_like_a_denied_field_is_just_a_name():
    customers = CustomerFactory.create_batch(3)

    result = ok(
        aggregate(
            {
                "model": "Customer",
                "aggregations": {
                    "password_hash": {"count": "*"},
                    "api_token": {"max": "id"},
                    "customer__password_hash": {"min": "id"},
                },
            }
        )
    )

    assert result["result"] == {
        "password_hash": len(customers),
        "api_token": max(c.id for c in customers),
        "customer__password_hash": min(c.id for c in customers),
    }
    text = str(result)
    for customer in customers:
        assert customer.password_hash not in text
        assert customer.api_token not in text


def test_alias_named_like_a_field_of_the_model_is_just_a_name():
    made = orders(("paid", 100), ("paid", 300))

    result = ok(
        aggregate(
            {
                "model": "Order",
                "aggregations": {
                    "total_cents": {"sum": "total_cents"},
                    "id": {"count": "*"},
                    "status": {"max": "total_cents"},
                    "pk": {"min": "total_cents"},
                },
            }
        )
    )

    assert result["result"] == {
        "total_cents": sum(o.total_cents for o in made),
        "id": len(made),
        "status": max(o.total_cents for o in made),
        "pk": min(o.total_cents for o in made),
    }


def test_alias_named_like_a_denied_field_in_a_grouped_aggregate_leaks_nothing():
    customers = [CustomerFactory(is_vip=True), CustomerFactory(), CustomerFactory()]

    result = ok(
        aggregate(
            {
                "model": "Customer",
                "group_by": "is_vip",
                "aggregations": {"password_hash": {"count": "id"}},
            }
        )
    )

    assert result["groups"] == [
        {"is_vip": False, "password_hash": 2},
        {"is_vip": True, "password_hash": 1},
    ]
    text = str(result)
    assert not any(c.password_hash in text for c in customers)


def test_aggregate_is_audited_with_its_model_and_arguments():
    orders(("paid", 1))
    arguments = {"model": "Order", "aggregations": {"n": {"count": "*"}}}

    result = ok(aggregate(arguments))

    event = AuditEvent.objects.get(id=result["audit_id"])
    assert (event.tool, event.model, event.outcome) == ("db.aggregate", "shop.Order", "ok")
    assert event.arguments == arguments
