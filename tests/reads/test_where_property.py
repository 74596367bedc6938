"""Property tests of ``where``: whatever document an agent sends, the answer is safe.

Random ``where`` documents over the sandbox models (visible, denied, masked and unknown
fields, relation paths, allowed and refused lookups, date parts, and/or/not nesting,
values from arbitrary JSON) go through db.query, db.aggregate and db.get. Whatever
they are:

- ``execute`` never raises and never fails unexpectedly (``INTERNAL_ERROR`` is a bug);
- the outcome is ok, denied or error, with an UPPER_SNAKE code;
- ok rows are the caller's tenant's (tenant 7) visible rows, even through a relation
  that points into tenant 8;
- rows never carry a denied field, nor the raw value of a masked one;
- a where touching a denied or masked field is refused, whatever the value, so the
  answer can't be used as an oracle for the secret.

Seeded rows are created once per test; every example runs inside a savepoint that is
rolled back, so examples neither see each other's audit rows nor leave any behind.
"""

import contextlib
import datetime as dt
import json
import re
from dataclasses import dataclass

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import given, note
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ormai_django import ToolContext, execute
from ormai_django.orm.where import DATE_PARTS, LOOKUPS
from tests.factories import CustomerFactory, NoteFactory, OrderFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

CTX = ToolContext(principal="agent:property", tenant_id=7, run_id="run-property")
CODE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")
DENIED_NAMES = ("password_hash", "api_token")

# Raw values the agent must never see (masked or denied fields of both tenants).
SEVEN = {
    "email": "ann.seven@tenant7-secret.example",
    "phone": "+1 415 555 7777",
    "password_hash": "pbkdf2$SEVEN-SECRET-HASH",
    "api_token": "tok_SEVEN_SECRET",
    "author_email": "writer.seven@tenant7-secret.example",
}
EIGHT = {
    "email": "bob.eight@tenant8-secret.example",
    "phone": "+33 6 88 88 88 88",
    "password_hash": "pbkdf2$EIGHT-SECRET-HASH",
    "api_token": "tok_EIGHT_SECRET",
    "author_email": "writer.eight@tenant8-secret.example",
}
SECRETS = (*SEVEN.values(), *EIGHT.values())
# Distinctive values of tenant 8's rows: they must never come back to tenant 7.
EIGHT_MARKERS = ("Bob Eight", "EIGHT-NOTE", "JPY")


@dataclass(frozen=True)
class Seed:
    visible: dict  # model name -> ids tenant 7 may see
    hidden: dict  # model name -> ids tenant 7 must not see (tenant 8, soft-deleted)
    crossing: dict  # model name -> tenant-7 rows whose customer is tenant 8's


def seed_two_tenants():
    """Tenant 7 and tenant 8 with distinctive values, and tenant-7 rows pointing at 8."""
    moment = timezone.make_aware(dt.datetime(2024, 3, 15, 10, 30))
    ann = CustomerFactory(tenant_id=7, name="Ann Seven", created_at=moment, **_customer(SEVEN))
    bob = CustomerFactory(
        tenant_id=8, name="Bob Eight", is_vip=True, created_at=moment, **_customer(EIGHT)
    )
    own_order = OrderFactory(customer=ann, status="paid", total_cents=1234, created_at=moment)
    eight_order = OrderFactory(
        customer=bob, status="refunded", total_cents=8888, currency="JPY", created_at=moment
    )
    crossing_order = OrderFactory(
        customer=bob, tenant_id=7, status="shipped", total_cents=7878, created_at=moment
    )
    own_sub = SubscriptionFactory(customer=ann, plan="pro", seats=3)
    eight_sub = SubscriptionFactory(customer=bob, plan="enterprise", seats=88)
    crossing_sub = SubscriptionFactory(customer=bob, tenant_id=7, plan="basic", seats=7)
    own_note = NoteFactory(
        customer=ann, body="seven note", author_email=SEVEN["author_email"], created_at=moment
    )
    deleted_note = NoteFactory(
        customer=ann,
        body="deleted seven note",
        author_email=SEVEN["author_email"],
        deleted_at=moment,
    )
    eight_note = NoteFactory(customer=bob, body="EIGHT-NOTE", author_email=EIGHT["author_email"])
    crossing_note = NoteFactory(
        customer=bob, tenant_id=7, body="crossing note", author_email=SEVEN["author_email"]
    )
    return Seed(
        visible={
            "Customer": {ann.id},
            "Order": {own_order.id, crossing_order.id},
            "Subscription": {own_sub.id, crossing_sub.id},
            "Note": {own_note.id, crossing_note.id},
        },
        hidden={
            "Customer": {bob.id},
            "Order": {eight_order.id},
            "Subscription": {eight_sub.id},
            "Note": {eight_note.id, deleted_note.id},
        },
        crossing={
            "Order": crossing_order.id,
            "Subscription": crossing_sub.id,
            "Note": crossing_note.id,
        },
    )


def _customer(values):
    return {k: values[k] for k in ("email", "phone", "password_hash", "api_token")}


# --- what an agent might send ------------------------------------------------------------

RELATED = ["customer__name", "customer__tenant_id", "customer__is_vip", "customer__created_at"]
RELATED += ["customer__id", "customer_id__name", "customer__preferred_language"]
RELATED_SECRET = ["customer__email", "customer__phone", "customer__password_hash"]
RELATED_SECRET += ["customer__api_token", "customer_id__email"]
UNKNOWN = ["nope", "pk", "Status", "customer__nope", "customer__orders", "history", ""]

VISIBLE = {
    "Customer": [
        *("id", "tenant_id", "name", "preferred_name", "preferred_language", "is_vip"),
        "created_at",
    ],
    "Order": [
        *("id", "tenant_id", "customer", "customer_id", "status", "total_cents", "currency"),
        *("created_at", "shipped_at", *RELATED),
    ],
    "Subscription": [
        *("id", "tenant_id", "customer", "plan", "status", "seats", "monthly_price"),
        *("renews_on", *RELATED),
    ],
    "Note": ["id", "tenant_id", "customer", "body", "created_at", "deleted_at", *RELATED],
}
SECRET = {
    "Customer": ["email", "phone", "password_hash", "api_token"],
    "Order": RELATED_SECRET,
    "Subscription": RELATED_SECRET,
    "Note": ["author_email", *RELATED_SECRET],
}
MODELS = tuple(VISIBLE)

REFUSED_LOOKUPS = ["regex", "iregex", "search", "contained_by", "has_key", "exact__exact"]
SUFFIXES = ["", *LOOKUPS, *REFUSED_LOOKUPS, *DATE_PARTS]
SUFFIXES += [f"{part}__{lookup}" for part in DATE_PARTS for lookup in ("gte", "in", "range")]
SUFFIXES += ["year__isnull", "date__lt", "iso_year__exact", "iso_year__gt", "", "__", "year__"]

EDGE_INTS = [0, 1, -1, 12, 53, 9999, 10_000, 2**31, 2**63 - 1, 2**63, -(2**63), 2**64, 10**30]
EDGE_STRINGS = [
    "",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff",
    "paid",
    "pending",
    "en",
    "Ann Seven",
    "Bob Eight",
    "2024-03-15",
    "2024-03-15T10:30:00Z",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "0000-01-01",
    "10000-01-01",
    "10:30",
    "25:00",
    "1e999",
    "NaN",
    "-0",
    "9" * 30,
    "12.50",
    *SECRETS,
]
characters = st.one_of(st.characters(), st.sampled_from(["\x00", "\ud800", "\udfff", "%", "_"]))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(EDGE_INTS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(characters, max_size=12),
    st.sampled_from(EDGE_STRINGS),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)


def _key(path, suffix):
    return f"{path}__{suffix}" if suffix else path


def keys(model):
    paths = st.sampled_from(VISIBLE[model] + SECRET[model] + UNKNOWN)
    return st.builds(_key, paths, st.sampled_from(SUFFIXES))


def secret_keys(model):
    return st.builds(_key, st.sampled_from(SECRET[model]), st.sampled_from(SUFFIXES))


def _merge(parts):
    merged = {}
    for part in parts:
        merged.update(part)
    return merged


# Leaves that make sense for the field (so that many documents run and return rows).
SAMPLE_STRINGS = ["Ann Seven", "Bob Eight", "ann", "bob", "paid", "shipped", "refunded", "EUR"]
SAMPLE_STRINGS += ["JPY", "pro", "enterprise", "en", "seven note", "EIGHT-NOTE", "crossing note"]
TYPED = {
    "string": (
        "name preferred_name preferred_language status currency body plan customer__name "
        "customer_id__name customer__preferred_language",
        st.sampled_from(SAMPLE_STRINGS) | st.text(max_size=3),
        "- exact iexact contains icontains startswith iendswith in isnull gt range",
    ),
    "integer": (
        "id tenant_id total_cents seats customer customer_id customer__tenant_id customer__id",
        st.sampled_from([7, 8, 1234, 7878, 8888, 3, 88]) | st.integers(-5, 10_000),
        "- exact gt gte lt lte in range isnull",
    ),
    "boolean": ("is_vip customer__is_vip", st.booleans(), "- exact in isnull"),
    "datetime": (
        "created_at shipped_at deleted_at customer__created_at renews_on",
        st.sampled_from(["2024-03-15T10:30:00Z", "2024-03-15", "2024-03-15T12:30:00+02:00"])
        | st.sampled_from(["2020-01-01T00:00:00Z", "2031-12-31"]),
        "- gte lt range isnull in date date__gte year year__in iso_year iso_year__gte month "
        "month__in day",
    ),
}
DATE_PART_VALUES = st.sampled_from([2024, 2020, 1, 9999, 3, 15, 11]) | st.integers(-3, 10_001)


def _typed_value(lookup, base):
    if lookup.split("__")[0] in ("year", "iso_year", "month", "day"):
        base = DATE_PART_VALUES
    elif lookup.startswith("date"):
        base = st.sampled_from(["2024-03-15", "2024-03-14", "2031-12-31"])
    if lookup.endswith("in"):
        return st.lists(base, max_size=3)
    if lookup.endswith("range"):
        return st.lists(base, min_size=2, max_size=2)
    if lookup.endswith("isnull"):
        return st.booleans()
    return base


def typed_leaves(model, relations_only=False):
    choices = []
    for paths, base, lookups in TYPED.values():
        for path in paths.split():
            if path in VISIBLE[model] and (traverses_customer(path) or not relations_only):
                for lookup in lookups.replace("-", "").split(" "):
                    choices.append((_key(path, lookup), _typed_value(lookup, base)))
    return st.sampled_from(choices).flatmap(
        lambda pair: pair[1].map(lambda value: {pair[0]: value})
    )


def wheres(model):
    anything = st.dictionaries(keys(model), json_values, min_size=1, max_size=3)
    leaves_ = st.one_of(anything, typed_leaves(model), st.just({}))
    if model != "Customer":
        leaves_ |= typed_leaves(model, relations_only=True)
    return st.recursive(
        leaves_,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3).map(lambda xs: {"and": xs}),
            st.lists(inner, max_size=3).map(lambda xs: {"or": xs}),
            inner.map(lambda x: {"not": x}),
            st.lists(inner, min_size=1, max_size=3).map(_merge),
        ),
        max_leaves=8,
    )


# --- reading a where ----------------------------------------------------------------------


def leaves(doc, positive=True):
    """(key, positive) for each leaf; ``positive`` when only and-ed at the root."""
    if not isinstance(doc, dict):
        return
    for key, value in doc.items():
        if key in ("and", "or") and isinstance(value, list):
            for item in value:
                yield from leaves(item, positive and key == "and")
        elif key == "not" and isinstance(value, dict):
            yield from leaves(value, False)
        else:
            yield key, positive


def is_secret(model, key):
    return any(key == p or key.startswith(p + "__") for p in SECRET[model])


def traverses_customer(key):
    parts = key.split("__")
    return len(parts) > 1 and parts[0] in ("customer", "customer_id") and parts[1] not in LOOKUPS


# --- running calls and checking what comes back -------------------------------------------


def execute_rolled_back(call):
    """One call inside a savepoint that is rolled back: examples leave nothing behind."""
    with transaction.atomic():
        result = execute(call, CTX)
        transaction.set_rollback(True)
    with contextlib.suppress(InvalidArgument):  # outside @given (the known edges): no notes
        note(f"{json.dumps(call, default=repr)[:400]} -> {json.dumps(result, default=repr)[:400]}")
    return result


def check_outcome(result):
    assert isinstance(result, dict)
    assert result["outcome"] in ("ok", "denied", "error"), result
    if result["outcome"] != "ok":
        code = result["error"]["code"]
        assert CODE.match(code), result
        assert code != "INTERNAL_ERROR", result
        assert isinstance(result["error"]["message"], str)
        assert result["error"]["message"]
    text = json.dumps(result)
    assert "Traceback" not in text
    assert 'File "' not in text


def check_row(seed, model, row):
    assert row.get("tenant_id", 7) == 7, row
    assert row["id"] in seed.visible[model], row
    for name in DENIED_NAMES:
        assert name not in row, row
    for value in row.values():
        if isinstance(value, str):
            for secret in SECRETS:
                assert secret not in value, row
            for marker in EIGHT_MARKERS:
                assert marker not in value, row


def refused(result):
    return result["outcome"], result.get("error", {}).get("code")


# --- the properties -----------------------------------------------------------------------

field_lists = st.none() | st.lists(
    st.sampled_from(["id", "name", "status", "email", "phone", "author_email", "customer"])
    | st.sampled_from([*DENIED_NAMES, "nope", "tenant_id", "body", "total_cents"]),
    max_size=3,
)


@pytest.mark.slow
@pytest.mark.django_db
def test_random_where_never_raises_and_never_leaks():
    seed = seed_two_tenants()

    @given(model=st.sampled_from(MODELS), data=st.data())
    def check(model, data):
        where_doc = data.draw(wheres(model), label="where")
        fields = data.draw(field_lists, label="fields")
        check_where(seed, model, where_doc, fields)

    check()


@pytest.mark.slow
@pytest.mark.django_db
def test_relation_filter_never_matches_through_another_tenants_customer():
    seed = seed_two_tenants()

    @given(model=st.sampled_from(["Order", "Subscription", "Note"]), data=st.data())
    def check(model, data):
        related = st.lists(typed_leaves(model, relations_only=True), min_size=1, max_size=3)
        own = st.lists(typed_leaves(model), max_size=2)
        where_doc = {**_merge(data.draw(own, label="own")), **_merge(data.draw(related))}
        check_where(seed, model, where_doc, fields=None)

    check()


# Documents hypothesis found (or that sit on an edge): checked on every run.
KNOWN_EDGES = [
    ("Order", {"created_at__iso_year": 9999}),
    ("Subscription", {"renews_on__iso_year__gte": 9999}),
    ("Order", {"status": "a\x00b"}),
    ("Order", {"customer__name": "\ud800"}),
    ("Order", {"customer__name": "Bob Eight"}),
    ("Note", {"customer__name__icontains": "bob"}),
    ("Order", {"and": [{"customer__tenant_id": 8}, {"status": "shipped"}]}),
    ("Order", {"not": {"customer__tenant_id": 7}}),
    ("Customer", {"email__year": 2024}),
    ("Note", {"or": [{"author_email": None}, {"id__gte": 0}]}),
    ("Order", {"customer__range": [7, 7]}),
    ("Note", {"customer_id__range": [1, 10**6]}),
]


@pytest.mark.parametrize(("model", "where_doc"), KNOWN_EDGES, ids=repr)
def test_known_edge_where_is_answered_safely(model, where_doc):
    seed = seed_two_tenants()
    check_where(seed, model, where_doc, fields=None)


def check_where(seed, model, where_doc, fields):
    queried = execute_rolled_back(
        {"name": "db.query", "arguments": {"model": model, "where": where_doc, "fields": fields}}
    )
    check_outcome(queried)
    counted = execute_rolled_back(
        {
            "name": "db.aggregate",
            "arguments": {
                "model": model,
                "where": where_doc,
                "aggregations": {"n": {"count": "id"}},
            },
        }
    )
    check_outcome(counted)

    keys_ = list(leaves(where_doc))
    if any(is_secret(model, key) for key, _ in keys_):
        assert queried["outcome"] != "ok", queried
        assert counted["outcome"] != "ok", counted
    if fields is None:
        # The same where compiles the same way for both tools.
        assert refused(queried) == refused(counted)
    if queried["outcome"] == "ok":
        rows = queried["rows"]
        for row in rows:
            check_row(seed, model, row)
        if any(positive and traverses_customer(key) for key, positive in keys_):
            # The relation is scoped: a row whose customer is tenant 8's never matches.
            assert seed.crossing.get(model) not in {row["id"] for row in rows}, rows
    if counted["outcome"] == "ok":
        n = counted["result"]["n"]
        assert 0 <= n <= len(seed.visible[model])
        if queried["outcome"] == "ok" and fields is None:
            assert n == len(queried["rows"])


def _ids(seed):
    known = [i for ids in (*seed.visible.values(), *seed.hidden.values()) for i in ids]
    return st.sampled_from(known) | st.sampled_from([str(i) for i in known]) | json_values


@pytest.mark.slow
@pytest.mark.django_db
def test_random_get_never_raises_and_sees_only_own_visible_rows():
    seed = seed_two_tenants()

    @given(model=st.sampled_from(MODELS), pk=_ids(seed), fields=field_lists)
    def check(model, pk, fields):
        arguments = {"model": model, "id": pk}
        if fields is not None:
            arguments["fields"] = fields
        result = execute_rolled_back({"name": "db.get", "arguments": arguments})
        check_outcome(result)
        if fields is not None and any(name in DENIED_NAMES for name in fields):
            assert result["outcome"] != "ok", result
        if result["outcome"] == "ok":
            check_row(seed, model, result["row"])
        hidden = seed.hidden[model]
        if (isinstance(pk, int) and not isinstance(pk, bool) and pk in hidden) or (
            isinstance(pk, str) and pk.isdigit() and int(pk) in hidden
        ):
            assert result["outcome"] != "ok", result
            if fields is None:
                assert refused(result) == ("error", "NOT_FOUND"), result

    check()


def _with_leaf(where_doc, place, key, value):
    """``where_doc`` with one more leaf, at the root, under and/or, or under not."""
    leaf = {key: value}
    if place == "root":
        return {**where_doc, key: value}
    if place == "not":
        return {**where_doc, "not": leaf}
    return {**where_doc, place: [leaf, where_doc] if where_doc else [leaf]}


@pytest.mark.slow
@pytest.mark.django_db
def test_outcome_of_a_where_on_a_secret_never_depends_on_the_secret():
    seed_two_tenants()

    @given(
        model=st.sampled_from(MODELS),
        data=st.data(),
        place=st.sampled_from(["root", "and", "or", "not"]),
        other=json_values,
    )
    def check(model, data, place, other):
        base = data.draw(wheres(model), label="base")
        key = data.draw(secret_keys(model), label="secret key")
        field = next((part for part in key.split("__") if part in SEVEN), "email")
        true_value = SEVEN[field]
        outcomes = []
        for value in (true_value, EIGHT.get(field, true_value), other, [true_value], None):
            result = execute_rolled_back(
                {
                    "name": "db.query",
                    "arguments": {"model": model, "where": _with_leaf(base, place, key, value)},
                }
            )
            check_outcome(result)
            assert result["outcome"] != "ok", result
            outcomes.append((refused(result), result["error"]["message"]))
        assert len(set(outcomes)) == 1, outcomes

    check()
