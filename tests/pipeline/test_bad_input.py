"""Bad input: every malformed call is an ``error`` or ``denied`` outcome with a stable code.

Whatever the agent sends, ``execute`` returns plain JSON (never raises, never shows a
traceback), names what went wrong in words a model can act on, audits the call, and
changes no row.
"""

import json
import math

import pytest
from django.apps import apps
from django.test import override_settings

from ormai_django import DEFAULT_PROD, PolicyBuilder, execute
from ormai_django.conf import ormai_settings
from ormai_django.models import AuditEvent
from ormai_django.policy.loading import get_policy
from tests.factories import CustomerFactory, NoteFactory, OrderFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

ERROR, DENIED = "error", "denied"


def seed_both_tenants():
    """One of each shop row in tenant 7 (the caller's) and in tenant 8."""
    for tenant in (7, 8):
        customer = CustomerFactory(tenant_id=tenant)
        OrderFactory(customer=customer)
        SubscriptionFactory(customer=customer)
        NoteFactory(customer=customer)


def shop_row_counts():
    """Rows of every model of the shop app, history tables included."""
    return {
        model._meta.label: model._default_manager.count()
        for model in apps.get_app_config("shop").get_models()
    }


def assert_refused(result, outcome, code, mentions=None):
    """A refusal an agent can act on: the outcome, the exact code, a message, an audit row."""
    text = json.dumps(result, allow_nan=False)
    assert "Traceback" not in text
    assert 'File "' not in text
    assert (result.get("outcome"), result.get("error", {}).get("code")) == (outcome, code), result
    message = result["error"]["message"]
    assert isinstance(message, str)
    assert len(message) >= 20, message
    if mentions is not None:
        assert mentions in message, message
    assert AuditEvent.objects.filter(
        pk=result["audit_id"], outcome=outcome, error_code=code
    ).exists()


def run_refused(call, ctx, outcome, code, mentions=None, policy=None):
    before = shop_row_counts()
    result = execute(call, ctx, policy=policy)
    assert_refused(result, outcome, code, mentions)
    assert shop_row_counts() == before
    return result


def query(model="Order", **arguments):
    return {"name": "db.query", "arguments": {"model": model, **arguments}}


def where(where_doc, model="Order"):
    return query(model, where=where_doc)


def aggregate(aggregations, model="Order", **arguments):
    return {
        "name": "db.aggregate",
        "arguments": {"model": model, "aggregations": aggregations, **arguments},
    }


def get(pk, model="Order", **arguments):
    return {"name": "db.get", "arguments": {"model": model, "id": pk, **arguments}}


# --- the call itself ----------------------------------------------------------------------

ENVELOPES = [
    pytest.param("not json at all", ERROR, "INVALID_JSON", "not valid JSON", id="prose"),
    pytest.param("", ERROR, "INVALID_JSON", "not valid JSON", id="empty-string"),
    pytest.param('{"name": "db.query",', ERROR, "INVALID_JSON", None, id="truncated"),
    pytest.param("{'name': 'db.query'}", ERROR, "INVALID_JSON", None, id="python-repr"),
    pytest.param(b"\xff\xfe\x00", ERROR, "INVALID_JSON", None, id="bytes-not-utf8"),
    pytest.param(
        '{"name": "db.query", "arguments": {"model": "Order", "limit": NaN}}',
        ERROR,
        "INVALID_JSON",
        None,
        id="NaN-literal",
    ),
    pytest.param(
        '{"name": "db.query", "arguments": {"model": "Order", "limit": Infinity}}',
        ERROR,
        "INVALID_JSON",
        None,
        id="Infinity-literal",
    ),
    pytest.param(
        '{"name": "db.query", "arguments": {"model": "Order", "limit": -Infinity}}',
        ERROR,
        "INVALID_JSON",
        None,
        id="minus-Infinity-literal",
    ),
    pytest.param(
        '{"name": "db.query", "arguments": {"model": "Order", "limit": 1e999}}',
        ERROR,
        "INVALID_ARGUMENTS",
        "JSON",
        id="number-overflowing-to-infinity",
    ),
    pytest.param(
        '{"name": "db.query", "arguments": {"model": "Order", "where": '
        + "[" * 100_000
        + "]" * 100_000
        + "}}",
        ERROR,
        "INVALID_JSON",
        None,
        id="json-nested-100000-deep",
    ),
    pytest.param('["db.query", {"model": "Order"}]', ERROR, "INVALID_CALL", "object", id="list"),
    pytest.param("null", ERROR, "INVALID_CALL", "object", id="json-null"),
    pytest.param("42", ERROR, "INVALID_CALL", "object", id="json-number"),
    pytest.param('"db.query"', ERROR, "INVALID_CALL", "object", id="json-string"),
    pytest.param("true", ERROR, "INVALID_CALL", "object", id="json-true"),
    pytest.param(["db.query", {"model": "Order"}], ERROR, "INVALID_CALL", "object", id="py-list"),
    pytest.param(None, ERROR, "INVALID_CALL", "object", id="py-None"),
    pytest.param(42, ERROR, "INVALID_CALL", "object", id="py-int"),
    pytest.param(
        {"name": "db.query", "arguments": {"model": "Order", "limit": math.nan}},
        ERROR,
        "INVALID_ARGUMENTS",
        "JSON",
        id="py-nan",
    ),
    pytest.param(
        {"name": "db.query", "arguments": {"model": "Order", "limit": math.inf}},
        ERROR,
        "INVALID_ARGUMENTS",
        "JSON",
        id="py-inf",
    ),
    pytest.param(
        {"name": "db.query", "arguments": {"model": "Order", "where": {"status": {1, 2}}}},
        ERROR,
        "INVALID_ARGUMENTS",
        "JSON",
        id="py-set",
    ),
    pytest.param(
        {"name": "db.query", "arguments": {"model": "Order", "where": {"status": object()}}},
        ERROR,
        "INVALID_ARGUMENTS",
        "JSON",
        id="py-object",
    ),
]


@pytest.mark.parametrize(("call", "outcome", "code", "mentions"), ENVELOPES)
def test_call_that_is_not_a_json_object_is_an_error(ctx, call, outcome, code, mentions):
    seed_both_tenants()
    run_refused(call, ctx, outcome, code, mentions)


def _huge_where():
    return {"status": "x" * (ormai_settings.MAX_CALL_BYTES + 1)}


@pytest.mark.parametrize(
    "shape", ["dict", "json-string", "json-bytes", "arguments-json-string", "multibyte"]
)
def test_call_larger_than_max_call_bytes_is_refused(ctx, shape):
    seed_both_tenants()
    call = where(_huge_where())
    if shape == "json-string":
        call = json.dumps(call)
    elif shape == "json-bytes":
        call = json.dumps(call).encode()
    elif shape == "arguments-json-string":
        call = {"name": "db.query", "arguments": json.dumps(call["arguments"])}
    elif shape == "multibyte":
        # Fewer characters than the limit, but far more bytes once encoded.
        call = where({"status": "\N{GRINNING FACE}" * (ormai_settings.MAX_CALL_BYTES // 3)})
    run_refused(call, ctx, ERROR, "INVALID_CALL", str(ormai_settings.MAX_CALL_BYTES))


def test_max_call_bytes_setting_is_honoured(ctx, settings):
    seed_both_tenants()
    settings.ORMAI = {**settings.ORMAI, "MAX_CALL_BYTES": 2_000}
    small = where({"status": "p" * 100})
    assert execute(small, ctx)["outcome"] == "ok"

    run_refused(where({"status": "p" * 2_500}), ctx, ERROR, "INVALID_CALL", "2000")
    run_refused(json.dumps(where({"status": "p" * 2_500})), ctx, ERROR, "INVALID_CALL", "2000")


def _nested_dict(depth):
    doc = {"status": "paid"}
    for _ in range(depth):
        doc = {"not": doc}
    return doc


def _nested_list(depth):
    doc = []
    for _ in range(depth):
        doc = [doc]
    return doc


@pytest.mark.parametrize("build", [_nested_dict, _nested_list], ids=["dicts", "lists"])
def test_arguments_nested_beyond_the_recursion_limit_are_refused_not_raised(ctx, build):
    seed_both_tenants()
    run_refused(where(build(100_000)), ctx, ERROR, "INVALID_ARGUMENTS")


# --- tool names and arguments -------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "db.drop",
        "db.update_all",
        "DB.QUERY",
        "db query",
        "query",
        "",
        "db.query ",
        "db__query",
        "db.query\x00",
        "\ud800",
        5,
        2.5,
        True,
        None,
        ["db.query"],
        {"name": "db.query"},
    ],
    ids=repr,
)
def test_unknown_or_non_string_tool_name_is_unknown_tool(ctx, name):
    seed_both_tenants()
    call = {"name": name, "arguments": {"model": "Order"}}
    run_refused(call, ctx, ERROR, "UNKNOWN_TOOL", "db.query")


def test_call_without_a_name_is_unknown_tool(ctx):
    seed_both_tenants()
    run_refused({"arguments": {"model": "Order"}}, ctx, ERROR, "UNKNOWN_TOOL", "db.query")


@pytest.mark.parametrize(
    ("call", "code", "mentions"),
    [
        pytest.param({"name": "db.query"}, "INVALID_ARGUMENTS", "'model'", id="no-arguments"),
        pytest.param(
            {"name": "db.query", "arguments": None}, "INVALID_ARGUMENTS", "'model'", id="null"
        ),
        pytest.param(
            {"name": "db.query", "arguments": {}}, "INVALID_ARGUMENTS", "'model'", id="empty"
        ),
        pytest.param(
            {"name": "db.get", "arguments": {"model": "Order"}},
            "INVALID_ARGUMENTS",
            "'id'",
            id="get-without-id",
        ),
        pytest.param(
            {"name": "db.get", "arguments": {"model": "Order", "id": None}},
            "INVALID_ARGUMENTS",
            "'id'",
            id="get-with-null-id",
        ),
        pytest.param(
            {"name": "db.aggregate", "arguments": {"model": "Order"}},
            "INVALID_ARGUMENTS",
            "'aggregations'",
            id="aggregate-without-aggregations",
        ),
        pytest.param(
            {"name": "db.query", "arguments": [{"model": "Order"}]},
            "INVALID_ARGUMENTS",
            "object",
            id="list",
        ),
        pytest.param(
            {"name": "db.query", "arguments": 7}, "INVALID_ARGUMENTS", "object", id="number"
        ),
        pytest.param(
            {"name": "db.query", "arguments": True}, "INVALID_ARGUMENTS", "object", id="bool"
        ),
        pytest.param(
            {"name": "db.query", "arguments": '["Order"]'},
            "INVALID_ARGUMENTS",
            "object",
            id="json-string-of-a-list",
        ),
        pytest.param(
            {"name": "db.query", "arguments": '"Order"'},
            "INVALID_ARGUMENTS",
            "object",
            id="json-string-of-a-string",
        ),
        pytest.param(
            {"name": "db.query", "arguments": "model=Order"},
            "INVALID_JSON",
            "not valid JSON",
            id="invalid-json-string",
        ),
        pytest.param(
            {"name": "db.query", "arguments": '{"model": "Order",}'},
            "INVALID_JSON",
            "not valid JSON",
            id="trailing-comma",
        ),
        pytest.param(
            {"name": "db.query", "arguments": '{"model": "Order", "limit": NaN}'},
            "INVALID_JSON",
            "not valid JSON",
            id="NaN-in-arguments-string",
        ),
        pytest.param(
            query(filter={"status": "paid"}),
            "INVALID_ARGUMENTS",
            "'filter'",
            id="unknown-argument",
        ),
        pytest.param(query(Model="Order"), "INVALID_ARGUMENTS", "'Model'", id="argument-name-case"),
        pytest.param(
            query(**{"where\x00": {}}), "INVALID_ARGUMENTS", "where", id="argument-name-nul"
        ),
        pytest.param(
            get(1, where={"status": "paid"}),
            "INVALID_ARGUMENTS",
            "'where'",
            id="get-takes-no-where",
        ),
        pytest.param(
            {"name": "db.describe", "arguments": {"model": "Order", "verbose": True}},
            "INVALID_ARGUMENTS",
            "'verbose'",
            id="describe-unknown-argument",
        ),
    ],
)
def test_missing_or_malformed_arguments_are_an_error(ctx, call, code, mentions):
    seed_both_tenants()
    run_refused(call, ctx, ERROR, code, mentions)


# --- models -------------------------------------------------------------------------------

BAD_MODEL_TYPES = [5, 1.5, True, ["Order"], {"name": "Order"}, "", "   "]
UNREGISTERED_MODELS = [
    "Invoice",
    "Orders",
    "auth.User",
    "User",
    "shop.HistoricalCustomer",
    "HistoricalCustomer",
    "ormai_django.AuditEvent",
    "AuditEvent",
    "contenttypes.ContentType",
    "sessions.Session",
    "shop.Order.customer",
    "sandbox_project.shop.Order",
    "Order\x00",
    "\ud800",
]


def _call_for_model(tool, model):
    arguments = {"model": model}
    if tool == "db.get":
        arguments["id"] = 1
    if tool == "db.aggregate":
        arguments["aggregations"] = {"n": {"count": "id"}}
    return {"name": tool, "arguments": arguments}


TOOLS = ["db.describe", "db.query", "db.get", "db.aggregate"]


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("model", BAD_MODEL_TYPES, ids=repr)
def test_model_that_is_not_a_name_is_invalid_arguments(ctx, tool, model):
    seed_both_tenants()
    run_refused(_call_for_model(tool, model), ctx, ERROR, "INVALID_ARGUMENTS", "Customer")


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("model", UNREGISTERED_MODELS, ids=repr)
def test_unknown_or_unregistered_model_is_unknown_model(ctx, tool, model):
    seed_both_tenants()
    run_refused(_call_for_model(tool, model), ctx, ERROR, "UNKNOWN_MODEL", "Customer")


# --- where: fields, paths and lookups -----------------------------------------------------

WHERE_PATHS = [
    # unknown names
    ("Order", {"nope": 1}, ERROR, "UNKNOWN_FIELD", "status"),
    ("Order", {"Status": "paid"}, ERROR, "UNKNOWN_FIELD", "status"),
    ("Order", {"OR": [{"status": "paid"}]}, ERROR, "UNKNOWN_FIELD", None),
    ("Order", {"customer__nope": 1}, ERROR, "UNKNOWN_FIELD", "name"),
    ("Order", {"customer__orders__status": "paid"}, ERROR, "UNKNOWN_FIELD", None),
    ("Order", {"customer__history__name": "x"}, ERROR, "UNKNOWN_FIELD", None),
    ("Customer", {"orders__status": "paid"}, ERROR, "UNKNOWN_FIELD", None),
    ("Order", {"sta\x00tus": "paid"}, ERROR, "UNKNOWN_FIELD", None),
    ("Order", {"\ud800": "paid"}, ERROR, "UNKNOWN_FIELD", None),
    # denied fields, directly and through a relation
    ("Customer", {"password_hash": "x"}, DENIED, "FIELD_DENIED", "password_hash"),
    ("Customer", {"api_token__startswith": "tok_"}, DENIED, "FIELD_DENIED", "api_token"),
    ("Order", {"customer__password_hash": "x"}, DENIED, "FIELD_DENIED", "password_hash"),
    ("Order", {"customer__password_hash__isnull": True}, DENIED, "FIELD_DENIED", None),
    ("Order", {"customer__password_hash__regex": "^p"}, DENIED, "FIELD_DENIED", None),
    ("Note", {"customer__api_token__in": ["tok_1"]}, DENIED, "FIELD_DENIED", "api_token"),
    ("Order", {"customer_id__api_token": "x"}, DENIED, "FIELD_DENIED", "api_token"),
    # masked fields, directly and through a relation
    ("Customer", {"email": "a@b.c"}, DENIED, "FIELD_DENIED", "masked"),
    ("Customer", {"email__icontains": "@"}, DENIED, "FIELD_DENIED", "masked"),
    ("Customer", {"phone__endswith": "1"}, DENIED, "FIELD_DENIED", "masked"),
    ("Customer", {"email__isnull": False}, DENIED, "FIELD_DENIED", "masked"),
    ("Order", {"customer__email": "a@b.c"}, DENIED, "FIELD_DENIED", "masked"),
    ("Order", {"customer__phone__startswith": "+1"}, DENIED, "FIELD_DENIED", "masked"),
    ("Note", {"author_email__iexact": "x"}, DENIED, "FIELD_DENIED", "masked"),
    ("Note", {"author_email": None}, DENIED, "FIELD_DENIED", "masked"),
    # lookups not on the allow-list
    ("Order", {"status__regex": "^p"}, DENIED, "LOOKUP_NOT_ALLOWED", "icontains"),
    ("Order", {"status__iregex": "^p"}, DENIED, "LOOKUP_NOT_ALLOWED", "icontains"),
    ("Order", {"status__search": "p"}, DENIED, "LOOKUP_NOT_ALLOWED", None),
    ("Order", {"status__exact__exact": "p"}, DENIED, "LOOKUP_NOT_ALLOWED", None),
    ("Order", {"status__icontains__in": ["p"]}, DENIED, "LOOKUP_NOT_ALLOWED", None),
    ("Order", {"created_at__year__regex": "20"}, DENIED, "LOOKUP_NOT_ALLOWED", None),
    ("Order", {"created_at__year__icontains": "20"}, ERROR, "INVALID_ARGUMENTS", None),
    ("Order", {"customer__name__regex": "a"}, DENIED, "LOOKUP_NOT_ALLOWED", None),
    ("Order", {"created_at__week_day__hour": 1}, DENIED, "LOOKUP_NOT_ALLOWED", None),
    ("Order", {"status__EXACT": "p"}, DENIED, "LOOKUP_NOT_ALLOWED", None),
    # lookups and date parts that don't apply to the field's type
    ("Order", {"total_cents__contains": "1"}, ERROR, "INVALID_ARGUMENTS", "total_cents"),
    ("Customer", {"is_vip__gt": True}, ERROR, "INVALID_ARGUMENTS", "is_vip"),
    ("Order", {"status__year": 2024}, ERROR, "INVALID_ARGUMENTS", "status"),
    ("Subscription", {"renews_on__hour": 1}, ERROR, "INVALID_ARGUMENTS", "renews_on"),
    # empty path segments
    ("Order", {"status__": "paid"}, ERROR, "INVALID_ARGUMENTS", "status__"),
    ("Order", {"__status": "paid"}, ERROR, "INVALID_ARGUMENTS", "__status"),
    ("Order", {"customer____name": "x"}, ERROR, "INVALID_ARGUMENTS", "customer____name"),
    ("Order", {"customer__name__": "x"}, ERROR, "INVALID_ARGUMENTS", None),
    ("Order", {"": "paid"}, ERROR, "INVALID_ARGUMENTS", None),
    ("Order", {"__": "paid"}, ERROR, "INVALID_ARGUMENTS", None),
]


@pytest.mark.parametrize(
    ("model", "where_doc", "outcome", "code", "mentions"),
    WHERE_PATHS,
    ids=[f"{m}-{next(iter(w))!r}" for m, w, *_ in WHERE_PATHS],
)
def test_where_path_that_the_policy_does_not_allow_is_refused(
    ctx, model, where_doc, outcome, code, mentions
):
    seed_both_tenants()
    run_refused(where(where_doc, model), ctx, outcome, code, mentions)
    aggregations = {"n": {"count": "id"}}
    run_refused(aggregate(aggregations, model, where=where_doc), ctx, outcome, code, mentions)


@pytest.mark.parametrize(
    "where_doc",
    [{"customer__name": "x"}, {"customer__tenant_id": 7}, {"customer_id__name__icontains": "x"}],
    ids=repr,
)
def test_where_path_into_an_unregistered_model_is_relation_denied(ctx, where_doc):
    seed_both_tenants()
    orders_only = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Order"])
        .tenant_scope("tenant_id")
        .build()
    )
    run_refused(where(where_doc), ctx, DENIED, "RELATION_DENIED", "customer", policy=orders_only)


# --- where: values ------------------------------------------------------------------------

BAD_VALUES = [
    # wrong types
    ("Order", {"status": ["paid"]}),
    ("Order", {"status": {"eq": "paid"}}),
    ("Order", {"status": True}),
    ("Order", {"total_cents__gt": {"value": 1}}),
    ("Order", {"total_cents__gt": [1]}),
    ("Order", {"total_cents": True}),
    ("Order", {"total_cents": False}),
    ("Order", {"total_cents": 1.5}),
    ("Order", {"total_cents": "1.5"}),
    ("Order", {"total_cents": "lots"}),
    ("Order", {"total_cents": "1 OR 1=1"}),
    ("Order", {"customer": "someone"}),
    ("Order", {"customer": True}),
    ("Order", {"shipped_at__isnull": "true"}),
    ("Order", {"shipped_at__isnull": 1}),
    ("Order", {"shipped_at__isnull": None}),
    ("Order", {"status__in": "paid"}),
    ("Order", {"status__in": {"paid": True}}),
    ("Order", {"status__in": None}),
    ("Order", {"status__in": ["paid", None]}),
    ("Order", {"status__in": [["paid"]]}),
    ("Order", {"total_cents__range": [1]}),
    ("Order", {"total_cents__range": [1, 2, 3]}),
    ("Order", {"total_cents__range": []}),
    ("Order", {"total_cents__range": "1,2"}),
    ("Order", {"total_cents__range": [1, None]}),
    ("Order", {"status__icontains": 5}),
    ("Order", {"status__startswith": None}),
    ("Order", {"status__gt": None}),
    ("Order", {"created_at": 20240101}),
    ("Order", {"created_at": True}),
    ("Order", {"created_at": {"year": 2024}}),
    ("Order", {"created_at": "yesterday"}),
    ("Order", {"created_at__year": "twenty"}),
    ("Order", {"created_at__year": 2024.5}),
    ("Order", {"created_at__year": None}),
    ("Order", {"created_at__date": None}),
    ("Order", {"created_at__time": "25:00"}),
    ("Subscription", {"renews_on": "2024-02-30"}),
    ("Subscription", {"monthly_price": "abc"}),
    ("Subscription", {"monthly_price": "NaN"}),
    ("Subscription", {"monthly_price": "Infinity"}),
    ("Subscription", {"monthly_price": "1e999999"}),
    ("Subscription", {"monthly_price__gt": 1e300}),
    ("Customer", {"is_vip": "maybe"}),
    ("Customer", {"is_vip": 2}),
    ("Customer", {"is_vip__in": [True, "x"]}),
    ("Customer", {"name": "x" * 10_001}),
    # NUL bytes and lone surrogates: the database can't store or compare them
    ("Order", {"status": "pa\x00id"}),
    ("Order", {"status__in": ["paid", "\x00"]}),
    ("Order", {"status__icontains": "\x00"}),
    ("Order", {"status": "\ud800"}),
    ("Order", {"status__startswith": "a\udfffb"}),
    ("Order", {"total_cents": "1\x00"}),
    ("Order", {"created_at": "2024-01-01\x00"}),
    ("Customer", {"name__range": ["a", "\ud800"]}),
    # integers beyond int64
    ("Order", {"total_cents": 2**63}),
    ("Order", {"total_cents": -(2**63) - 1}),
    ("Order", {"total_cents__in": [1, 2**64]}),
    ("Order", {"total_cents__range": [0, 2**70]}),
    ("Order", {"total_cents": 1e300}),
    ("Order", {"total_cents": str(2**63)}),
    ("Order", {"id": 10**30}),
    ("Order", {"customer": 2**64}),
    ("Order", {"created_at__month": 2**63}),
    # years 0 and 10000, in date parts and in dates
    ("Order", {"created_at__year": 0}),
    ("Order", {"created_at__year": 10_000}),
    ("Order", {"created_at__year": -1}),
    ("Order", {"created_at__iso_year": 0}),
    ("Order", {"created_at__iso_year": 10_000}),
    ("Order", {"created_at__year__in": [2024, 0]}),
    ("Order", {"created_at__year__range": [0, 2024]}),
    ("Order", {"created_at__year__gte": 10_000}),
    ("Subscription", {"renews_on__year": 0}),
    ("Order", {"created_at": "0000-01-01T00:00:00Z"}),
    ("Order", {"created_at": "10000-01-01T00:00:00Z"}),
    ("Order", {"created_at__date": "0000-12-31"}),
    ("Subscription", {"renews_on": "0000-01-01"}),
    ("Subscription", {"renews_on": "10000-01-01"}),
    # datetimes that overflow when converted to UTC
    ("Order", {"created_at": "9999-12-31T23:59:59-14:00"}),
    ("Order", {"created_at__gte": "0001-01-01T00:00:00+14:00"}),
    ("Order", {"created_at__range": ["2024-01-01T00:00:00Z", "9999-12-31T23:59:59-01:00"]}),
    ("Order", {"shipped_at__in": ["9999-12-31T23:00:00-05:00"]}),
]


@pytest.mark.parametrize(
    ("model", "where_doc"), BAD_VALUES, ids=[f"{m}-{w!r}"[:80] for m, w in BAD_VALUES]
)
def test_value_the_field_cant_take_is_invalid_arguments(ctx, model, where_doc):
    seed_both_tenants()
    key = next(iter(where_doc))
    run_refused(where(where_doc, model), ctx, ERROR, "INVALID_ARGUMENTS", key[:5])


@pytest.mark.parametrize(
    ("time_zone", "where_doc"),
    [
        ("UTC", {"created_at__iso_year": 9999}),
        ("UTC", {"created_at__iso_year__lte": 9999}),
        ("UTC", {"created_at__iso_year": 1}),
        ("UTC", {"created_at__year": 9999}),
        ("UTC", {"created_at__year": 1}),
        ("America/New_York", {"created_at__year": 9999}),
        ("America/New_York", {"created_at__year__gt": 9999}),
        ("Asia/Tokyo", {"created_at__year": 1}),
        ("Asia/Tokyo", {"created_at__year__gte": 1}),
        ("Australia/Sydney", {"created_at__year": 1}),
    ],
    ids=repr,
)
def test_calendar_edge_years_are_answered_not_crashed(ctx, time_zone, where_doc):
    """Years 1 and 9999 are valid date parts; the year's bounds must not overflow."""
    seed_both_tenants()
    with override_settings(TIME_ZONE=time_zone):
        result = execute(where(where_doc), ctx)
        subscription = execute(
            where(
                {k.replace("created_at", "renews_on"): v for k, v in where_doc.items()},
                "Subscription",
            ),
            ctx,
        )
    for answer in (result, subscription):
        assert answer["outcome"] == "ok" or answer["error"]["code"] == "INVALID_ARGUMENTS", answer


@pytest.mark.parametrize(
    ("pk", "code"),
    [
        ("abc", "INVALID_ARGUMENTS"),
        ("1 OR 1=1", "INVALID_ARGUMENTS"),
        (1.5, "INVALID_ARGUMENTS"),
        (True, "INVALID_ARGUMENTS"),
        ([1], "INVALID_ARGUMENTS"),
        ({"id": 1}, "INVALID_ARGUMENTS"),
        (2**63, "INVALID_ARGUMENTS"),
        (-(2**64), "INVALID_ARGUMENTS"),
        ("1\x00", "INVALID_ARGUMENTS"),
        ("\ud800", "INVALID_ARGUMENTS"),
        (-1, "NOT_FOUND"),
        (0, "NOT_FOUND"),
        (2**63 - 1, "NOT_FOUND"),
    ],
    ids=repr,
)
def test_id_that_is_not_a_visible_primary_key_is_refused(ctx, pk, code):
    seed_both_tenants()
    run_refused(get(pk), ctx, ERROR, code, "id")


# --- where: shape and size ----------------------------------------------------------------


def _nest(levels):
    """A where of exactly ``levels`` levels: the leaf object wrapped in and-lists."""
    doc = {"status": "paid"}
    for _ in range(levels - 1):
        doc = {"and": [doc]}
    return doc


def test_where_nested_deeper_than_max_where_depth_is_refused(ctx):
    seed_both_tenants()
    limit = get_policy().profile.max_where_depth
    assert execute(where(_nest(limit)), ctx)["outcome"] == "ok"

    run_refused(where(_nest(limit + 1)), ctx, ERROR, "INVALID_ARGUMENTS", str(limit))
    run_refused(where(_nest(limit + 50)), ctx, ERROR, "INVALID_ARGUMENTS", str(limit))


def test_where_with_more_than_max_where_conditions_is_refused(ctx):
    seed_both_tenants()
    limit = get_policy().profile.max_where_conditions
    at_limit = {"and": [{"total_cents__gte": n} for n in range(limit)]}
    assert execute(where(at_limit), ctx)["outcome"] == "ok"

    over = {"and": [{"total_cents__gte": n} for n in range(limit + 1)]}
    run_refused(where(over), ctx, ERROR, "INVALID_ARGUMENTS", str(limit))
    spread = {"or": [{"and": [{"status": "paid"}] * 10}] * (limit // 10 + 1)}
    run_refused(where(spread), ctx, ERROR, "INVALID_ARGUMENTS", str(limit))


def test_in_with_more_than_max_in_values_is_refused(ctx):
    seed_both_tenants()
    limit = get_policy().profile.max_in_values
    assert execute(where({"id__in": list(range(limit))}), ctx)["outcome"] == "ok"

    run_refused(where({"id__in": list(range(limit + 1))}), ctx, ERROR, "INVALID_ARGUMENTS")
    run_refused(
        where({"created_at__year__in": [2024] * (limit + 1)}), ctx, ERROR, "INVALID_ARGUMENTS"
    )


@pytest.mark.parametrize(
    ("where_doc", "mentions"),
    [
        ({"or": []}, "'or'"),
        ({"and": []}, "'and'"),
        ({"not": {}}, "'not'"),
        ({"or": {}}, "'or'"),
        ({"and": {"status": "paid"}}, "'and'"),
        ({"or": "status=paid"}, "'or'"),
        ({"or": None}, "'or'"),
        ({"or": [[]]}, "object"),
        ({"or": ["status"]}, "object"),
        ({"and": [{"status": "paid"}, 5]}, "object"),
        ({"not": []}, "'not'"),
        ({"not": [{"status": "paid"}]}, "'not'"),
        ({"not": None}, "'not'"),
        ({"not": {"or": []}}, "'or'"),
        ({"status": "paid", "and": []}, "'and'"),
        ([{"status": "paid"}], "object"),
        ("status = 'paid'", "object"),
        (5, "object"),
    ],
    ids=repr,
)
def test_malformed_boolean_nesting_is_invalid_arguments(ctx, where_doc, mentions):
    seed_both_tenants()
    run_refused(where(where_doc), ctx, ERROR, "INVALID_ARGUMENTS", mentions)


# --- fields, order_by, cursor, limit ------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "fields", "outcome", "code"),
    [
        ("Customer", ["password_hash"], DENIED, "FIELD_DENIED"),
        ("Customer", ["name", "api_token"], DENIED, "FIELD_DENIED"),
        ("Customer", ["nope"], ERROR, "UNKNOWN_FIELD"),
        ("Order", ["customer__name"], ERROR, "UNKNOWN_FIELD"),
        ("Order", ["\x00"], ERROR, "UNKNOWN_FIELD"),
        ("Order", "status", ERROR, "INVALID_ARGUMENTS"),
        ("Order", [5], ERROR, "INVALID_ARGUMENTS"),
        ("Order", {"status": True}, ERROR, "INVALID_ARGUMENTS"),
    ],
    ids=repr,
)
def test_fields_the_policy_does_not_offer_are_refused(ctx, model, fields, outcome, code):
    seed_both_tenants()
    run_refused(query(model, fields=fields), ctx, outcome, code)


@pytest.mark.parametrize(
    ("model", "order_by", "outcome", "code"),
    [
        ("Order", "nope", ERROR, "UNKNOWN_FIELD"),
        ("Order", "-nope", ERROR, "UNKNOWN_FIELD"),
        ("Order", "?", ERROR, "UNKNOWN_FIELD"),
        ("Order", "--status", ERROR, "UNKNOWN_FIELD"),
        ("Order", "customer__name", ERROR, "UNKNOWN_FIELD"),
        ("Order", "customer__password_hash", ERROR, "UNKNOWN_FIELD"),
        ("Order", "\x00", ERROR, "UNKNOWN_FIELD"),
        ("Customer", "password_hash", DENIED, "FIELD_DENIED"),
        ("Customer", "-api_token", DENIED, "FIELD_DENIED"),
        ("Customer", ["name", "password_hash"], DENIED, "FIELD_DENIED"),
        ("Customer", "email", DENIED, "FIELD_DENIED"),
        ("Customer", "-phone", DENIED, "FIELD_DENIED"),
        ("Note", ["created_at", "author_email"], DENIED, "FIELD_DENIED"),
        ("Order", "", ERROR, "INVALID_ARGUMENTS"),
        ("Order", "-", ERROR, "INVALID_ARGUMENTS"),
        ("Order", 5, ERROR, "INVALID_ARGUMENTS"),
        ("Order", [5], ERROR, "INVALID_ARGUMENTS"),
        ("Order", [["status"]], ERROR, "INVALID_ARGUMENTS"),
        ("Order", {"status": "asc"}, ERROR, "INVALID_ARGUMENTS"),
        (
            "Order",
            ["id", "status", "currency", "total_cents", "created_at", "tenant_id"],
            ERROR,
            "INVALID_ARGUMENTS",
        ),
    ],
    ids=repr,
)
def test_order_by_on_a_field_the_policy_does_not_offer_is_refused(
    ctx, model, order_by, outcome, code
):
    seed_both_tenants()
    run_refused(query(model, order_by=order_by), ctx, outcome, code, "order_by")


@pytest.mark.parametrize(
    "cursor",
    [
        "nonsense",
        "",
        " ",
        "x" * 5_000,
        "eyJvIjoxfQ:1tZ:abc",
        "\x00",
        "\ud800",
        5,
        -1,
        True,
        ["cursor"],
        {"o": 0},
    ],
    ids=lambda c: repr(c)[:30],
)
def test_cursor_that_no_query_returned_is_invalid_cursor(ctx, cursor):
    seed_both_tenants()
    run_refused(query(cursor=cursor), ctx, ERROR, "INVALID_CURSOR", "next_cursor")


def test_cursor_of_another_query_or_tenant_or_tampered_is_invalid_cursor(ctx, other_ctx):
    for tenant in (7, 8):
        for _ in range(3):
            OrderFactory(customer__tenant_id=tenant)
    first = execute(query(limit=1), ctx)
    cursor = first["next_cursor"]
    assert isinstance(cursor, str)
    assert execute(query(limit=1, cursor=cursor), ctx)["outcome"] == "ok"

    refused = [
        (query(limit=1, cursor=cursor, where={"status": "pending"}), ctx),
        (query(limit=1, cursor=cursor, order_by="-id"), ctx),
        (query(limit=1, cursor=cursor, fields=["status"]), ctx),
        (query("Customer", limit=1, cursor=cursor), ctx),
        (query(limit=1, cursor=cursor), other_ctx),
        (query(limit=1, cursor=cursor[:-1]), ctx),
        (query(limit=1, cursor=cursor[:-1] + ("A" if cursor[-1] != "A" else "B")), ctx),
        (query(limit=1, cursor=cursor + cursor), ctx),
    ]
    for call, context in refused:
        run_refused(call, context, ERROR, "INVALID_CURSOR", "next_cursor")


@pytest.mark.parametrize(
    "limit",
    [0, -1, -(2**63), 10**6, 2**64, 1.5, 10.0, "10", "ten", True, False, [10], {"n": 10}],
    ids=repr,
)
def test_limit_that_is_not_a_whole_number_in_range_is_invalid_arguments(ctx, limit):
    seed_both_tenants()
    run_refused(query(limit=limit), ctx, ERROR, "INVALID_ARGUMENTS", "'limit'")


def test_limit_above_the_policy_maximum_is_invalid_arguments(ctx):
    seed_both_tenants()
    maximum = get_policy().max_limit
    assert execute(query(limit=maximum), ctx)["outcome"] == "ok"
    run_refused(query(limit=maximum + 1), ctx, ERROR, "INVALID_ARGUMENTS", str(maximum))


# --- aggregations -------------------------------------------------------------------------

MALFORMED_AGGREGATIONS = [
    ("Order", {}, {}, ERROR, "INVALID_ARGUMENTS"),
    ("Order", [], {}, ERROR, "INVALID_ARGUMENTS"),
    ("Order", "count", {}, ERROR, "INVALID_ARGUMENTS"),
    ("Order", [{"count": "id"}], {}, ERROR, "INVALID_ARGUMENTS"),
    ("Order", {"n": "count"}, {}, ERROR, "INVALID_ARGUMENTS"),
    ("Order", {"n": None}, {}, ERROR, "INVALID_ARGUMENTS"),
    ("Order", {"n": {}}, {}, ERROR, "INVALID_ARGUMENTS"),
    ("Order", {"n": {"count": "id", "sum": "total_cents"}}, {}, ERROR, "INVALID_ARGUMENTS"),
    ("Order", {"n": {"median": "total_cents"}}, {}, ERROR, "INVALID_ARGUMENTS"),
    ("Order", {"n": {"COUNT": "id"}}, {}, ERROR, "INVALID_ARGUMENTS"),
    ("Order", {"n": {"sum": 5}}, {}, ERROR, "INVALID_ARGUMENTS"),
    ("Order", {"n": {"sum": ["total_cents"]}}, {}, ERROR, "INVALID_ARGUMENTS"),
    ("Order", {"n": {"sum": ""}}, {}, ERROR, "INVALID_ARGUMENTS"),
    ("Order", {"n": {"sum": "*"}}, {}, ERROR, "UNKNOWN_FIELD"),
    ("Order", {"n": {"sum": "status"}}, {}, ERROR, "INVALID_ARGUMENTS"),
    ("Order", {"n": {"avg": "created_at"}}, {}, ERROR, "INVALID_ARGUMENTS"),
    ("Order", {"n": {"avg": "customer"}}, {}, ERROR, "INVALID_ARGUMENTS"),
    ("Order", {"n": {"sum": "nope"}}, {}, ERROR, "UNKNOWN_FIELD"),
    ("Order", {"n": {"count": "customer__name"}}, {}, ERROR, "UNKNOWN_FIELD"),
    ("Order", {"": {"count": "id"}}, {}, ERROR, "INVALID_ARGUMENTS"),
    ("Order", {"n" * 65: {"count": "id"}}, {}, ERROR, "INVALID_ARGUMENTS"),
    ("Order", {f"n{i}": {"count": "id"} for i in range(21)}, {}, ERROR, "INVALID_ARGUMENTS"),
    ("Customer", {"n": {"count": "password_hash"}}, {}, DENIED, "FIELD_DENIED"),
    ("Customer", {"n": {"max": "api_token"}}, {}, DENIED, "FIELD_DENIED"),
    ("Customer", {"n": {"count": "email"}}, {}, DENIED, "FIELD_DENIED"),
    ("Customer", {"n": {"count_distinct": "phone"}}, {}, DENIED, "FIELD_DENIED"),
    ("Customer", {"n": {"min": "email"}}, {}, DENIED, "FIELD_DENIED"),
    ("Note", {"n": {"max": "author_email"}}, {}, DENIED, "FIELD_DENIED"),
    ("Customer", {"n": {"count": "id"}}, {"group_by": "email"}, DENIED, "FIELD_DENIED"),
    ("Customer", {"n": {"count": "id"}}, {"group_by": ["password_hash"]}, DENIED, "FIELD_DENIED"),
    ("Customer", {"n": {"count": "id"}}, {"group_by": "nope"}, ERROR, "UNKNOWN_FIELD"),
    ("Customer", {"n": {"count": "id"}}, {"group_by": []}, ERROR, "INVALID_ARGUMENTS"),
    ("Customer", {"n": {"count": "id"}}, {"group_by": 5}, ERROR, "INVALID_ARGUMENTS"),
    ("Customer", {"n": {"count": "id"}}, {"group_by": [["name"]]}, ERROR, "INVALID_ARGUMENTS"),
    ("Customer", {"n": {"count": "id"}}, {"group_by": ["name"] * 6}, ERROR, "INVALID_ARGUMENTS"),
    ("Customer", {"name": {"count": "id"}}, {"group_by": "name"}, ERROR, "INVALID_ARGUMENTS"),
    ("Customer", {"n": {"count": "id"}}, {"where": {"email": "x"}}, DENIED, "FIELD_DENIED"),
    ("Customer", {"n": {"count": "id"}}, {"where": []}, ERROR, "INVALID_ARGUMENTS"),
]


@pytest.mark.parametrize(
    ("model", "aggregations", "extra", "outcome", "code"),
    MALFORMED_AGGREGATIONS,
    ids=[f"{m}-{a!r}-{e!r}"[:80] for m, a, e, *_ in MALFORMED_AGGREGATIONS],
)
def test_malformed_aggregation_is_refused(ctx, model, aggregations, extra, outcome, code):
    seed_both_tenants()
    run_refused(aggregate(aggregations, model, **extra), ctx, outcome, code)
