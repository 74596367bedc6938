"""What a context may see of a model: its tenant's rows that are not soft-deleted.

``visibility(...)`` is applied to the model itself and, with a prefix, to every
relation a filter walks through, so a filter can't reach another tenant's rows
or deleted rows through a foreign key.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q, QuerySet

from ormai_django import codes
from ormai_django.errors import PolicyConfigurationError, ToolDenied, ToolError
from ormai_django.policy.loading import get_policy
from ormai_django.policy.model_policy import ModelPolicy


def tenant_value(mp: ModelPolicy, tenant_id: Any) -> Any:
    """The context's tenant as the model's tenant field stores it; fails closed."""
    if tenant_id is None or tenant_id == "":
        raise ToolDenied(
            codes.TENANT_REQUIRED,
            f"{mp.name} is tenant-scoped and this call's context names no tenant; "
            "the host must pass ToolContext(tenant_id=...).",
            rule=f"tenant:{mp.label}",
        )
    field = mp.model._meta.get_field(mp.tenant_field)
    target = field.target_field if field.is_relation else field
    try:
        return target.to_python(tenant_id)
    except Exception:
        raise ToolError(
            codes.INVALID_CONTEXT, f"The context's tenant_id {tenant_id!r} is not valid."
        ) from None


def canonical_tenant(models: Any, tenant_id: Any) -> Any:
    """``tenant_id`` as the tenant fields of ``models`` (model policies) store it, so ``"07"``
    and ``7`` are one tenant for an integer field, everywhere the id is compared or recorded.
    Left as given when no model is tenant-scoped, when the fields disagree, or when it isn't
    valid for them (reaching a scoped model then refuses it, as before)."""
    if tenant_id is None or tenant_id == "":
        return tenant_id
    values = set()
    for mp in models:
        if not mp.tenant_field:
            continue
        try:
            values.add(tenant_value(mp, tenant_id))
        except (ToolError, TypeError):
            return tenant_id
    return values.pop() if len(values) == 1 else tenant_id


def tenant_key(tenant_id: Any, policy: Any = None) -> str:
    """The tenant as the app's own tables record it (audit, approvals, budgets): text of its
    canonical value under ``policy`` (default ``ORMAI["POLICY"]``), ``""`` for none; for
    code outside a call that looks rows up by a tenant a person typed (``--tenant 07``)."""
    if policy is None:
        try:
            policy = get_policy()
        except PolicyConfigurationError:
            return "" if tenant_id is None else str(tenant_id)
    value = canonical_tenant(policy.models, tenant_id)
    return "" if value is None else str(value)


def visibility(mp: ModelPolicy, tenant_id: Any, prefix: str = "") -> Q:
    """Q that keeps only the rows of ``mp`` this context may see (``prefix`` for a relation)."""
    q = Q()
    if mp.tenant_field:
        q &= Q(**{f"{prefix}{mp.tenant_field}": tenant_value(mp, tenant_id)})
    if mp.soft_delete_field:
        f = mp.model._meta.get_field(mp.soft_delete_field)
        if isinstance(f, models.BooleanField):
            q &= Q(**{f"{prefix}{mp.soft_delete_field}": False})
        else:
            q &= Q(**{f"{prefix}{mp.soft_delete_field}__isnull": True})
    return q


def visible_rows(mp: ModelPolicy, tenant_id: Any) -> QuerySet:
    """The model's default manager, narrowed to what the context may see."""
    return mp.model._default_manager.filter(visibility(mp, tenant_id))
