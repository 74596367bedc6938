"""db.describe and tool_definitions: what a model can discover about the policy it works under."""

import json
import re

import pytest

from ormai_django import DEFAULT_PROD, PolicyBuilder, ToolContext, execute, tool_definitions
from ormai_django.models import AuditEvent
from ormai_django.orm.where import LOOKUPS
from ormai_django.tools.registry import find_tool
from tests.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db

AGENT = ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-describe")
SANDBOX_MODELS = {"Customer", "Subscription", "Order", "Note", "Refund"}
READ_TOOLS = {"db.describe", "db.query", "db.get", "db.aggregate"}
# Provider function names: OpenAI and Anthropic both accept ^[a-zA-Z0-9_-]{1,64}$.
PROVIDER_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def describe(arguments=None, policy=None, context=AGENT):
    return execute({"name": "db.describe", "arguments": arguments or {}}, context, policy=policy)


def by_name(items):
    return {item["name"]: item for item in items}


def orders_only_policy():
    return PolicyBuilder(DEFAULT_PROD).register_models(["shop.Order"]).build()


# --- db.describe --------------------------------------------------------------------------


def test_describe_lists_every_registered_model():
    result = describe()

    assert result["outcome"] == "ok"
    assert {m["name"] for m in result["models"]} == SANDBOX_MODELS
    assert {m["label"] for m in result["models"]} == {f"shop.{n}" for n in SANDBOX_MODELS}


def test_describe_lists_only_the_policys_models():
    result = describe(policy=orders_only_policy())

    assert [m["name"] for m in result["models"]] == ["Order"]


def test_describe_gives_fields_with_types_and_leaves_denied_fields_out():
    customer = by_name(describe({"model": "Customer"})["models"][0]["fields"])

    assert "password_hash" not in customer
    assert "api_token" not in customer
    assert customer["id"]["type"] == "integer"
    assert customer["id"]["primary_key"] is True
    assert customer["name"]["type"] == "string"
    assert customer["is_vip"]["type"] == "boolean"
    assert customer["created_at"]["type"] == "datetime"
    assert customer["tenant_id"]["type"] == "integer"
    assert customer["preferred_language"]["choices"] == ["en", "fr", "de", "es"]


def test_describe_never_mentions_a_denied_field_anywhere():
    text = json.dumps(describe())

    assert "password" not in text
    assert "api_token" not in text


def test_describe_marks_masked_fields_as_masked_and_not_filterable():
    models = by_name(describe()["models"])
    customer = by_name(models["Customer"]["fields"])
    note = by_name(models["Note"]["fields"])

    for field in (customer["email"], customer["phone"], note["author_email"]):
        assert field["masked"] is True
        assert field["filterable"] is False
    assert customer["name"]["masked"] is False
    assert customer["name"]["filterable"] is True


def test_describe_marks_writable_fields_and_write_rules():
    policy = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models(["shop.Customer", "shop.Order"])
        .mask_fields(["customer.email"])
        .enable_writes(
            models=["Customer"],
            writable_fields={"Customer": ["preferred_name", "preferred_language"]},
        )
        .build()
    )

    models = by_name(describe(policy=policy)["models"])
    customer = models["Customer"]
    fields = by_name(customer["fields"])

    assert fields["preferred_name"]["writable"] is True
    assert fields["preferred_language"]["writable"] is True
    assert fields["name"]["writable"] is False
    assert fields["email"]["writable"] is False
    assert customer["writes"]["enabled"] is True
    assert customer["writes"]["writable_fields"] == ["preferred_language", "preferred_name"]
    assert customer["writes"]["require_reason"] is DEFAULT_PROD.require_reason
    assert models["Order"]["writes"]["enabled"] is False
    assert models["Order"]["writes"]["writable_fields"] == []
    assert not any(f["writable"] for f in models["Order"]["fields"])


def test_describe_of_the_sandbox_policy_shows_its_writable_customer_fields():
    customer = describe({"model": "Customer"})["models"][0]

    assert customer["writes"]["enabled"] is True
    assert {"preferred_name", "preferred_language"} <= set(customer["writes"]["writable_fields"])
    assert not by_name(customer["fields"])["email"]["writable"]


def test_describe_gives_relations_to_registered_models_as_traversable():
    order = by_name(describe({"model": "Order"})["models"][0]["fields"])

    assert order["customer"]["type"] == "relation"
    assert order["customer"]["relation"] == "Customer"
    assert order["customer"]["traversable"] is True


def test_describe_gives_relations_to_unregistered_models_as_not_traversable():
    order = by_name(
        describe({"model": "Order"}, policy=orders_only_policy())["models"][0]["fields"]
    )

    assert order["customer"]["relation"] is None
    assert order["customer"]["traversable"] is False


def test_describe_says_which_models_are_tenant_scoped_and_soft_deleted():
    models = by_name(describe()["models"])
    unscoped = describe({"model": "Order"}, policy=orders_only_policy())["models"][0]

    assert all(m["tenant_scoped"] for m in models.values())
    assert models["Note"]["soft_delete"] is True
    assert models["Order"]["soft_delete"] is False
    assert unscoped["tenant_scoped"] is False


def test_describe_gives_lookups_aggregates_and_limits():
    policy = (
        PolicyBuilder(DEFAULT_PROD).register_models(["shop.Order"]).row_limits(default=7, max=9)
    ).build()

    result = describe(policy=policy)

    assert set(result["lookups"]) == set(LOOKUPS)
    assert {"exact", "icontains", "in", "range", "isnull"} <= set(result["lookups"])
    assert "regex" not in result["lookups"]
    assert "year" in result["date_parts"]
    assert set(result["aggregates"]) == {"count", "count_distinct", "sum", "avg", "min", "max"}
    assert result["limits"] == {"default": 7, "max": 9}


@pytest.mark.parametrize("name", ["Order", "order", "ORDER", "shop.Order", "SHOP.order"])
def test_describe_one_model_by_name_case_insensitively(name):
    result = describe({"model": name})

    assert result["outcome"] == "ok"
    assert [m["name"] for m in result["models"]] == ["Order"]


def test_describe_is_audited_with_the_model_it_described():
    result = describe({"model": "order"})

    event = AuditEvent.objects.get(id=result["audit_id"])
    assert (event.tool, event.model, event.outcome) == ("db.describe", "shop.Order", "ok")


@pytest.mark.parametrize(
    "name", ["Invoice", "auth.User", "User", "AuditEvent", "ormai_django.AuditEvent", "shop"]
)
def test_describe_unknown_or_unregistered_model_is_unknown_model(name):
    result = describe({"model": name})

    assert result["outcome"] == "error"
    assert result["error"]["code"] == "UNKNOWN_MODEL"
    assert "models" not in result
    for registered in SANDBOX_MODELS:
        assert registered in result["error"]["message"]


@pytest.mark.parametrize("name", [5, "", "   ", ["Order"], {"name": "Order"}, True], ids=repr)
def test_describe_model_that_is_not_a_name_is_invalid_arguments(name):
    result = describe({"model": name})

    assert result["outcome"] == "error"
    assert result["error"]["code"] == "INVALID_ARGUMENTS"


def test_describe_refuses_arguments_it_does_not_take():
    result = describe({"model": "Order", "fields": ["id"]})

    assert result["error"]["code"] == "INVALID_ARGUMENTS"
    assert "model" in result["error"]["message"]


def test_describe_shows_the_shape_not_the_data():
    customer = CustomerFactory(name="Zebulon Quartermaine", email="zq@hidden.example")
    OrderFactory(customer=customer)

    text = json.dumps(describe())

    assert "Zebulon" not in text
    assert "zq@hidden.example" not in text


# --- tool_definitions ---------------------------------------------------------------------


def test_openai_definitions_are_functions_with_underscore_names():
    definitions = tool_definitions(orders_only_policy(), format="openai")

    for definition in definitions:
        assert set(definition) == {"type", "function"}
        assert definition["type"] == "function"
        function = definition["function"]
        assert {"name", "description", "parameters"} <= set(function)
        assert PROVIDER_NAME.match(function["name"])
        assert "." not in function["name"]
        assert function["parameters"]["type"] == "object"
    names = {d["function"]["name"] for d in definitions}
    assert {t.replace(".", "_") for t in READ_TOOLS} <= names
    query = next(d for d in definitions if d["function"]["name"] == "db_query")["function"]
    assert query["parameters"]["required"] == ["model"]


def test_anthropic_definitions_have_name_description_and_input_schema():
    definitions = tool_definitions(orders_only_policy(), format="anthropic")

    for definition in definitions:
        assert set(definition) == {"name", "description", "input_schema"}
        assert PROVIDER_NAME.match(definition["name"])
        assert "." not in definition["name"]
        assert definition["input_schema"]["type"] == "object"
        assert definition["description"]
    assert {t.replace(".", "_") for t in READ_TOOLS} <= {d["name"] for d in definitions}


def test_json_schema_definitions_give_the_dotted_names_when_asked():
    assert "db_query" in {d["name"] for d in tool_definitions(orders_only_policy())}
    definitions = tool_definitions(orders_only_policy(), format="json_schema", names="dotted")

    names = {d["name"] for d in definitions}
    assert names >= READ_TOOLS
    query = by_name(definitions)["db.query"]
    assert query["input_schema"]["type"] == "object"
    assert "$schema" in query["input_schema"]
    assert set(query["input_schema"]["properties"]) == {
        "model",
        "where",
        "fields",
        "order_by",
        "limit",
        "cursor",
    }


def test_the_three_formats_describe_the_same_tools():
    policy = orders_only_policy()
    openai = {d["function"]["name"] for d in tool_definitions(policy, format="openai")}
    anthropic = {d["name"] for d in tool_definitions(policy, format="anthropic")}
    dotted = {d["name"] for d in tool_definitions(policy, format="json_schema")}

    assert openai == anthropic == {n.replace(".", "_") for n in dotted}


def schemas_of(definitions, fmt):
    if fmt == "openai":
        return {d["function"]["name"]: d["function"]["parameters"] for d in definitions}
    return {d["name"]: d["input_schema"] for d in definitions}


def descriptions_of(definitions, fmt):
    if fmt == "openai":
        return [d["function"]["description"] for d in definitions]
    return [d["description"] for d in definitions]


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "json_schema"])
def test_schemas_list_this_policys_models_as_an_enum(fmt, policy):
    sandbox = schemas_of(tool_definitions(policy, format=fmt), fmt)
    orders_only = schemas_of(tool_definitions(orders_only_policy(), format=fmt), fmt)

    for schema in sandbox.values():
        if "model" in schema["properties"]:
            assert set(not_null(schema["properties"]["model"])["enum"]) == SANDBOX_MODELS
    for schema in orders_only.values():
        if "model" in schema["properties"]:
            assert not_null(schema["properties"]["model"])["enum"] == ["Order"]


def not_null(prop):
    """An optional argument's schema without its null branch (required ones are as is)."""
    if "anyOf" in prop and {"type": "null"} in prop["anyOf"]:
        [inner] = [branch for branch in prop["anyOf"] if branch != {"type": "null"}]
        return inner
    return prop


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "json_schema"])
def test_definitions_spell_out_fields_and_lookups_without_denied_fields(fmt, policy):
    definitions = tool_definitions(policy, format=fmt)
    text = json.dumps(definitions)
    descriptions = descriptions_of(definitions, fmt)
    query_schema = next(
        s for n, s in schemas_of(definitions, fmt).items() if n in ("db.query", "db_query")
    )

    db_descriptions = [d for d in descriptions if "Models and fields" in d]
    assert len(db_descriptions) == 7  # every db.* tool; approval.status names no model
    for field in ("total_cents", "preferred_language", "author_email", "renews_on"):
        assert all(field in d for d in db_descriptions)
    where_text = query_schema["properties"]["where"]["description"]
    for lookup in LOOKUPS:
        assert re.search(rf"\b{lookup}\b", where_text), lookup
    assert "masked" in descriptions[0]
    assert "password" not in text
    assert "api_token" not in text


def test_definitions_give_the_policys_row_limits():
    policy = (
        PolicyBuilder(DEFAULT_PROD).register_models(["shop.Order"]).row_limits(default=4, max=6)
    ).build()

    query = by_name(tool_definitions(policy, format="anthropic"))["db_query"]
    limit = query["input_schema"]["properties"]["limit"]

    assert limit["anyOf"][1] == {"type": "null"}  # optional: null means not given
    assert limit["anyOf"][0]["maximum"] == 6
    assert limit["anyOf"][0]["minimum"] == 1
    assert "4" in limit["description"]


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "json_schema"])
def test_definitions_are_plain_json(fmt, policy):
    definitions = tool_definitions(policy, format=fmt)

    assert json.loads(json.dumps(definitions)) == definitions


def test_tool_definitions_without_a_policy_use_the_configured_one(policy):
    assert tool_definitions(format="anthropic") == tool_definitions(policy, format="anthropic")


def test_tool_definitions_default_to_the_json_schema_shape_as_over_http():
    definitions = tool_definitions(orders_only_policy())

    assert definitions == tool_definitions(orders_only_policy(), format="json_schema")
    assert all(set(d) == {"name", "description", "input_schema"} for d in definitions)


@pytest.mark.parametrize("fmt", ["gemini", "", "OPENAI", "json-schema", None, 1])
def test_tool_definitions_with_an_unknown_format_raise_value_error(fmt):
    with pytest.raises(ValueError):
        tool_definitions(orders_only_policy(), format=fmt)


# --- every definition can be called ------------------------------------------------------


def example_arguments(tool, order_id):
    return {
        "db.describe": {},
        "db.query": {"model": "Order"},
        "db.get": {"model": "Order", "id": order_id},
        "db.aggregate": {"model": "Order", "aggregations": {"n": {"count": "*"}}},
    }.get(tool)


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "json_schema"])
def test_every_definitions_name_is_accepted_by_execute(fmt, policy):
    order = OrderFactory()
    definitions = tool_definitions(policy, format=fmt)
    names = [d["function"]["name"] if fmt == "openai" else d["name"] for d in definitions]

    for name in names:
        canonical = find_tool(name).name
        arguments = example_arguments(canonical, order.id)
        result = execute({"name": name, "arguments": arguments or {}}, AGENT)

        assert result.get("error", {}).get("code") != "UNKNOWN_TOOL", (name, result)
        assert AuditEvent.objects.get(id=result["audit_id"]).tool == canonical
        if arguments is not None:
            assert result["outcome"] == "ok", (name, result)


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "json_schema"])
def test_every_argument_a_read_schema_lists_is_accepted_by_execute(fmt, policy):
    order = OrderFactory()
    schemas = schemas_of(tool_definitions(policy, format=fmt), fmt)

    for name, schema in schemas.items():
        canonical = name.replace("_", ".", 1)
        arguments = example_arguments(canonical, order.id)
        if arguments is None:
            continue
        # Optional arguments sent as null (as many models do) mean "not given".
        arguments = {p: None for p in schema["properties"]} | arguments
        result = execute({"name": name, "arguments": arguments}, AGENT)

        assert result["outcome"] == "ok", (name, result)
        assert set(schema["required"]) <= set(schema["properties"])
