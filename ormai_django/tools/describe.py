"""``db.describe``: what the policy lets this context see and write, per model, and the
domain tools it offers. It stands with the registry because it describes tools too."""

from __future__ import annotations

from typing import Any

from ormai_django.domain.declarations import DomainTool, declared
from ormai_django.domain.schema import input_schema
from ormai_django.invocation import Invocation
from ormai_django.orm.rows import to_json
from ormai_django.orm.where import DATE_PARTS, LOOKUPS
from ormai_django.policy.model_policy import ModelPolicy
from ormai_django.policy.policy import Policy
from ormai_django.reads.aggregate import AGGREGATES


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
            # "propose": every write is held for a human.
            "mode": "propose" if writes.enabled and policy.proposes(mp) else "execute",
            # The write budgets that count writes to this model (their ids).
            "budgets": [b.id for b in policy.budgets if b.model in (None, mp.model)]
            if writes.enabled
            else [],
        },
    }


def describe_tool(tool: DomainTool) -> dict[str, Any]:
    """A domain tool as ``db.describe`` lists it: what it does, what it takes and writes."""
    return {
        "name": tool.name,
        "description": tool.description,
        "arguments": input_schema(tool),
        "writes": sorted(
            ref._meta.label if isinstance(ref, type) else str(ref) for ref in tool.writes
        ),
        "reversible": not tool.irreversible,
    }


def describe(inv: Invocation) -> dict[str, Any]:
    policy = inv.policy
    name = inv.arguments.get("model")
    chosen = [inv.resolve_model(name)] if name is not None else list(policy.models)
    answer = {
        "outcome": "ok",
        "models": [describe_model(mp, policy) for mp in chosen],
        "lookups": list(LOOKUPS),
        "date_parts": list(DATE_PARTS),
        "aggregates": list(AGGREGATES),
        "limits": {"default": policy.default_limit, "max": policy.max_limit},
    }
    if policy.writes_enabled:
        # What bounds this agent's writes: each budget, and the preview a large write needs.
        # Those on a model this (perhaps narrowed) policy doesn't register are left out:
        # describe never names a model the caller can't use.
        answer["budgets"] = [
            {**b.as_dict(), **({"tools": sorted(b.tools)} if b.tools is not None else {})}
            for b in policy.budgets
            if b.model is None or policy.for_model(b.model) is not None
        ]
        if policy.preview_over_rows is not None:
            answer["require_preview"] = {
                "over_rows": policy.preview_over_rows,
                "within_seconds": policy.preview_within.total_seconds(),
            }
    offered = [
        tool
        for tool_name in sorted(policy.domain_tools)
        if policy.allows_tool(tool_name) and (tool := declared(tool_name)) is not None
    ]
    if name is None and offered:
        answer["tools"] = [describe_tool(tool) for tool in offered]
    return answer
