"""Tool definitions for LLM providers, spelled out for one policy.

    tools = tool_definitions(policy, format="openai")     # or "anthropic", "json_schema"

Each definition names this policy's models (as an enum) and, in its description,
each model's fields, which are masked, and the lookups ``where`` accepts, so a
model can discover what it may ask without a round trip.
"""

from __future__ import annotations

from typing import Any

from ormai_django.domain.declarations import declared
from ormai_django.domain.schema import (
    IDEMPOTENCY_KEY_SCHEMA,
    REASON_SCHEMA,
    nullable,
)
from ormai_django.domain.schema import input_schema as domain_input_schema
from ormai_django.names import DB_AGGREGATE, DB_GET, DB_QUERY, DB_TOOLS
from ormai_django.orm.where import DATE_PARTS, LOOKUPS
from ormai_django.policy.loading import get_policy
from ormai_django.policy.policy import Policy
from ormai_django.reads.aggregate import AGGREGATES, MAX_GROUP_BY
from ormai_django.reads.query import MAX_ORDER_BY
from ormai_django.reads.untrusted import DESCRIPTION as UNTRUSTED_DESCRIPTION
from ormai_django.tools.registry import ToolSpec, all_tools
from ormai_django.tools.strict import strict_schema, strict_shapes

FORMATS = ("openai", "anthropic", "json_schema")
# Arguments whose schema already takes null (the shared reason and idempotency key).
NULLABLE_ALREADY = ("reason", "idempotency_key")


# How tool names are spelled for a client: provider-safe (db_query) or canonical (db.query).
NAME_STYLES = ("provider", "dotted")


def _models_summary(policy: Policy) -> str:
    lines = []
    for mp, name in zip(policy.models, policy.model_names, strict=True):
        fields = []
        for info in mp.fields.values():
            note = info.type
            if info.masked:
                note += ", masked: not filterable"
            if info.writable:
                note += ", writable"
            if info.related_model is not None and policy.for_model(info.related_model):
                note += f" -> {policy.for_model(info.related_model).name}"
            fields.append(f"{info.name} ({note})")
        lines.append(f"- {name}: {', '.join(fields)}")
    return "\n".join(lines)


def _argument_schemas(policy: Policy) -> dict[str, dict[str, Any]]:
    return {
        "model": {
            "type": "string",
            "enum": list(policy.model_names),
            "description": "The model to use.",
        },
        "where": {
            "type": "object",
            "description": (
                'Django-style lookups, ANDed: {"status": "pending", "created_at__lt": '
                '"2026-01-01", "customer__name__icontains": "ann"}. Nest with '
                '{"or": [...]}, {"and": [...]}, {"not": {...}}. Lookups: '
                f"{', '.join(LOOKUPS)}; date parts (created_at__year__gte): "
                f"{', '.join(DATE_PARTS)}. Relations are followed with '__'."
            ),
            "additionalProperties": True,
        },
        "fields": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Fields to return (default: all visible fields; id always included).",
        },
        "order_by": {
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}, "maxItems": MAX_ORDER_BY},
            ],
            "description": f"A field or up to {MAX_ORDER_BY} fields to sort by; prefix '-' "
            "for descending.",
        },
        "limit": {
            "type": "integer",
            "minimum": 1,
            "maximum": policy.max_limit,
            "description": f"Rows per page (default {policy.default_limit}).",
        },
        "cursor": {
            "type": "string",
            "description": "next_cursor from the previous page of the same query.",
        },
        "id": {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "description": "The row's primary key.",
        },
        "aggregations": {
            "type": "object",
            "description": (
                "Named aggregates, each one function over one field: "
                '{"total": {"sum": "total_cents"}, "n": {"count": "id"}}. '
                f"Functions: {', '.join(AGGREGATES)}."
            ),
            "additionalProperties": {"type": "object"},
        },
        "data": {
            "type": "object",
            "description": "Field values to write: writable fields only (db.describe lists them).",
        },
        "reason": REASON_SCHEMA,
        "idempotency_key": IDEMPOTENCY_KEY_SCHEMA,
        "dry_run": {
            "type": "boolean",
            "description": "Preview: the exact rows and values, changing nothing.",
        },
        "group_by": {
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}, "maxItems": MAX_GROUP_BY},
            ],
            "description": f"A field or up to {MAX_GROUP_BY} fields to group by; the result "
            "is one object per group.",
        },
        "approval_id": {
            "type": "string",
            "description": "The approval_id a held write returned (appr_...).",
        },
    }


def input_schema(spec: ToolSpec, policy: Policy) -> dict[str, Any]:
    """The JSON Schema of a tool's arguments under ``policy``."""
    tool = declared(spec.name)
    if tool is not None:
        return domain_input_schema(tool)
    schemas = _argument_schemas(policy)
    return {
        "type": "object",
        # An optional argument accepts null too: the server treats it as not given.
        "properties": {
            name: schemas[name]
            if name in spec.required or name in NULLABLE_ALREADY
            else nullable(schemas[name])
            for name in spec.arguments
        },
        "required": list(spec.required),
        "additionalProperties": False,
    }


def tool_definitions(
    policy: Policy | None = None,
    format: str = "json_schema",
    *,
    context: Any = None,
    names: str = "provider",
    strict: bool = False,
) -> list[dict[str, Any]]:
    """The tools this policy offers, in the shape ``format`` expects (the same default,
    ``json_schema``, as ``GET tools/`` over HTTP).

    ``openai``: ``{"type": "function", "function": {"name": "db_query", ...}}``;
    ``anthropic``: ``{"name": "db_query", "description", "input_schema"}``;
    ``json_schema``: ``{"name": "db_query", "description", "input_schema"}``.

    ``names``: ``"provider"`` (the default: ``db_query``, what OpenAI, Anthropic and the
    MCP clients that pass names through accept) or ``"dotted"`` (``db.query``, the
    canonical names). ``execute`` takes either spelling.

    ``strict=True``: schemas OpenAI's strict mode accepts (every property required, the
    optional ones nullable, every object closed, ``where``, ``data`` and ``aggregations`` as
    closed lists: see ``ormai_django.tools.strict``), and ``"strict": true`` on each OpenAI
    function; ``execute`` takes calls made from them.

        tool_definitions(format="openai", strict=True)

    ``context`` (a ``ToolContext``): only what this caller may use, so a caller outside a
    soft launch (``enable_writes(..., tenants=[...])``) isn't offered its writes.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {format!r}")
    if names not in NAME_STYLES:
        raise ValueError(f"names must be one of {NAME_STYLES}, not {names!r}")
    if policy is None:
        policy = get_policy()
    if context is not None:
        policy = policy.for_context(context)
    models_text = _models_summary(policy)
    shapes = strict_shapes(policy) if strict else {}
    definitions = []
    for spec in all_tools():
        if not policy.allows_tool(spec.name):
            continue
        if spec.name in DB_TOOLS and spec.writes and not policy.writes_enabled:
            continue
        description = (
            f"{spec.summary}\nModels and fields:\n{models_text}"
            if spec.name in DB_TOOLS
            else spec.summary
        )
        if policy.mark_untrusted_strings and spec.name in (DB_QUERY, DB_GET, DB_AGGREGATE):
            description += UNTRUSTED_DESCRIPTION
        schema = input_schema(spec, policy)
        if strict:
            schema = strict_schema(schema, shapes)
        name = spec.name if names == "dotted" else spec.provider_name
        if format == "openai":
            definitions.append(
                {
                    "type": "function",
                    "function": {
                        "name": name,
                        "description": description,
                        "parameters": schema,
                        **({"strict": True} if strict else {}),
                    },
                }
            )
        elif format == "anthropic":
            definitions.append({"name": name, "description": description, "input_schema": schema})
        else:
            definitions.append(
                {
                    "name": name,
                    "description": description,
                    "input_schema": {
                        "$schema": "https://json-schema.org/draft/2020-12/schema",
                        **schema,
                    },
                }
            )
    return definitions
