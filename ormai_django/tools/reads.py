"""The read tools: ``db.describe``, ``db.query``, ``db.get``, ``db.aggregate``.

Each starts from the rows the context may see (tenant, soft delete), narrows them
with the compiled ``where``, and returns JSON with denied fields absent and masked
fields masked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Avg, Count, Max, Min, Sum

from ormai_django import errors
from ormai_django.errors import ToolError
from ormai_django.policy.policy import ModelPolicy, Policy
from ormai_django.tools.arguments import limit_argument
from ormai_django.tools.invocation import Invocation
from ormai_django.tools.pagination import Keyset, SortKey, fingerprint
from ormai_django.tools.rows import RowShaper, select_fields, to_json
from ormai_django.tools.scope import visible_rows
from ormai_django.tools.values import invalid, to_field_value
from ormai_django.tools.where import DATE_PARTS, LOOKUPS, compile_where, masked_error

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


def _filtered(inv: Invocation, mp: ModelPolicy, where: Any):
    return visible_rows(mp, inv.tenant_id).filter(
        compile_where(inv.policy, mp, where, inv.tenant_id)
    )


def _own_field(mp: ModelPolicy, name: Any, where: str):
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


def _sort_keys(mp: ModelPolicy, order_by: Any) -> list[SortKey]:
    if order_by is None:
        order_by = []
    elif isinstance(order_by, str):
        order_by = [order_by]
    if not isinstance(order_by, list) or len(order_by) > 5:
        raise invalid("'order_by' must be a field name or a list of up to 5, '-' for descending")
    keys = []
    for item in order_by:
        if not isinstance(item, str):
            raise invalid("'order_by' must be a list of field names")
        desc = item.startswith("-")
        keys.append(SortKey.of(_own_field(mp, item[1:] if desc else item, "'order_by'"), desc))
    if mp.pk_name not in {key.column for key in keys}:
        # A total order, so a cursor names exactly one row.
        keys.append(SortKey.of(mp.fields[mp.pk_name], False))
    return keys


def query(inv: Invocation) -> dict[str, Any]:
    args = inv.arguments
    mp = inv.resolve_model(args.get("model"))
    infos = select_fields(mp, args.get("fields"))
    keys = _sort_keys(mp, args.get("order_by"))
    limit = limit_argument(args.get("limit"), inv.policy.default_limit, inv.policy.max_limit)
    rows_qs = _filtered(inv, mp, args.get("where"))
    keyset = Keyset(
        keys,
        fingerprint(
            mp.label,
            args.get("where"),
            [(key.column, key.descending) for key in keys],
            [i.name for i in infos],
            inv.context.principal,
            inv.tenant_id,
        ),
    )
    after = keyset.decode(args.get("cursor"))
    if after is not None:
        rows_qs = rows_qs.filter(keyset.after(after))
    shaper = RowShaper(infos)
    # Sort columns not already selected ride along at the end, for the next cursor.
    fetch = [*shaper.names, *(c for c in keyset.columns if c not in shaper.names)]
    sort_positions = [fetch.index(column) for column in keyset.columns]
    fetched = list(rows_qs.order_by(*keyset.order_by()).values_list(*fetch)[: limit + 1])
    more = len(fetched) > limit
    page = fetched[:limit]
    return {
        "outcome": "ok",
        "rows": shaper.shape(page),
        "count": len(page),
        "next_cursor": (
            keyset.encode(tuple(page[-1][i] for i in sort_positions)) if more else None
        ),
    }


def get(inv: Invocation) -> dict[str, Any]:
    args = inv.arguments
    mp = inv.resolve_model(args.get("model"))
    pk = to_field_value(mp.model._meta.pk, args.get("id"), "'id'")
    infos = select_fields(mp, args.get("fields"))
    shaper = RowShaper(infos)
    found = list(visible_rows(mp, inv.tenant_id).filter(pk=pk).values_list(*shaper.names)[:1])
    if not found:
        # The same answer for a missing row and another tenant's row.
        raise ToolError(
            errors.NOT_FOUND,
            f"No {mp.name} with id {args.get('id')!r} is visible to you; "
            "use db.query to search for it.",
        )
    return {"outcome": "ok", "row": shaper.shape(found)[0]}


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
        info = _own_field(mp, field_name, where)
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
    rows_qs = _filtered(inv, mp, args.get("where"))
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
    infos = [_own_field(mp, name, "'group_by'") for name in group_by]
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
    return {
        "outcome": "ok",
        "groups": groups,
        "count": len(groups),
        "truncated": len(grouped) > cap,
    }


def describe_model(mp: ModelPolicy, policy: Policy) -> dict[str, Any]:
    fields = []
    for info in mp.fields.values():
        entry: dict[str, Any] = {
            "name": info.name,
            "type": info.type,
            "nullable": info.nullable,
            "filterable": info.filterable,
            "masked": info.masked,
            "writable": info.writable,
        }
        if info.primary_key:
            entry["primary_key"] = True
        if info.choices:
            entry["choices"] = [to_json(c) for c in info.choices]
        if info.related_model is not None:
            target = policy.for_model(info.related_model)
            entry["relation"] = target.name if target else None
            entry["traversable"] = target is not None
        fields.append(entry)
    writes = mp.writes
    return {
        "name": mp.name,
        "label": mp.label,
        "tenant_scoped": mp.tenant_field is not None,
        "soft_delete": mp.soft_delete_field is not None,
        "fields": fields,
        "writes": {
            "enabled": writes.enabled,
            "class": writes.write_class,
            "writable_fields": sorted(writes.writable_fields),
            "require_reason": writes.require_reason,
            "require_idempotency_key": writes.require_idempotency_key,
            "max_affected_rows": writes.max_affected_rows,
        },
    }


def describe(inv: Invocation) -> dict[str, Any]:
    policy = inv.policy
    name = inv.arguments.get("model")
    chosen = [inv.resolve_model(name)] if name is not None else list(policy.models)
    return {
        "outcome": "ok",
        "models": [describe_model(mp, policy) for mp in chosen],
        "lookups": list(LOOKUPS),
        "date_parts": list(DATE_PARTS),
        "aggregates": list(AGGREGATES),
        "limits": {"default": policy.default_limit, "max": policy.max_limit},
    }
