"""What the policy says about one registered model: its fields, and how it may be written.

Everything here is resolved (model classes, field objects) and frozen, so the tools never
parse a name from the policy at call time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from django.db import models

from ormai_django import codes
from ormai_django.errors import ToolDenied, ToolError
from ormai_django.policy.launch import Launch

# JSON-facing type of a field, for describe and the tool schemas.
_TYPE_BY_INTERNAL = {
    "AutoField": "integer",
    "BigAutoField": "integer",
    "SmallAutoField": "integer",
    "IntegerField": "integer",
    "BigIntegerField": "integer",
    "SmallIntegerField": "integer",
    "PositiveIntegerField": "integer",
    "PositiveBigIntegerField": "integer",
    "PositiveSmallIntegerField": "integer",
    "FloatField": "number",
    "DecimalField": "decimal",
    "BooleanField": "boolean",
    "NullBooleanField": "boolean",
    "DateField": "date",
    "DateTimeField": "datetime",
    "TimeField": "time",
    "DurationField": "duration",
    "UUIDField": "uuid",
    "JSONField": "json",
    "BinaryField": "binary",
}


def field_type(model_field: models.Field) -> str:
    if model_field.is_relation:
        return "relation"
    return _TYPE_BY_INTERNAL.get(model_field.get_internal_type(), "string")


_PHONE_WORDS = frozenset({"phone", "telephone", "mobile", "cell", "tel", "fax", "msisdn"})


def mask_kind(model_field: models.Field) -> str:
    """How the default masker treats a masked field: ``email``, ``phone`` or ``redact``.

    Judged by whole words of the name (``work_phone`` is a phone, ``hotel_name`` is not).
    """
    words = set(model_field.name.lower().split("_"))
    if isinstance(model_field, models.EmailField) or "email" in words:
        return "email"
    if words & _PHONE_WORDS:
        return "phone"
    return "redact"


@dataclass(frozen=True)
class FieldInfo:
    """One field an agent may see (denied fields have no FieldInfo at all)."""

    name: str
    field: models.Field = dc_field(repr=False, compare=False)
    type: str
    nullable: bool
    primary_key: bool
    masked: bool
    mask_kind: str | None
    writable: bool
    is_tenant: bool
    related_model: type[models.Model] | None = dc_field(default=None, compare=False)
    choices: tuple[Any, ...] = ()

    @property
    def filterable(self) -> bool:
        return not self.masked


@dataclass(frozen=True)
class WriteRules:
    write_class: str = "none"
    writable_fields: frozenset[str] = frozenset()
    require_reason: bool = True
    require_idempotency_key: bool = False
    max_affected_rows: int = 100
    allow_cascade_delete: bool = False
    # "propose": every write is held for a human (enable_writes(..., mode="propose")).
    mode: str = "execute"
    # Soft launch: only contexts this group admits may write (None: every context).
    launch: Launch | None = None
    # Callables given a WriteCheck; they raise django's ValidationError to refuse a write.
    validators: tuple[Callable[[Any], None], ...] = dc_field(default=(), compare=False)

    @property
    def enabled(self) -> bool:
        return self.write_class != "none"


@dataclass(frozen=True)
class ModelPolicy:
    """What the policy says about one registered model."""

    model: type[models.Model] = dc_field(compare=False)
    name: str
    label: str
    # Mappings take part in equality but not in the hash (they are read-only views).
    fields: Mapping[str, FieldInfo] = dc_field(hash=False)
    aliases: Mapping[str, str] = dc_field(hash=False)
    pk_name: str
    tenant_field: str | None
    soft_delete_field: str | None
    writes: WriteRules

    @property
    def visible_field_names(self) -> tuple[str, ...]:
        return tuple(self.fields)

    def field_named(self, name: str) -> FieldInfo | None:
        """The visible field called ``name`` (or its attname, e.g. ``customer_id``)."""
        info = self.fields.get(name)
        if info is None and name in self.aliases:
            info = self.fields.get(self.aliases[name])
        return info

    def has_field(self, name: str) -> bool:
        """Whether the model has a field ``name`` (or attname), visible to agents or not."""
        return any(name in (f.name, f.attname) for f in self.model._meta.concrete_fields)

    def missing_field_error(self, name: str, where: str, offered: str) -> ToolError:
        """The refusal for a name that is not a visible field: denied (the field exists but
        agents can't use it) or unknown (``offered`` lists what the agent can use instead)."""
        if self.has_field(name):
            return ToolDenied(
                codes.FIELD_DENIED,
                f"{where}: the field {name!r} of {self.name} is not available to agents; "
                "it can't be filtered, ordered, aggregated or selected.",
                field=name,
                rule=f"field:{self.label}.{name}",
            )
        return ToolError(
            codes.UNKNOWN_FIELD,
            f"{where}: {self.name} has no field {name!r}. {offered}",
            field=name,
        )

    def filterable_names(self) -> list[str]:
        return [n for n, fi in self.fields.items() if fi.filterable]
