"""A domain tool's input serializer as the JSON Schema of its arguments.

Each DRF field becomes the schema a model can follow (types, bounds, choices, formats,
``help_text`` as the description); ``read_only`` fields are left out, and the reserved
``reason``, ``idempotency_key`` and ``dry_run`` are added as the write tools take them.
"""

from __future__ import annotations

from typing import Any

from rest_framework import fields as f
from rest_framework import relations, serializers

from ormai_django.domain.declarations import DomainTool


def input_fields(tool: DomainTool) -> dict[str, f.Field]:
    """The serializer's writable fields, by name, in declaration order."""
    return {name: field for name, field in tool.input().fields.items() if not field.read_only}


def field_schema(field: f.Field) -> dict[str, Any]:
    """The JSON Schema of one DRF field."""
    schema = _type_schema(field)
    if field.help_text:
        schema["description"] = str(field.help_text)
    if field.allow_null:
        schema = nullable(schema)
    return schema


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or ``null`` (``anyOf``, not a type array: Gemini's subset and pydantic-ai's
    TestModel take only that); the description stays on the outside."""
    inner = dict(schema)
    outer = _description_of(inner)
    if inner.get("anyOf") and not set(inner) - {"anyOf"}:
        choices = inner["anyOf"]
        if {"type": "null"} in choices:
            return {"anyOf": choices, **outer}
        return {"anyOf": [*choices, {"type": "null"}], **outer}
    return {"anyOf": [inner, {"type": "null"}], **outer}


def _description_of(schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": schema.pop("description")} if "description" in schema else {}


def _bounds(field: f.Field) -> dict[str, Any]:
    """``minimum``/``maximum`` from an integer or float field's ``min_value``/``max_value``."""
    out = {}
    if getattr(field, "min_value", None) is not None:
        out["minimum"] = field.min_value
    if getattr(field, "max_value", None) is not None:
        out["maximum"] = field.max_value
    return out


def _type_schema(field: f.Field) -> dict[str, Any]:
    if isinstance(field, f.BooleanField):
        return {"type": "boolean"}
    if isinstance(field, f.MultipleChoiceField):
        return {"type": "array", "items": {"enum": [str(c) for c in field.choices]}}
    if isinstance(field, f.ChoiceField):
        return {"enum": list(field.choices)}
    if isinstance(field, f.IntegerField):
        return {"type": "integer", **_bounds(field)}
    if isinstance(field, f.FloatField):
        return {"type": "number", **_bounds(field)}
    if isinstance(field, f.DecimalField):
        return {
            "anyOf": [{"type": "string"}, {"type": "number"}],
            "description": f"a decimal number with at most {field.decimal_places} decimal places",
        }
    if isinstance(field, f.DateTimeField):
        return {"type": "string", "format": "date-time"}
    if isinstance(field, f.DateField):
        return {"type": "string", "format": "date"}
    if isinstance(field, f.TimeField):
        return {"type": "string", "format": "time"}
    if isinstance(field, f.UUIDField):
        return {"type": "string", "format": "uuid"}
    if isinstance(field, f.EmailField):
        return {"type": "string", "format": "email", **_lengths(field)}
    if isinstance(field, f.CharField):
        return {"type": "string", **_lengths(field)}
    if isinstance(field, f.ListField):
        return {"type": "array", "items": field_schema(field.child)}
    if isinstance(field, serializers.ListSerializer):
        return {"type": "array", "items": field_schema(field.child)}
    if isinstance(field, serializers.Serializer):
        return object_schema({n: c for n, c in field.fields.items() if not c.read_only})
    if isinstance(field, relations.PrimaryKeyRelatedField):
        return {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    if isinstance(field, f.DictField):
        return {"type": "object"}
    return {}  # JSONField and anything custom: any JSON value


def _lengths(field: f.Field) -> dict[str, Any]:
    out = {}
    if getattr(field, "max_length", None) is not None:
        out["maxLength"] = field.max_length
    if getattr(field, "min_length", None) is not None:
        out["minLength"] = field.min_length
    elif not getattr(field, "allow_blank", True):
        out["minLength"] = 1
    return out


def object_schema(fields: dict[str, f.Field]) -> dict[str, Any]:
    """The input's schema; an optional field accepts ``null`` too, meaning "not given"."""
    required = [name for name, field in fields.items() if field.required]
    properties = {
        name: field_schema(field)
        if field.required or field.allow_null
        else nullable(field_schema(field))
        for name, field in fields.items()
    }
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


# The schemas of the arguments every writing tool takes, db.* and domain tools alike
# (tools/schemas.py uses these too). Each is optional, so null means "not given".
REASON_SCHEMA = nullable(
    {
        "type": "string",
        "description": "Why, in one sentence in the user's terms; recorded in the audit log.",
    }
)
IDEMPOTENCY_KEY_SCHEMA = nullable(
    {
        "type": "string",
        "description": "A unique string per intended change; resend it unchanged on retry.",
    }
)
RESERVED_SCHEMAS: dict[str, dict[str, Any]] = {
    "reason": REASON_SCHEMA,
    "idempotency_key": IDEMPOTENCY_KEY_SCHEMA,
    "dry_run": nullable(
        {
            "type": "boolean",
            "description": "Preview: run it, show the result and the rows it would change, "
            "and change nothing.",
        }
    ),
}


def input_schema(tool: DomainTool) -> dict[str, Any]:
    """The JSON Schema of the tool's arguments: its input, then the reserved arguments."""
    schema = object_schema(input_fields(tool))
    schema["properties"].update(RESERVED_SCHEMAS)
    return schema
