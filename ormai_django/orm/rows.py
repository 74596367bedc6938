"""Rows as plain JSON: values converted once per field kind, masked fields masked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID

from ormai_django import codes
from ormai_django.errors import ToolError
from ormai_django.policy.masking import get_masker, masking_function
from ormai_django.policy.model_policy import FieldInfo, ModelPolicy, field_type


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


def utc_iso(value: dt.datetime | None) -> str | None:
    """An aware datetime as ISO 8601 in UTC with a ``Z`` (``expires_at`` and the like)."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def json_native(field: Any) -> bool:
    """Whether the field's values are JSON as they come from the database (ints, text,
    booleans): no conversion needed."""
    if field.is_relation:
        field = field.target_field
    return field_type(field) in ("integer", "string", "boolean")


def _iso(value: Any) -> Any:
    return None if value is None else value.isoformat()


def _text(value: Any) -> Any:
    return None if value is None else str(value)


def _seconds(value: Any) -> Any:
    return None if value is None else value.total_seconds()


# One exact function per field type, chosen once per call (this runs for every value read).
_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "date": _iso,
    "datetime": _iso,
    "time": _iso,
    "decimal": _text,
    "uuid": _text,
    "duration": _seconds,
}


def _converter(info: FieldInfo) -> Callable[[Any], Any] | None:
    if info.masked:
        return masking_function(get_masker(), info.mask_kind, info.field)
    kind = info.type
    if kind == "relation":
        kind = field_type(info.field.target_field)
    if kind in ("date", "datetime", "time") and not info.nullable:
        # The method itself: no None check, no extra call per value.
        return {"date": dt.date, "datetime": dt.datetime, "time": dt.time}[kind].isoformat
    return _CONVERTERS.get(kind)


class RowShaper:
    """Turns a model's ``values_list()`` tuples into the JSON rows an agent receives.

    shaper = RowShaper(infos)
    rows = shaper.shape(queryset.values_list(*shaper.names))
    """

    def __init__(self, infos: Sequence[FieldInfo]) -> None:
        self.names = tuple(info.name for info in infos)
        self._convert = tuple(
            (index, fn) for index, info in enumerate(infos) if (fn := _converter(info)) is not None
        )

    def shape(self, rows: Iterable[tuple[Any, ...]]) -> list[dict[str, Any]]:
        """Rows whose leading values are ``self.names``; any further values are ignored."""
        rows = list(rows)
        if not rows:
            return []
        # Column by column: the conversions run through map() and the dicts are built
        # once, so the cost over the bare ORM is the conversions themselves.
        columns: list[Iterable[Any]] = list(zip(*rows, strict=True))[: len(self.names)]
        for index, fn in self._convert:
            columns[index] = map(fn, columns[index])
        names = self.names
        return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def select_fields(mp: ModelPolicy, requested: Any) -> list[FieldInfo]:
    """The fields to return: all visible ones, or the requested ones (primary key first)."""
    if requested is None:
        return list(mp.fields.values())
    if not isinstance(requested, list) or not all(isinstance(n, str) for n in requested):
        raise ToolError(codes.INVALID_ARGUMENTS, "'fields' must be a list of field names")
    chosen = [mp.fields[mp.pk_name]]
    for name in requested:
        info = mp.field_named(name)
        if info is None:
            raise mp.missing_field_error(name, "'fields'", f"Fields: {', '.join(mp.fields)}.")
        if info not in chosen:
            chosen.append(info)
    return chosen
