"""The values a write sets: only writable fields, each cleaned by its own Django field.

A foreign key in ``data`` must point at a row the context may see (its tenant's,
not soft-deleted), so a write can't link to another tenant's data.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from ormai_django import codes
from ormai_django.errors import ToolDenied, ToolError
from ormai_django.orm.scope import visible_rows
from ormai_django.orm.values import to_field_value
from ormai_django.policy.model_policy import ModelPolicy
from ormai_django.policy.policy import Policy


def validation_error(
    fields: dict[str, list[str]], what: str = "The write doesn't pass the model's validation"
) -> ToolError:
    listed = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in fields.items())
    return ToolError(
        codes.VALIDATION_FAILED,
        f"{what}, so nothing was written ({listed}). Fix these values and send the call again.",
        fields=fields,
    )


def messages_of(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {
            name: [str(m) for m in ValidationError(errs).messages]
            for name, errs in exc.error_dict.items()
        }
    return {"__all__": [str(m) for m in exc.messages]}


def writable_values(
    policy: Policy, mp: ModelPolicy, data: dict[str, Any], tenant_id: Any
) -> dict[str, Any]:
    """``data`` as ``{attname: python value}``; refuses non-writable fields and bad values."""
    writable = ", ".join(sorted(mp.writes.writable_fields)) or "none"
    cleaned: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    for name, value in data.items():
        info = mp.field_named(name)
        if info is None and not mp.has_field(name):
            raise mp.missing_field_error(name, "'data'", f"Writable fields: {writable}.")
        if info is None or not info.writable:
            raise ToolDenied(
                codes.FIELD_NOT_WRITABLE,
                f"'data': {mp.name}.{name} is not writable by agents. Writable fields of "
                f"{mp.name}: {writable}.",
                field=name,
                rule=f"field:{mp.label}.{name}",
            )
        field = info.field
        if field.attname in cleaned:
            raise ToolError(codes.INVALID_ARGUMENTS, f"'data' names {info.name} twice")
        try:
            cleaned[field.attname] = _clean(policy, field, value, tenant_id)
        except ValidationError as exc:
            problems[info.name] = [str(m) for m in exc.messages]
    if problems:
        raise validation_error(problems)
    return cleaned


def _clean(policy: Policy, field: models.Field, value: Any, tenant_id: Any) -> Any:
    where = f"'data.{field.name}'"
    if isinstance(field, models.JSONField):
        python = value
    else:
        try:
            python = to_field_value(field, value, where)
        except ToolError as exc:
            raise ValidationError(exc.message.removeprefix(f"{where}: ")) from None
    if field.is_relation:
        return _visible_target(policy, field, python, tenant_id)
    # to_python again, then choices, blank/null and the field's validators (max_length...).
    cleaned = field.clean(python, None)
    if isinstance(field, models.DecimalField) and cleaned is not None:
        # As the database will store it, so the ledger's after equals the row.
        cleaned = cleaned.quantize(Decimal(1).scaleb(-field.decimal_places))
    return cleaned


def _visible_target(policy: Policy, field: models.Field, pk: Any, tenant_id: Any) -> Any:
    if pk is None:
        if not field.null:
            raise ValidationError("This field cannot be null.")
        return None
    target = policy.for_model(field.related_model)
    # The assembly refuses writable relations into unregistered models.
    if not visible_rows(target, tenant_id).filter(pk=pk).exists():
        raise ValidationError(f"No {target.name} with id {pk!r} is visible to you.")
    return pk
