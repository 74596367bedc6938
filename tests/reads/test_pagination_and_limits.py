"""Row limits and signed cursors of db.query: every row once, nothing beyond the policy's caps."""

import pytest
from django.test import override_settings
from django.utils import timezone

from ormai_django import DEFAULT_DEV, DEFAULT_PROD, PolicyBuilder, ToolContext, execute
from ormai_django.errors import PolicyConfigurationError
from sandbox_project.shop.models import Order
from tests.factories import CustomerFactory, NoteFactory, OrderFactory

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-pages")


def orders_policy(profile=DEFAULT_PROD, **row_limits):
    builder = (
        PolicyBuilder(profile)
        .register_models(["shop.Customer", "shop.Order", "shop.Note"])
        .mask_fields(["customer.email", "customer.phone"])
        .tenant_scope("tenant_id")
    )
    if row_limits:
        builder = builder.row_limits(**row_limits)
    return builder.build()


def query(arguments, policy, context=AGENT):
    return execute({"name": "db.query", "arguments": arguments}, context, policy=policy)


def walk(arguments, policy, context=AGENT, max_pages=50):
    """Every page of a query, following next_cursor; the pages as lists of rows."""
    pages = []
    cursor = None
    for _ in range(max_pages):
        result = query({**arguments, "cursor": cursor}, policy, context)
        assert result["outcome"] == "ok", result
        assert result["count"] == len(result["rows"])
        pages.append(result["rows"])
        cursor = result["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError(f"the query still had a next_cursor after {max_pages} pages")


def make_orders(totals, tenant_id=7, **extra):
    customer = CustomerFactory(tenant_id=tenant_id)
    return [OrderFactory(customer=customer, total_cents=t, **extra) for t in totals]


# --- limits ------------------------------------------------------------------------------


def test_query_without_limit_returns_the_profiles_default_page_size():
    make_orders([100] * (DEFAULT_PROD.default_limit + 1))

    result = query({"model": "Order"}, orders_policy())

    assert result["outcome"] == "ok"
    assert result["count"] == DEFAULT_PROD.default_limit
    assert len(result["rows"]) == DEFAULT_PROD.default_limit
    assert result["next_cursor"] is not None


def test_dev_profile_has_its_own_default_page_size():
    assert DEFAULT_DEV.default_limit != DEFAULT_PROD.default_limit
    make_orders([100] * (DEFAULT_DEV.default_limit + 1))

    result = query({"model": "Order"}, orders_policy(DEFAULT_DEV))

    assert result["count"] == DEFAULT_DEV.default_limit
    assert result["next_cursor"] is not None


def test_null_limit_means_the_default_page_size():
    policy = orders_policy(default=2, max=5)
    make_orders([1, 2, 3])

    result = query({"model": "Order", "limit": None}, policy)

    assert result["outcome"] == "ok"
    assert result["count"] == 2


def test_limit_equal_to_the_maximum_is_accepted():
    policy = orders_policy()
    make_orders([1, 2])

    result = query({"model": "Order", "limit": DEFAULT_PROD.max_limit}, policy)

    assert result["outcome"] == "ok"
    assert result["count"] == 2
    assert result["next_cursor"] is None


@pytest.mark.parametrize(
    "limit",
    [DEFAULT_PROD.max_limit + 1, 10**12, 0, -1, -50, "10", 2.5, 1.0, True, False, [5], {"n": 5}],
    ids=repr,
)
def test_limit_outside_one_to_max_or_not_an_integer_is_invalid_arguments(limit):
    make_orders([1, 2, 3])

    result = query({"model": "Order", "limit": limit}, orders_policy())

    assert result["outcome"] == "error"
    assert result["error"]["code"] == "INVALID_ARGUMENTS"
    assert "limit" in result["error"]["message"]
    assert "rows" not in result


def test_row_limits_override_the_profiles_default_and_maximum():
    policy = orders_policy(default=2, max=3)
    assert (policy.default_limit, policy.max_limit) == (2, 3)
    make_orders([1, 2, 3, 4])

    default_page = query({"model": "Order"}, policy)
    largest_page = query({"model": "Order", "limit": 3}, policy)
    too_large = query({"model": "Order", "limit": 4}, policy)

    assert default_page["count"] == 2
    assert largest_page["count"] == 3
    assert too_large["outcome"] == "error"
    assert too_large["error"]["code"] == "INVALID_ARGUMENTS"
    assert "3" in too_large["error"]["message"]


def test_row_limits_default_alone_keeps_the_profiles_maximum():
    policy = orders_policy(default=3)

    assert policy.default_limit == 3
    assert policy.max_limit == DEFAULT_PROD.max_limit
    make_orders([1, 2, 3, 4])
    assert query({"model": "Order"}, policy)["count"] == 3
    assert query({"model": "Order", "limit": DEFAULT_PROD.max_limit}, policy)["count"] == 4


def test_row_limits_can_raise_the_maximum_above_the_profiles():
    policy = orders_policy(max=DEFAULT_PROD.max_limit + 500)

    assert policy.default_limit == DEFAULT_PROD.default_limit
    make_orders([1])
    result = query({"model": "Order", "limit": DEFAULT_PROD.max_limit + 500}, policy)
    assert result["outcome"] == "ok"


def test_row_limits_with_default_above_max_is_a_configuration_error():
    builder = (
        PolicyBuilder(DEFAULT_PROD).register_models(["shop.Order"]).row_limits(default=10, max=5)
    )

    with pytest.raises(PolicyConfigurationError) as excinfo:
        builder.build()

    assert "row_limits" in str(excinfo.value)


@pytest.mark.parametrize("bad", [0, -1, True, 2.5, "10"], ids=repr)
def test_row_limits_refuse_values_that_are_not_positive_integers(bad):
    with pytest.raises(ValueError):
        PolicyBuilder(DEFAULT_PROD).row_limits(default=bad)
    with pytest.raises(ValueError):
        PolicyBuilder(DEFAULT_PROD).row_limits(max=bad)


# --- cursors walk every row exactly once ---------------------------------------------------


def test_next_cursor_walks_every_row_exactly_once_in_id_order():
    orders = make_orders(range(1, 8))
    make_orders([5, 6], tenant_id=8)  # another tenant's rows never show up on any page

    pages = walk({"model": "Order", "limit": 3}, orders_policy())

    assert [len(page) for page in pages] == [3, 3, 1]
    ids = [row["id"] for page in pages for row in page]
    assert ids == sorted(o.id for o in orders)


def test_next_cursor_is_none_when_the_last_page_is_exactly_full():
    orders = make_orders(range(6))

    pages = walk({"model": "Order", "limit": 3}, orders_policy())

    assert [len(page) for page in pages] == [3, 3]
    assert [row["id"] for page in pages for row in page] == sorted(o.id for o in orders)


def test_next_cursor_is_none_when_everything_fits_on_one_page():
    make_orders([1, 2])

    result = query({"model": "Order", "limit": 5}, orders_policy())

    assert result["count"] == 2
    assert result["next_cursor"] is None


def test_query_with_no_matching_rows_has_no_next_cursor():
    make_orders([1, 2])

    result = query({"model": "Order", "where": {"total_cents__gt": 99}}, orders_policy())

    assert result == {**result, "rows": [], "count": 0, "next_cursor": None}


def test_next_cursor_follows_a_custom_descending_order():
    orders = make_orders([500, 100, 900, 300, 700, 200, 800])

    pages = walk({"model": "Order", "order_by": ["-total_cents"], "limit": 2}, orders_policy())

    totals = [row["total_cents"] for page in pages for row in page]
    assert totals == sorted((o.total_cents for o in orders), reverse=True)
    assert len({row["id"] for page in pages for row in page}) == len(orders)


def test_next_cursor_with_ties_in_the_order_returns_every_row_exactly_once():
    orders = make_orders([300, 100, 300, 100, 300, 100, 300, 200, 300])

    pages = walk({"model": "Order", "order_by": "total_cents", "limit": 2}, orders_policy())

    rows = [row for page in pages for row in page]
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)) == len(orders)
    assert set(ids) == {o.id for o in orders}
    totals = [row["total_cents"] for row in rows]
    assert totals == sorted(totals)


def test_next_cursor_with_all_rows_tied_on_two_fields_returns_every_row_exactly_once():
    orders = make_orders([100] * 11, status="paid")

    pages = walk(
        {"model": "Order", "order_by": ["-status", "total_cents"], "limit": 3}, orders_policy()
    )

    ids = [row["id"] for page in pages for row in page]
    assert sorted(ids) == sorted(o.id for o in orders)
    assert len(ids) == len(set(ids))


def test_next_cursor_follows_a_descending_id_order():
    orders = make_orders(range(5))

    pages = walk({"model": "Order", "order_by": ["-id"], "limit": 2}, orders_policy())

    assert [row["id"] for page in pages for row in page] == sorted(
        (o.id for o in orders), reverse=True
    )


def test_next_cursor_keeps_the_where_and_fields_of_the_first_page():
    customer = CustomerFactory()
    paid = [OrderFactory(customer=customer, status="paid", total_cents=n) for n in range(5)]
    OrderFactory.create_batch(3, customer=customer, status="pending")
    arguments = {
        "model": "Order",
        "where": {"status": "paid"},
        "fields": ["status"],
        "limit": 2,
    }

    pages = walk(arguments, orders_policy())

    rows = [row for page in pages for row in page]
    assert [row["id"] for row in rows] == sorted(o.id for o in paid)
    assert all(set(row) == {"id", "status"} for row in rows)


def test_soft_deleted_rows_are_skipped_by_every_page():
    customer = CustomerFactory()
    live = NoteFactory.create_batch(4, customer=customer)
    NoteFactory.create_batch(3, customer=customer, deleted_at=timezone.now())

    pages = walk({"model": "Note", "limit": 3}, orders_policy())

    assert [row["id"] for page in pages for row in page] == sorted(n.id for n in live)


def test_the_same_cursor_returns_the_same_page_when_repeated():
    make_orders(range(5))
    policy = orders_policy()
    cursor = query({"model": "Order", "limit": 2}, policy)["next_cursor"]

    first = query({"model": "Order", "limit": 2, "cursor": cursor}, policy)
    again = query({"model": "Order", "limit": 2, "cursor": cursor}, policy)

    assert first["rows"] == again["rows"]
    assert first["next_cursor"] == again["next_cursor"]


def test_cursor_still_fits_when_the_where_is_resent_with_keys_in_another_order():
    customer = CustomerFactory()
    for n in range(4):
        OrderFactory(customer=customer, status="paid", currency="EUR", total_cents=n)
    policy = orders_policy()
    first = query(
        {"model": "Order", "where": {"status": "paid", "currency": "EUR"}, "limit": 2}, policy
    )

    second = query(
        {
            "model": "Order",
            "where": {"currency": "EUR", "status": "paid"},
            "limit": 2,
            "cursor": first["next_cursor"],
        },
        policy,
    )

    assert second["outcome"] == "ok"
    ids = [r["id"] for r in first["rows"] + second["rows"]]
    assert sorted(ids) == sorted(Order.objects.filter(tenant_id=7).values_list("id", flat=True))


# --- cursors that don't belong to the query -----------------------------------------------


def test_deleting_a_seen_row_between_pages_skips_no_unseen_row():
    orders = make_orders([100] * 6)
    policy = orders_policy()
    first = query({"model": "Order", "limit": 3}, policy)

    orders[0].delete()  # a row of the first page goes away before page two is asked for
    second = query({"model": "Order", "limit": 3, "cursor": first["next_cursor"]}, policy)

    assert [r["id"] for r in second["rows"]] == [o.id for o in orders[3:]]


def test_a_row_inserted_before_the_cursor_is_not_returned_twice_or_shifting_the_page():
    orders = make_orders([500, 400, 300, 200, 100])
    policy = orders_policy()
    arguments = {"model": "Order", "order_by": ["-total_cents"], "limit": 2}
    first = query(arguments, policy)

    make_orders([450])  # sorts into the first page, which was already read
    second = query({**arguments, "cursor": first["next_cursor"]}, policy)

    assert [r["id"] for r in first["rows"]] == [orders[0].id, orders[1].id]
    assert [r["id"] for r in second["rows"]] == [orders[2].id, orders[3].id]


@pytest.mark.parametrize("order_by", ["shipped_at", "-shipped_at"])
def test_nulls_sort_as_the_smallest_value_on_every_database(order_by):
    customer = CustomerFactory()
    now = timezone.now()
    shipped = [
        OrderFactory(customer=customer, shipped_at=now - timezone.timedelta(days=d))
        for d in (3, 1, 2)
    ]
    unshipped = [OrderFactory(customer=customer, shipped_at=None) for _ in range(3)]
    policy = orders_policy()

    pages = walk({"model": "Order", "order_by": [order_by], "limit": 2}, policy)
    ids = [row["id"] for page in pages for row in page]

    by_date = [o.id for o in sorted(shipped, key=lambda o: o.shipped_at)]
    nulls = [o.id for o in unshipped]  # ties broken by id
    expected = nulls + by_date if order_by == "shipped_at" else by_date[::-1] + nulls
    assert ids == expected


def first_cursor(arguments, policy, context=AGENT):
    result = query({**arguments, "limit": 2}, policy, context)
    assert result["next_cursor"] is not None
    return result["next_cursor"]


def assert_invalid_cursor(result):
    assert result["outcome"] == "error", result
    assert result["error"]["code"] == "INVALID_CURSOR"
    assert "rows" not in result
    assert "cursor" in result["error"]["message"]


def test_tampered_cursor_is_invalid_cursor():
    make_orders(range(5))
    policy = orders_policy()
    cursor = first_cursor({"model": "Order"}, policy)

    for tampered in (
        cursor[:-1] + ("A" if cursor[-1] != "A" else "B"),
        ("A" if cursor[0] != "A" else "B") + cursor[1:],
        cursor[: len(cursor) // 2],
        cursor + "x",
        cursor.replace(":", ";", 1),
    ):
        assert_invalid_cursor(query({"model": "Order", "limit": 2, "cursor": tampered}, policy))


@pytest.mark.parametrize(
    "cursor",
    ["abc", "", "eyJvIjoyLCJmIjoiMDAwMDAifQ:1tXyZ:abcdef", "x" * 5000, 2, True, ["c"], {"o": 2}],
    ids=repr,
)
def test_cursor_that_this_query_never_returned_is_invalid_cursor(cursor):
    make_orders(range(5))

    result = query({"model": "Order", "limit": 2, "cursor": cursor}, orders_policy())

    assert_invalid_cursor(result)


def test_cursor_signed_with_another_secret_key_is_invalid_cursor():
    make_orders(range(5))
    policy = orders_policy()
    with override_settings(SECRET_KEY="another-deployment-secret-key-0123456789"):
        cursor = first_cursor({"model": "Order"}, policy)

    assert_invalid_cursor(query({"model": "Order", "limit": 2, "cursor": cursor}, policy))


@pytest.mark.parametrize(
    "change",
    [
        {"where": {"status": "paid"}},
        {"where": {"total_cents__gte": 0}},
        {"order_by": ["-total_cents"]},
        {"order_by": ["total_cents"]},
        {"fields": ["status"]},
        {"fields": ["status", "total_cents"]},
    ],
    ids=["where", "other-where", "order-desc", "order-asc", "fields", "more-fields"],
)
def test_cursor_from_a_query_with_another_where_order_or_fields_is_invalid_cursor(change):
    customer = CustomerFactory()
    for n in range(5):
        OrderFactory(customer=customer, status="paid", total_cents=n)
    policy = orders_policy()
    cursor = first_cursor({"model": "Order"}, policy)

    result = query({"model": "Order", "limit": 2, "cursor": cursor, **change}, policy)

    assert_invalid_cursor(result)


def test_cursor_from_the_changed_query_is_not_accepted_by_the_original_either():
    customer = CustomerFactory()
    for n in range(5):
        OrderFactory(customer=customer, status="paid", total_cents=n)
    policy = orders_policy()
    cursor = first_cursor({"model": "Order", "where": {"status": "paid"}}, policy)

    assert_invalid_cursor(query({"model": "Order", "limit": 2, "cursor": cursor}, policy))


def test_cursor_from_another_model_is_invalid_cursor():
    customer = CustomerFactory()
    CustomerFactory.create_batch(4)
    OrderFactory.create_batch(4, customer=customer)
    policy = orders_policy()
    cursor = first_cursor({"model": "Customer"}, policy)

    assert_invalid_cursor(query({"model": "Order", "limit": 2, "cursor": cursor}, policy))


def test_cursor_from_another_principal_is_invalid_cursor():
    make_orders(range(5))
    policy = orders_policy()
    cursor = first_cursor({"model": "Order"}, policy)
    other_agent = ToolContext(principal="agent:billing-bot", tenant_id=7)

    assert_invalid_cursor(
        query({"model": "Order", "limit": 2, "cursor": cursor}, policy, other_agent)
    )


def test_cursor_from_another_tenant_is_invalid_cursor():
    make_orders(range(5), tenant_id=7)
    make_orders(range(5), tenant_id=8)
    policy = orders_policy()
    cursor = first_cursor({"model": "Order"}, policy)
    same_agent_other_tenant = ToolContext(principal=AGENT.principal, tenant_id=8)

    result = query(
        {"model": "Order", "limit": 2, "cursor": cursor}, policy, same_agent_other_tenant
    )

    assert_invalid_cursor(result)


def test_cursor_never_widens_a_later_page_beyond_the_tenant():
    mine = make_orders(range(3), tenant_id=7)
    make_orders(range(3), tenant_id=8)

    pages = walk({"model": "Order", "limit": 1}, orders_policy())

    assert [row["id"] for page in pages for row in page] == sorted(o.id for o in mine)
    assert {row["tenant_id"] for page in pages for row in page} == {7}
