"""Strict-mode shapes (DESIGN 15): schemas OpenAI's strict function calling accepts, and the
translation of calls made from them back to the ordinary arguments.

OpenAI's strict mode wants every property required (optional ones nullable), every object
closed (``additionalProperties: false``) and no open objects at all, so the three
arguments that are open objects take a closed list shape instead:

- ``where``: a list of ``{"field", "op", "value"}`` conditions, all of which must hold, with
  ``field`` and ``op`` as enums from this policy;
- ``data``: a list of ``{"field", "value"}``, ``field`` an enum of the writable fields;
- ``aggregations``: a list of ``{"name", "function", "field"}``.

``execute`` takes both shapes: ``plain_arguments`` turns a list into the object the tools
read, before anything else looks at the call.
"""

from __future__ import annotations

import copy
from typing import Any

from ormai_django import codes
from ormai_django.errors import ToolError
from ormai_django.orm.where import LOOKUPS
from ormai_django.policy.policy import Policy
from ormai_django.reads.aggregate import AGGREGATES

SCALAR = [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]
VALUE = {
    "anyOf": [
        *SCALAR[:3],
        {"type": "array", "items": {"anyOf": SCALAR[:3]}},
        {"type": "null"},
    ]
}


def _closed(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _nullable_list(item: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "anyOf": [{"type": "array", "items": item}, {"type": "null"}],
        "description": description,
    }


def strict_shapes(policy: Policy) -> dict[str, dict[str, Any]]:
    """The closed shapes of ``where``, ``data`` and ``aggregations`` under ``policy``."""
    filterable = sorted({name for mp in policy.models for name in mp.filterable_names()})
    writable = sorted({name for mp in policy.models for name in mp.writes.writable_fields})
    fields = sorted({name for mp in policy.models for name in mp.fields})
    return {
        "where": _nullable_list(
            _closed(
                {
                    "field": {"type": "string", "enum": filterable},
                    "op": {"type": "string", "enum": list(LOOKUPS)},
                    "value": VALUE,
                }
            ),
            "Conditions that must all hold, e.g. "
            '[{"field": "status", "op": "exact", "value": "pending"}]; null: no filter.',
        ),
        "data": {
            "type": "array",
            "items": _closed(
                {"field": {"type": "string", "enum": writable or [""]}, "value": VALUE}
            ),
            "description": "The values to write, one per field: "
            '[{"field": "status", "value": "cancelled"}]. Writable fields only.',
        },
        "aggregations": {
            "type": "array",
            "items": _closed(
                {
                    "name": {"type": "string"},
                    "function": {"type": "string", "enum": list(AGGREGATES)},
                    "field": {"type": "string", "enum": ["*", *fields]},
                }
            ),
            "description": 'Named aggregates: [{"name": "n", "function": "count", "field": "*"}].',
        },
    }


def strict_schema(schema: dict[str, Any], shapes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``schema`` (a tool's input schema) made strict: the open arguments take their closed
    shapes, every property is required (the optional ones already take null) and every
    object is closed."""
    out = copy.deepcopy(schema)
    out.pop("$schema", None)
    for name in list(out["properties"]):
        if name in shapes:
            out["properties"][name] = copy.deepcopy(shapes[name])
    out["required"] = list(out["properties"])
    out["additionalProperties"] = False
    return out


def plain_arguments(arguments: Any) -> Any:
    """A call made from the strict shapes, as the ordinary arguments; anything else as is."""
    if not isinstance(arguments, dict):
        return arguments
    out = dict(arguments)
    if isinstance(out.get("where"), list):
        out["where"] = _where(out["where"])
    if isinstance(out.get("data"), list):
        out["data"] = _pairs(out["data"], "data", ("field", "value"))
    if isinstance(out.get("aggregations"), list):
        out["aggregations"] = {
            item["name"]: {item["function"]: item["field"]}
            for item in _items(out["aggregations"], "aggregations", ("name", "function", "field"))
        }
    return out


def _items(items: list[Any], what: str, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    for item in items:
        if not isinstance(item, dict) or set(item) != set(keys):
            raise ToolError(
                codes.INVALID_ARGUMENTS,
                f"'{what}' as a list takes objects with exactly {', '.join(keys)}; got {item!r}.",
            )
    return items


def _pairs(items: list[Any], what: str, keys: tuple[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in _items(items, what, keys):
        if item["field"] in out:
            raise ToolError(codes.INVALID_ARGUMENTS, f"'{what}' names {item['field']!r} twice.")
        out[item["field"]] = item["value"]
    return out


def _where(items: list[Any]) -> dict[str, Any]:
    conditions = []
    for item in _items(items, "where", ("field", "op", "value")):
        field, op = item["field"], item["op"]
        if not isinstance(field, str) or not isinstance(op, str):
            raise ToolError(codes.INVALID_ARGUMENTS, "'where': field and op must be strings.")
        key = field if op == "exact" else f"{field}__{op}"
        conditions.append({key: item["value"]})
    if not conditions:
        raise ToolError(
            codes.INVALID_ARGUMENTS,
            "'where' as a list needs at least one condition; send null for no filter.",
        )
    return conditions[0] if len(conditions) == 1 else {"and": conditions}
