"""The built, immutable policy: what each registered model shows and accepts.

A :class:`Policy` comes from :class:`~ormai_django.policy.builder.PolicyBuilder`;
everything in it is resolved (model classes, field objects) and frozen, so the
tools never parse a name from the policy at call time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import timedelta
from typing import Any

from django.db import models

from ormai_django import errors
from ormai_django.errors import ToolDenied, ToolError
from ormai_django.policy.profiles import Profile

WRITE_TOOLS = ("db.create", "db.update", "db.delete")

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
class ApprovalRule:
    """``require_approval(...)``: a write matching it waits for ``approvers`` distinct humans."""

    tool: str | None
    model: type[models.Model] | None
    approvers: int = 1
    when: Callable[[Any], bool] | None = dc_field(default=None, compare=False)
    expires_in: timedelta | None = None


@dataclass(frozen=True)
class BurstRule:
    """``bounded_burst(...)``: free up to the bound per window, then escalates to approval."""

    model: type[models.Model]
    max_calls: int
    max_rows: int
    per: timedelta


@dataclass(frozen=True)
class WriteRules:
    write_class: str = "none"
    writable_fields: frozenset[str] = frozenset()
    require_reason: bool = True
    require_idempotency_key: bool = False
    max_affected_rows: int = 100
    allow_cascade_delete: bool = False
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
    burst: BurstRule | None = None

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
                errors.FIELD_DENIED,
                f"{where}: the field {name!r} of {self.name} is not available to agents; "
                "it can't be filtered, ordered, aggregated or selected.",
                field=name,
            )
        return ToolError(
            errors.UNKNOWN_FIELD,
            f"{where}: {self.name} has no field {name!r}. {offered}",
            field=name,
        )

    def filterable_names(self) -> list[str]:
        return [n for n, fi in self.fields.items() if fi.filterable]


@dataclass(frozen=True)
class Policy:
    """An immutable policy. Build one with ``PolicyBuilder(...).build()``."""

    profile: Profile
    models: tuple[ModelPolicy, ...]
    default_limit: int
    max_limit: int
    max_writes_per_minute: int | None = None
    approval_rules: tuple[ApprovalRule, ...] = ()
    # The tools this policy offers (None: every tool); ``narrowed(tools=...)`` sets it.
    tools: frozenset[str] | None = None
    # Indexes derived from ``models``.
    _by_name: Mapping[str, ModelPolicy | None] = dc_field(
        default_factory=dict, repr=False, compare=False
    )
    _by_model: Mapping[type, ModelPolicy] = dc_field(
        default_factory=dict, repr=False, compare=False
    )

    def for_model(self, model: type[models.Model]) -> ModelPolicy | None:
        """The rules of a model class, or ``None`` when the model isn't registered."""
        return self._by_model.get(model)

    def resolve(self, name: Any) -> ModelPolicy:
        """The registered model an agent named, or a ``ToolError`` it can act on."""
        if not isinstance(name, str) or not name.strip():
            raise ToolError(
                errors.INVALID_ARGUMENTS,
                "'model' must be a model name string; "
                f"registered models: {', '.join(self.model_names)}.",
            )
        key = name.strip().lower()
        if key not in self._by_name:
            raise ToolError(
                errors.UNKNOWN_MODEL,
                f"Unknown model {name!r}. Registered models: {', '.join(self.model_names)}. "
                "Call db.describe to see their fields.",
            )
        found = self._by_name[key]
        if found is None:
            labels = sorted(m.label for m in self.models if m.name.lower() == key)
            raise ToolError(
                errors.UNKNOWN_MODEL,
                f"Model name {name!r} is ambiguous; use one of {', '.join(labels)}.",
            )
        return found

    @property
    def model_names(self) -> tuple[str, ...]:
        names = [m.name for m in self.models]
        return tuple(m.label if names.count(m.name) > 1 else m.name for m in self.models)

    @property
    def writes_enabled(self) -> bool:
        return any(m.writes.enabled for m in self.models)

    def allows_tool(self, name: str) -> bool:
        """Whether this policy offers the tool ``name`` (``db.query``; dots, not underscores)."""
        return self.tools is None or name in self.tools

    def narrowed(
        self,
        *,
        models: Iterable[str | type] | None = None,
        tools: Iterable[str] | None = None,
        read_only: bool = False,
    ) -> Policy:
        """A new policy that grants a subset of this one (a capability token's).

        ``models``: the only models registered (None: all of them); ``tools``: the only
        tools offered (None: all); ``read_only``: no model accepts writes. It never widens:
        naming a model or tool this policy doesn't grant, or asking for write tools where
        no model accepts writes, raises ``PolicyWideningError``.

            support = policy.narrowed(models=["Order"], tools=["db.query", "db.get"])
        """
        from ormai_django.policy.narrowing import narrow

        return narrow(self, models=models, tools=tools, read_only=read_only)
