"""``compile_where``: the agent's ``where`` document -> a Django ``Q``, or a precise refusal.

    {"status": "pending", "created_at__lt": "2026-01-01",
     "or": [{"customer__name__icontains": "ann"}, {"total_cents__gte": 5000}],
     "not": {"currency": "USD"}}

Only registered models, visible unmasked fields and the allow-listed lookups pass.
Every key is parsed against the policy; nothing the agent sends becomes a lookup
path, SQL or code without being matched to a field the policy allows. A denied or
masked field is refused whatever the value, so a filter can't be used as an oracle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import Q

from ormai_django import codes
from ormai_django.errors import ToolDenied
from ormai_django.orm import values
from ormai_django.orm.scope import visibility
from ormai_django.policy.model_policy import FieldInfo, ModelPolicy
from ormai_django.policy.policy import Policy

LOOKUPS = (
    "exact",
    "iexact",
    "contains",
    "icontains",
    "in",
    "gt",
    "gte",
    "lt",
    "lte",
    "startswith",
    "istartswith",
    "endswith",
    "iendswith",
    "range",
    "isnull",
)
TEXT_LOOKUPS = frozenset(
    {"iexact", "contains", "icontains", "startswith", "istartswith", "endswith", "iendswith"}
)
# Lookups that may follow a date part: created_at__year__gte.
DATE_PART_LOOKUPS = frozenset({"exact", "gt", "gte", "lt", "lte", "in", "range", "isnull"})
DATE_PARTS_OF = {
    "date": ("year", "iso_year", "month", "day", "week", "week_day", "iso_week_day", "quarter"),
    "datetime": (
        "year",
        "iso_year",
        "month",
        "day",
        "week",
        "week_day",
        "iso_week_day",
        "quarter",
        "hour",
        "minute",
        "second",
        "date",
        "time",
    ),
    "time": ("hour", "minute", "second"),
}
DATE_PARTS = DATE_PARTS_OF["datetime"]
# Django computes year bounds as datetimes; ISO year 9999 would end in year 10000.
_DATE_PART_RANGES = {"year": (1, 9999), "iso_year": (1, 9998)}
# Lookups per field type; what isn't listed (e.g. contains on an integer) is refused.
_LOOKUPS_BY_TYPE = {
    "string": frozenset(LOOKUPS),
    "json": frozenset({"isnull"}),
    "boolean": frozenset({"exact", "isnull", "in"}),
}
_ORDERED_LOOKUPS = frozenset(LOOKUPS) - TEXT_LOOKUPS
BOOLEAN_KEYS = ("and", "or", "not")


@dataclass(frozen=True)
class ResolvedPath:
    """A ``__`` path matched against the policy: the field, its relations, the lookup."""

    django_path: str
    field: FieldInfo
    relations: tuple[tuple[str, ModelPolicy], ...]
    date_part: str | None
    lookup: str


def masked_error(mp: ModelPolicy, name: str, where: str) -> ToolDenied:
    return ToolDenied(
        codes.FIELD_DENIED,
        f"{where}: {mp.name}.{name} is masked; it can be read (masked) but not filtered, "
        "ordered, aggregated or reached through a relation.",
        field=name,
        rule=f"mask:{mp.label}.{name}",
    )


def resolve_path(policy: Policy, mp: ModelPolicy, key: str) -> ResolvedPath:
    """Match ``customer__name__icontains`` against the policy, segment by segment."""
    parts = key.split("__")
    if not key or any(not p for p in parts):
        raise values.invalid(f"{key!r} is not a valid field path")
    current = mp
    walked: list[str] = []
    relations: list[tuple[str, ModelPolicy]] = []
    i = 0
    while True:
        name = parts[i]
        info = current.field_named(name)
        if info is None:
            raise current.missing_field_error(
                name,
                repr(key),
                f"Fields you can filter on: {', '.join(current.filterable_names())}.",
            )
        if info.masked:
            raise masked_error(current, info.name, repr(key))
        walked.append(info.name)
        i += 1
        if info.related_model is None or i == len(parts) or parts[i] in LOOKUPS:
            break
        target = policy.for_model(info.related_model)
        if target is None:
            raise ToolDenied(
                codes.RELATION_DENIED,
                f"{key!r}: {current.name}.{info.name} points to a model agents can't see; "
                f"filter on the id ({info.name}) instead.",
                field=info.name,
                rule=f"relation:{current.label}.{info.name}",
            )
        relations.append(("__".join(walked) + "__", target))
        current = target
    rest = parts[i:]
    date_part = None
    if rest and rest[0] in DATE_PARTS:
        date_part, rest = rest[0], rest[1:]
        if date_part not in DATE_PARTS_OF.get(info.type, ()):
            raise values.invalid(
                f"{key!r}: {date_part!r} applies to date, datetime or time fields; "
                f"{info.name} is {info.type}."
            )
    if len(rest) > 1 or (rest and rest[0] not in LOOKUPS):
        raise ToolDenied(
            codes.LOOKUP_NOT_ALLOWED,
            f"{key!r}: lookup {'__'.join(rest)!r} is not allowed. Allowed lookups: "
            f"{', '.join(LOOKUPS)}; date parts: {', '.join(DATE_PARTS)}.",
            rule="lookups",
        )
    lookup = rest[0] if rest else "exact"
    if date_part is not None:
        allowed = DATE_PART_LOOKUPS
    elif info.type in _LOOKUPS_BY_TYPE:
        allowed = _LOOKUPS_BY_TYPE[info.type]
    else:
        allowed = _ORDERED_LOOKUPS
    if lookup not in allowed:
        raise values.invalid(
            f"{key!r}: lookup {lookup!r} doesn't apply to {info.name} ({info.type}); "
            f"use one of {', '.join(sorted(allowed))}."
        )
    path = "__".join([*walked, *([date_part] if date_part else []), lookup])
    return ResolvedPath(path, info, tuple(relations), date_part, lookup)


def _part_field(resolved: ResolvedPath) -> models.Field | None:
    """The field whose ``to_python`` converts a date-part value (None: an integer part)."""
    if resolved.date_part == "date":
        return models.DateField()
    if resolved.date_part == "time":
        return models.TimeField()
    if resolved.date_part is not None:
        return None
    return resolved.field.field


def _scalar(resolved: ResolvedPath, value: Any, key: str) -> Any:
    target = _part_field(resolved)
    if target is None:
        low, high = _DATE_PART_RANGES.get(resolved.date_part, (values.INT64_MIN, values.INT64_MAX))
        number = values.check_int(value, repr(key), low, high)
        if resolved.date_part in _DATE_PART_RANGES and resolved.field.type == "datetime":
            values.check_year_in_utc(number, repr(key), iso=resolved.date_part == "iso_year")
        return number
    if resolved.lookup in TEXT_LOOKUPS:
        if not isinstance(value, str):
            raise values.invalid(f"{key!r}: {resolved.lookup} takes a string")
        return values.check_string(value, repr(key))
    converted = values.to_field_value(target, value, repr(key))
    if converted is None:
        raise values.invalid(f"{key!r}: null is only allowed with exact (or use __isnull)")
    return converted


def lookup_value(resolved: ResolvedPath, value: Any, key: str, max_in: int) -> Any:
    """Convert the agent's value for one lookup: lists for ``in``/``range``, bool for isnull."""
    lookup = resolved.lookup
    if lookup == "isnull":
        if not isinstance(value, bool):
            raise values.invalid(f"{key!r}: isnull takes true or false")
        return value
    if lookup == "in":
        if not isinstance(value, list):
            raise values.invalid(f"{key!r}: 'in' takes a list of values")
        if len(value) > max_in:
            raise values.invalid(f"{key!r}: 'in' takes at most {max_in} values")
        return [_scalar(resolved, v, key) for v in value]
    if lookup == "range":
        if not isinstance(value, list) or len(value) != 2:
            raise values.invalid(f"{key!r}: 'range' takes a list of two values [low, high]")
        return [_scalar(resolved, v, key) for v in value]
    if value is None and lookup == "exact" and resolved.date_part is None:
        return None
    return _scalar(resolved, value, key)


class WhereCompiler:
    """Compiles one ``where`` document for one model and context; counts its conditions."""

    def __init__(self, policy: Policy, mp: ModelPolicy, tenant_id: Any) -> None:
        self.policy = policy
        self.mp = mp
        self.tenant_id = tenant_id
        self.profile = policy.profile
        self.conditions = 0

    def compile(self, where: Any) -> Q:
        if where is None:
            return Q()
        if not isinstance(where, dict):
            raise values.invalid(
                '\'where\' must be an object of lookups, e.g. {"status": "pending"}'
            )
        return self._node(where, 1)

    def _node(self, doc: Any, depth: int) -> Q:
        if depth > self.profile.max_where_depth:
            raise values.invalid(
                f"'where' nests deeper than {self.profile.max_where_depth} levels; simplify it"
            )
        if not isinstance(doc, dict):
            raise values.invalid("every branch of 'where' must be an object of lookups")
        if not doc and depth > 1:
            # An empty branch matches every row; inside "and", "or" or "not" it would turn a
            # filter into "the whole table" (or nothing) without saying so.
            raise values.invalid(
                "every branch of 'where' needs at least one condition; "
                '{"and": [{}]} or {"or": [{}]} would match every row'
            )
        q = Q()
        for key, value in doc.items():
            if key in ("and", "or"):
                if not isinstance(value, list) or not value:
                    raise values.invalid(f"'{key}' takes a non-empty list of objects")
                parts = [self._node(item, depth + 1) for item in value]
                combined = parts[0]
                for part in parts[1:]:
                    combined = combined & part if key == "and" else combined | part
                q &= combined
            elif key == "not":
                if not isinstance(value, dict) or not value:
                    raise values.invalid(
                        "'not' takes an object of lookups with at least one condition"
                    )
                q &= ~self._node(value, depth + 1)
            else:
                q &= self._leaf(key, value)
        return q

    def _leaf(self, key: Any, value: Any) -> Q:
        self.conditions += 1
        if self.conditions > self.profile.max_where_conditions:
            raise values.invalid(
                f"'where' has more than {self.profile.max_where_conditions} conditions"
            )
        if not isinstance(key, str):
            raise values.invalid("lookup keys must be strings")
        resolved = resolve_path(self.policy, self.mp, key)
        converted = lookup_value(resolved, value, key, self.profile.max_in_values)
        if resolved.lookup == "range" and resolved.field.related_model is not None:
            # Django has no range lookup on a foreign key: the same bounds, spelled out.
            base = resolved.django_path.removesuffix("__range")
            q = Q(**{f"{base}__gte": converted[0], f"{base}__lte": converted[1]})
        else:
            q = Q(**{resolved.django_path: converted})
        # Each relation walked is scoped inside the leaf, so "not" and "or" stay exact.
        for prefix, target in resolved.relations:
            q &= visibility(target, self.tenant_id, prefix)
        return q


def compile_where(policy: Policy, mp: ModelPolicy, where: Any, tenant_id: Any) -> Q:
    """The ``Q`` for ``where`` on ``mp`` as seen by ``tenant_id``; raises ``ToolError``."""
    return WhereCompiler(policy, mp, tenant_id).compile(where)
