"""execute / aexecute: the call shapes a host passes in, contexts, the configured policy."""

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from django.test import override_settings

from ormai_django import DEFAULT_PROD, PolicyBuilder, ToolContext, aexecute, execute
from ormai_django.models import AuditEvent
from tests.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-pipeline")
SANDBOX_POLICY = "sandbox_project.shop.policy.build_policy"


def unmasked_customers_policy():
    """A policy named by dotted path in ORMAI["POLICY"] below: customers, email not masked."""
    return PolicyBuilder(DEFAULT_PROD).register_models(["shop.Customer"]).build()


def broken_policy():
    """A policy function whose build fails (an unknown model)."""
    return PolicyBuilder(DEFAULT_PROD).register_models(["shop.Invoice"]).build()


NOT_A_POLICY = {"models": ["Customer"]}


def query_call(**arguments):
    return {"name": "db.query", "arguments": {"model": "Order", **arguments}}


def assert_audited(result):
    assert result["audit_id"].startswith("aud_")
    event = AuditEvent.objects.get(id=result["audit_id"])
    assert event.outcome == result["outcome"]
    assert event.error_code == result.get("error", {}).get("code", "")
    return event


# --- call shapes --------------------------------------------------------------------------


def test_execute_takes_a_dict_a_json_string_and_bytes_with_the_same_result():
    orders = OrderFactory.create_batch(2)
    call = query_call(fields=["status"])
    expected_ids = sorted(o.id for o in orders)

    results = [
        execute(call, AGENT),
        execute(json.dumps(call), AGENT),
        execute(json.dumps(call).encode(), AGENT),
        execute(bytearray(json.dumps(call).encode()), AGENT),
    ]

    for result in results:
        assert result["outcome"] == "ok", result
        assert [row["id"] for row in result["rows"]] == expected_ids
    assert len({r["audit_id"] for r in results}) == len(results)


def test_execute_takes_arguments_as_a_json_string():
    order = OrderFactory()

    result = execute(
        {"name": "db.get", "arguments": json.dumps({"model": "Order", "id": order.id})}, AGENT
    )

    assert result["outcome"] == "ok"
    assert result["row"]["id"] == order.id


@pytest.mark.parametrize("name", ["db.query", "db_query"])
def test_tool_names_work_with_a_dot_or_an_underscore(name):
    order = OrderFactory()

    result = execute({"name": name, "arguments": {"model": "Order"}}, AGENT)

    assert result["outcome"] == "ok"
    assert [row["id"] for row in result["rows"]] == [order.id]
    assert AuditEvent.objects.get(id=result["audit_id"]).tool == "db.query"


def test_openai_function_envelope_with_json_string_arguments_works():
    order = OrderFactory()
    call = {
        "function": {"name": "db_get", "arguments": json.dumps({"model": "Order", "id": order.id})}
    }

    result = execute(call, AGENT)

    assert result["outcome"] == "ok"
    assert result["row"]["id"] == order.id


def test_openai_tool_call_object_as_the_api_returns_it_works():
    order = OrderFactory()
    tool_call = {
        "id": "call_abc123",
        "type": "function",
        "function": {"name": "db_query", "arguments": json.dumps({"model": "Order"})},
    }

    as_dict = execute(tool_call, AGENT)
    as_text = execute(json.dumps(tool_call), AGENT)

    for result in (as_dict, as_text):
        assert result["outcome"] == "ok"
        assert [row["id"] for row in result["rows"]] == [order.id]


def test_anthropic_tool_use_block_with_input_works():
    order = OrderFactory()
    plain = {"name": "db_get", "input": {"model": "Order", "id": order.id}}
    block = {"type": "tool_use", "id": "toolu_01", **plain}

    for call in (plain, block):
        result = execute(call, AGENT)
        assert result["outcome"] == "ok", result
        assert result["row"]["id"] == order.id


def test_missing_or_null_arguments_mean_none():
    for call in ({"name": "db.describe"}, {"name": "db.describe", "arguments": None}):
        result = execute(call, AGENT)
        assert result["outcome"] == "ok"
        assert result["models"]


def test_the_result_is_plain_json():
    OrderFactory()

    result = execute(query_call(), AGENT)

    assert json.loads(json.dumps(result)) == result


@pytest.mark.parametrize(
    ("call", "code"),
    [
        ("{not json", "INVALID_JSON"),
        ('{"name": "db.query", "arguments": {"model": NaN}}', "INVALID_JSON"),
        (b"\xff\xfe\x00", "INVALID_JSON"),
        ("", "INVALID_JSON"),
        ("[1, 2]", "INVALID_CALL"),
        ('"db.query"', "INVALID_CALL"),
        (None, "INVALID_CALL"),
        (42, "INVALID_CALL"),
        (["db.query", {"model": "Order"}], "INVALID_CALL"),
        ({"arguments": {"model": "Order"}}, "UNKNOWN_TOOL"),
        ({"name": "db.drop_table", "arguments": {}}, "UNKNOWN_TOOL"),
        ({"name": "db-query", "arguments": {}}, "UNKNOWN_TOOL"),
        ({"name": "query", "arguments": {}}, "UNKNOWN_TOOL"),
        ({"name": "", "arguments": {}}, "UNKNOWN_TOOL"),
        ({"name": 5, "arguments": {}}, "UNKNOWN_TOOL"),
        ({"name": "db.query", "arguments": "{bad"}, "INVALID_JSON"),
        ({"name": "db.query", "arguments": ["Order"]}, "INVALID_ARGUMENTS"),
        ({"name": "db.query", "arguments": "[]"}, "INVALID_ARGUMENTS"),
        ({"name": "db.query", "arguments": {"model": float("nan")}}, "INVALID_ARGUMENTS"),
        ({"name": "db.query", "arguments": {"model": {1, 2}}}, "INVALID_ARGUMENTS"),
        ({"name": "db.query", "arguments": {"model": "Order", "sql": "x"}}, "INVALID_ARGUMENTS"),
        ({"name": "db.query", "arguments": {}}, "INVALID_ARGUMENTS"),
    ],
    ids=repr,
)
def test_malformed_calls_are_error_outcomes_never_exceptions(call, code):
    result = execute(call, AGENT)

    assert result["outcome"] == "error"
    assert result["error"]["code"] == code
    assert result["error"]["message"]
    assert "Traceback" not in json.dumps(result)
    assert_audited(result)


def test_call_larger_than_max_call_bytes_is_refused_before_it_runs():
    OrderFactory()
    call = query_call(where={"status__in": ["x" * 50] * 10})

    with override_settings(ORMAI={"POLICY": SANDBOX_POLICY, "MAX_CALL_BYTES": 200}):
        as_text = execute(json.dumps(call), AGENT)
        as_dict = execute(call, AGENT)
        small = execute(query_call(), AGENT)

    for result in (as_text, as_dict):
        assert result["outcome"] == "error"
        assert result["error"]["code"] == "INVALID_CALL"
    assert small["outcome"] == "ok"


# --- contexts -----------------------------------------------------------------------------


def test_context_as_a_mapping_works_like_a_tool_context():
    mine = OrderFactory()
    OrderFactory(tenant_id=8, customer__tenant_id=8)

    result = execute(
        query_call(),
        {"principal": "agent:map", "tenant_id": 7, "on_behalf_of": "user:1", "run_id": "r-1"},
    )

    assert result["outcome"] == "ok"
    assert [row["id"] for row in result["rows"]] == [mine.id]
    event = AuditEvent.objects.get(id=result["audit_id"])
    assert (event.principal, event.tenant_id, event.on_behalf_of, event.run_id) == (
        "agent:map",
        "7",
        "user:1",
        "r-1",
    )


def test_context_with_a_string_tenant_id_works_for_an_integer_tenant_field():
    order = OrderFactory()

    result = execute(query_call(), ToolContext(principal="agent:a", tenant_id="7"))

    assert result["outcome"] == "ok"
    assert [row["id"] for row in result["rows"]] == [order.id]


@pytest.mark.parametrize(
    "context",
    [
        None,
        "agent:support-bot",
        42,
        ["agent:support-bot", 7],
        {},
        {"tenant_id": 7},
        {"principal": None, "tenant_id": 7},
        {"principal": "", "tenant_id": 7},
        {"principal": "   ", "tenant_id": 7},
        {"principal": 5, "tenant_id": 7},
        {"principal": "agent:a", "tenant": 7},
        {"principal": "agent:a", "tenant_id": 7, "is_superuser": True},
        ToolContext(principal=""),
        ToolContext(principal="a" * 201, tenant_id=7),
        ToolContext(principal="agent:a", tenant_id=7, run_id="r" * 201),
        ToolContext(principal="agent:a", tenant_id=7, on_behalf_of=42),
        ToolContext(principal="agent:a", tenant_id=True),
        ToolContext(principal="agent:a", tenant_id=7.0),
        ToolContext(principal="agent:a", tenant_id=[7]),
        ToolContext(principal="agent:a", tenant_id={"id": 7}),
        ToolContext(principal="agent:a", tenant_id="not-a-tenant"),
    ],
    ids=repr,
)
def test_invalid_context_is_invalid_context(context):
    OrderFactory()

    result = execute(query_call(), context)

    assert result["outcome"] == "error", result
    assert result["error"]["code"] == "INVALID_CONTEXT"
    assert "rows" not in result
    assert_audited(result)


def test_context_without_tenant_on_a_tenant_scoped_model_is_denied():
    OrderFactory()

    result = execute(query_call(), ToolContext(principal="agent:a"))

    assert result["outcome"] == "denied"
    assert result["error"]["code"] == "TENANT_REQUIRED"
    assert_audited(result)


# --- which policy -------------------------------------------------------------------------


def test_policy_none_uses_the_policy_orm_ai_settings_name():
    customer = CustomerFactory(email="ann.lee@acme.io")
    call = {"name": "db.get", "arguments": {"model": "Customer", "id": customer.id}}

    configured = execute(call, AGENT)
    explicit = execute(call, AGENT, policy=unmasked_customers_policy())

    assert configured["row"]["email"] != customer.email  # the sandbox policy masks it
    assert explicit["row"]["email"] == customer.email


def test_policy_none_follows_override_settings():
    customer = CustomerFactory(email="ann.lee@acme.io")
    call = {"name": "db.get", "arguments": {"model": "Customer", "id": customer.id}}

    with override_settings(
        ORMAI={"POLICY": "tests.pipeline.test_execute_pipeline.unmasked_customers_policy"}
    ):
        overridden = execute(call, AGENT)
        orders = execute(query_call(), AGENT)
    restored = execute(call, AGENT)

    assert overridden["row"]["email"] == customer.email
    assert orders["error"]["code"] == "UNKNOWN_MODEL"  # that policy registers no Order
    assert restored["row"]["email"] != customer.email


@pytest.mark.parametrize(
    "orm_ai",
    [
        {"POLICY": None},
        {},
        {"POLICY": ""},
        {"POLICY": "tests.no_such_module.policy"},
        {"POLICY": "tests.pipeline.test_execute_pipeline.no_such_name"},
        {"POLICY": "tests.pipeline.test_execute_pipeline.NOT_A_POLICY"},
        {"POLICY": "tests.pipeline.test_execute_pipeline.broken_policy"},
        {"POLICY": 42},
    ],
    ids=repr,
)
def test_unusable_configured_policy_is_policy_not_configured_without_raising(orm_ai):
    OrderFactory()

    with override_settings(ORMAI=orm_ai):
        result = execute(query_call(), AGENT)

    assert result["outcome"] == "error"
    assert result["error"]["code"] == "POLICY_NOT_CONFIGURED"
    assert "rows" not in result
    event = assert_audited(result)
    assert event.tool == "db.query"
    assert event.principal == AGENT.principal


def test_explicit_policy_works_when_none_is_configured():
    order = OrderFactory()
    policy = PolicyBuilder(DEFAULT_PROD).register_models(["shop.Order"]).build()

    with override_settings(ORMAI={"POLICY": None}):
        result = execute(query_call(), AGENT, policy=policy)

    assert result["outcome"] == "ok"
    assert [row["id"] for row in result["rows"]] == [order.id]


def test_configured_policy_works_again_after_a_broken_override():
    order = OrderFactory()
    with override_settings(ORMAI={"POLICY": None}):
        execute(query_call(), AGENT)

    result = execute(query_call(), AGENT)

    assert result["outcome"] == "ok"
    assert [row["id"] for row in result["rows"]] == [order.id]


# --- every outcome is audited -------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "outcome"),
    [
        (query_call(), "ok"),
        ({"name": "db.describe", "arguments": {}}, "ok"),
        ({"name": "db.get", "arguments": {"model": "Order", "id": 10**9}}, "error"),
        (
            {"name": "db.query", "arguments": {"model": "Customer", "where": {"email": "x"}}},
            "denied",
        ),
        (
            {
                "name": "db.query",
                "arguments": {"model": "Customer", "where": {"password_hash": "x"}},
            },
            "denied",
        ),
        ({"name": "db.query", "arguments": {"model": "Invoice"}}, "error"),
        ({"name": "db.nope", "arguments": {}}, "error"),
        ("not json at all", "error"),
    ],
    ids=[
        "query",
        "describe",
        "not-found",
        "masked",
        "denied-field",
        "unknown-model",
        "tool",
        "json",
    ],
)
def test_every_outcome_has_an_audit_id_of_its_own_audit_row(call, outcome):
    OrderFactory()
    before = AuditEvent.objects.count()

    result = execute(call, AGENT)

    assert result["outcome"] == outcome
    assert_audited(result)
    assert AuditEvent.objects.count() == before + 1


def test_policy_not_configured_and_invalid_context_have_audit_ids_too():
    with override_settings(ORMAI={"POLICY": None}):
        unconfigured = execute(query_call(), AGENT)
    invalid = execute(query_call(), None)

    for result in (unconfigured, invalid):
        assert result["outcome"] == "error"
        assert_audited(result)


# --- aexecute -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_aexecute_returns_what_execute_returns():
    order = OrderFactory()
    call = {"name": "db.get", "arguments": {"model": "Order", "id": order.id}}

    result = async_to_sync(aexecute)(call, AGENT)

    assert result["outcome"] == "ok"
    assert result["row"]["id"] == order.id
    assert_audited(result)
    sync_result = execute(call, AGENT)
    assert {k: v for k, v in result.items() if k != "audit_id"} == {
        k: v for k, v in sync_result.items() if k != "audit_id"
    }


@pytest.mark.django_db(transaction=True)
def test_aexecute_takes_json_strings_and_provider_envelopes_concurrently():
    order = OrderFactory()
    arguments = {"model": "Order", "id": order.id}

    async def run_all():
        return await asyncio.gather(
            aexecute(json.dumps({"name": "db.get", "arguments": arguments}), AGENT),
            aexecute({"function": {"name": "db_get", "arguments": json.dumps(arguments)}}, AGENT),
            aexecute(
                {"name": "db_get", "input": arguments}, {"principal": "agent:a", "tenant_id": 7}
            ),
        )

    results = async_to_sync(run_all)()

    for result in results:
        assert result["outcome"] == "ok", result
        assert result["row"]["id"] == order.id
        assert_audited(result)


@pytest.mark.django_db(transaction=True)
def test_aexecute_turns_bad_input_into_error_outcomes():
    async def run_both():
        return await asyncio.gather(aexecute("{nope", AGENT), aexecute(query_call(), None))

    results = async_to_sync(run_both)()

    assert [r["error"]["code"] for r in results] == ["INVALID_JSON", "INVALID_CONTEXT"]
    for result in results:
        assert_audited(result)
