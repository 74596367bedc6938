"""``db.aggregate``: count, sum, average, min and max, over all matching rows or per group."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Avg, Count, Max, Min, Sum

from ormai_django.invocation import Invocation
from ormai_django.orm.rows import to_json
from ormai_django.orm.values import invalid
from ormai_django.policy.model_policy import ModelPolicy
from ormai_django.reads.pagination import SortKey
from ormai_django.reads.selection import filtered_rows, own_field
from ormai_django.reads.untrusted import mark_strings

AGGREGATES = {
    "count": Count,
    "count_distinct": Count,
    "sum": Sum,
    "avg": Avg,
    "min": Min,
    "max": Max,
}
_NUMERIC = frozenset({"integer", "number", "decimal"})
_ORDERED = _NUMERIC | {"date", "datetime", "time", "string", "relation"}
_AGGREGATE_TYPES = {"sum": _NUMERIC, "avg": _NUMERIC, "min": _ORDERED, "max": _ORDERED}
MAX_AGGREGATIONS = 20
MAX_GROUP_BY = 5


@dataclass(frozen=True)
class _Aggregation:
    alias: str
    expression: Any
    convert: Callable[[Any], Any]


def _decimal_places_json(places: int) -> Callable[[Any], Any]:
    # SQLite returns MAX(price) as Decimal('29') where the field reads '29.00', and
    # PostgreSQL's AVG has 16 places: one fixed number of places on every database.
    exponent = Decimal(1).scaleb(-places)
    return lambda value: None if value is None else str(Decimal(value).quantize(exponent))


def _aggregate_expressions(mp: ModelPolicy, aggregations: Any) -> dict[str, _Aggregation]:
    if not isinstance(aggregations, dict) or not aggregations:
        raise invalid(
            "'aggregations' must be an object like "
            '{"total": {"sum": "total_cents"}, "n": {"count": "id"}}'
        )
    if len(aggregations) > MAX_AGGREGATIONS:
        raise invalid(f"'aggregations' takes at most {MAX_AGGREGATIONS} entries")
    expressions = {}
    for index, (alias, spec) in enumerate(aggregations.items()):
        where = f"'aggregations.{alias}'"
        if not isinstance(alias, str) or not 1 <= len(alias) <= 64:
            raise invalid("aggregation names must be strings of 1 to 64 characters")
        if not isinstance(spec, dict) or len(spec) != 1:
            raise invalid(f'{where} must be one function and field, e.g. {{"sum": "total_cents"}}')
        ((function, field_name),) = spec.items()
        if function not in AGGREGATES:
            raise invalid(f"{where}: unknown function {function!r}; use {', '.join(AGGREGATES)}")
        if function.startswith("count") and field_name == "*":
            field_name = mp.pk_name
        info = own_field(mp, field_name, where)
        allowed = _AGGREGATE_TYPES.get(function)
        if allowed is not None and info.type not in allowed:
            raise invalid(f"{where}: {function} doesn't apply to {info.name} ({info.type})")
        aggregate = AGGREGATES[function]
        expression = aggregate(info.name, distinct=function == "count_distinct")
        convert = to_json
        if info.type == "decimal" and function in ("sum", "min", "max"):
            convert = _decimal_places_json(info.field.decimal_places)
        elif info.type == "decimal" and function == "avg":
            # Four more places than the field, the same on every database.
            convert = _decimal_places_json(info.field.decimal_places + 4)
        # Internal names: an alias can't collide with (or reveal) a model field.
        expressions[f"ormai_agg_{index}"] = _Aggregation(alias, expression, convert)
    return expressions


def aggregate(inv: Invocation) -> dict[str, Any]:
    args = inv.arguments
    mp = inv.resolve_model(args.get("model"))
    expressions = _aggregate_expressions(mp, args.get("aggregations"))
    rows_qs = filtered_rows(inv, mp, args.get("where"))
    annotations = {key: agg.expression for key, agg in expressions.items()}
    group_by = args.get("group_by")
    if group_by is None:
        raw = rows_qs.aggregate(**annotations)
        return {
            "outcome": "ok",
            "result": {agg.alias: agg.convert(raw[key]) for key, agg in expressions.items()},
        }
    if isinstance(group_by, str):
        group_by = [group_by]
    if not isinstance(group_by, list) or not 1 <= len(group_by) <= MAX_GROUP_BY:
        raise invalid(f"'group_by' must be a field name or a list of 1 to {MAX_GROUP_BY}")
    infos = [own_field(mp, name, "'group_by'") for name in group_by]
    names = [info.name for info in infos]
    clash = {agg.alias for agg in expressions.values()} & set(names)
    if clash:
        raise invalid(f"aggregation names {sorted(clash)} clash with group_by fields")
    cap = inv.policy.profile.max_aggregate_groups
    grouped = list(
        rows_qs.order_by()
        .values(*names)
        .annotate(**annotations)
        .order_by(*(SortKey.of(info, False).expression() for info in infos))[: cap + 1]
    )
    groups = [
        {
            **{name: to_json(row[name]) for name in names},
            **{agg.alias: agg.convert(row[key]) for key, agg in expressions.items()},
        }
        for row in grouped[:cap]
    ]
    result = {
        "outcome": "ok",
        "groups": groups,
        "count": len(groups),
        "truncated": len(grouped) > cap,
    }
    return mark_strings(result, "groups") if inv.policy.mark_untrusted_strings else result
