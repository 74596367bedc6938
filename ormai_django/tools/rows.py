"""Rows as plain JSON: values converted once per field kind, masked fields masked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID

from ormai_django import errors
from ormai_django.errors import ToolError
from ormai_django.policy.masking import get_masker
from ormai_django.policy.policy import FieldInfo, ModelPolicy, field_type


def to_json(value: Any) -> Any:
    """One database value as JSON: datetimes ISO 8601, decimals and UUIDs as strings."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, dict | list):
        return value
    return str(value)


_NEEDS_CONVERSION = {"date", "datetime", "time", "decimal", "uuid", "duration"}


def _converter(info: FieldInfo) -> Callable[[Any], Any] | None:
    if info.masked:
        masker = get_masker()
        kind, field = info.mask_kind, info.field
        return lambda value: masker.mask(value, kind, field)
    kind = info.type
    if kind == "relation":
        kind = field_type(info.field.target_field)
    return to_json if kind in _NEEDS_CONVERSION else None


class RowShaper:
    """Turns ``values()`` dicts of a model into the JSON rows an agent receives."""

    def __init__(self, infos: Sequence[FieldInfo]) -> None:
        self.names = tuple(info.name for info in infos)
        self._convert = tuple(
            (info.name, fn) for info in infos if (fn := _converter(info)) is not None
        )

    def shape(self, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        convert = self._convert
        for row in rows:
            for name, fn in convert:
                row[name] = fn(row[name])
            out.append(row)
        return out


def select_fields(mp: ModelPolicy, requested: Any) -> list[FieldInfo]:
    """The fields to return: all visible ones, or the requested ones (primary key first)."""
    if requested is None:
        return list(mp.fields.values())
    if not isinstance(requested, list) or not all(isinstance(n, str) for n in requested):
        raise ToolError(errors.INVALID_ARGUMENTS, "'fields' must be a list of field names")
    chosen = [mp.fields[mp.pk_name]]
    for name in requested:
        info = mp.field_named(name)
        if info is None:
            raise mp.missing_field_error(name, "'fields'", f"Fields: {', '.join(mp.fields)}.")
        if info not in chosen:
            chosen.append(info)
    return chosen
