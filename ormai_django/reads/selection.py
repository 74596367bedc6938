"""What every read tool starts from: the rows a context may see, the fields it may use."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from ormai_django import codes
from ormai_django.errors import ToolError
from ormai_django.invocation import Invocation
from ormai_django.orm.scope import visible_rows
from ormai_django.orm.values import invalid
from ormai_django.orm.where import compile_where, masked_error
from ormai_django.policy.model_policy import FieldInfo, ModelPolicy


def filtered_rows(inv: Invocation, mp: ModelPolicy, where: Any) -> QuerySet:
    """The rows of ``mp`` the call's context may see, narrowed by the agent's ``where``."""
    return visible_rows(mp, inv.tenant_id).filter(
        compile_where(inv.policy, mp, where, inv.tenant_id)
    )


def own_field(mp: ModelPolicy, name: Any, where: str) -> FieldInfo:
    """A visible, unmasked field of ``mp`` itself, for ordering, grouping and aggregating."""
    if not isinstance(name, str) or not name:
        raise invalid(f"{where}: expected a field name")
    info = mp.field_named(name)
    if info is None:
        raise mp.missing_field_error(
            name, where, f"Fields you can use: {', '.join(mp.filterable_names())}."
        )
    if info.masked:
        raise masked_error(mp, info.name, where)
    return info


def limit_argument(value: Any, default: int, maximum: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ToolError(
            codes.INVALID_ARGUMENTS,
            f"'limit' must be an integer from 1 to {maximum}; use 'cursor' for more rows.",
        )
    return value
