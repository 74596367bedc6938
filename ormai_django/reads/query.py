"""``db.query`` (keyset-paginated rows) and ``db.get`` (one row by id)."""

from __future__ import annotations

from typing import Any

from ormai_django import codes
from ormai_django.errors import ToolError
from ormai_django.invocation import Invocation
from ormai_django.orm.rows import RowShaper, select_fields
from ormai_django.orm.scope import visible_rows
from ormai_django.orm.values import invalid, to_field_value
from ormai_django.policy.model_policy import ModelPolicy
from ormai_django.reads.pagination import Keyset, SortKey, fingerprint
from ormai_django.reads.selection import filtered_rows, limit_argument, own_field
from ormai_django.reads.untrusted import mark_strings

MAX_ORDER_BY = 5


def _sort_keys(mp: ModelPolicy, order_by: Any) -> list[SortKey]:
    if order_by is None:
        order_by = []
    elif isinstance(order_by, str):
        order_by = [order_by]
    if not isinstance(order_by, list) or len(order_by) > MAX_ORDER_BY:
        raise invalid(
            f"'order_by' must be a field name or a list of up to {MAX_ORDER_BY}, '-' for descending"
        )
    keys = []
    for item in order_by:
        if not isinstance(item, str):
            raise invalid("'order_by' must be a list of field names")
        desc = item.startswith("-")
        keys.append(SortKey.of(own_field(mp, item[1:] if desc else item, "'order_by'"), desc))
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
    rows_qs = filtered_rows(inv, mp, args.get("where"))
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
    result = {
        "outcome": "ok",
        "rows": shaper.shape(page),
        "count": len(page),
        "next_cursor": (
            keyset.encode(tuple(page[-1][i] for i in sort_positions)) if more else None
        ),
    }
    return mark_strings(result, "rows") if inv.policy.mark_untrusted_strings else result


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
            codes.NOT_FOUND,
            f"No {mp.name} with id {args.get('id')!r} is visible to you; "
            "use db.query to search for it.",
        )
    result = {"outcome": "ok", "row": shaper.shape(found)[0]}
    return mark_strings(result, "row") if inv.policy.mark_untrusted_strings else result
