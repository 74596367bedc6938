"""Building the inventory of a policy: plain data (JSON-ready), nothing rendered here."""

from __future__ import annotations

import inspect
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from ormai_django import names
from ormai_django.domain.declarations import DomainTool, declared
from ormai_django.domain.schema import input_fields
from ormai_django.policy.model_policy import ModelPolicy
from ormai_django.policy.policy import ApprovalRule, Policy

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("schema.json")


def schema() -> dict[str, Any]:
    """The JSON Schema that ``build_inventory``'s output (``--format json``) follows."""
    return json.loads(SCHEMA_PATH.read_text())


def build_inventory(policy: Policy) -> dict[str, Any]:
    """What ``policy`` lets an agent write and read, entry by entry, with its rules' ids."""
    write_entries = [
        _write_entry(policy, mp, tool) for mp in policy.models for tool in names.WRITE_TOOLS
    ]
    tool_entries = [
        _domain_entry(policy, tool_name, declared(tool_name))
        for tool_name in sorted(policy.domain_tools)
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "profile": policy.profile.name,
        "writes_enabled": policy.writes_enabled,
        "propose_all_writes": policy.propose_writes,
        "preview_tools": policy.dry_run_tools,
        "require_preview": None
        if policy.preview_over_rows is None
        else {
            "over_rows": policy.preview_over_rows,
            "within_seconds": policy.preview_within.total_seconds(),
            "rule": f"preview:over_rows={policy.preview_over_rows}",
        },
        "writes": write_entries,
        "domain_tools": tool_entries,
        "reads": [_read_entry(mp) for mp in policy.models],
        "budgets": [
            {
                **b.as_dict(),
                "tools": sorted(b.tools) if b.tools is not None else None,
                "kind": b.kind,
                "text": b.describe(),
            }
            for b in policy.budgets
        ],
    }


def _seconds(delta: timedelta | None) -> float | None:
    return None if delta is None else delta.total_seconds()


def condition_text(fn: Any) -> str | None:
    """A ``when=`` condition in words: a lambda's own source (``call.affected_rows > 50``),
    else the function's dotted name."""
    if fn is None:
        return None
    name = getattr(fn, "__name__", "")
    if name == "<lambda>":
        try:
            source = inspect.getsource(fn)
        except (OSError, TypeError):
            source = ""
        start = source.find("lambda")
        if start >= 0:
            return _balanced(source[start:])
    qualname = getattr(fn, "__qualname__", type(fn).__qualname__)
    return f"{getattr(fn, '__module__', '')}.{qualname}()"


def _balanced(text: str) -> str:
    """The lambda expression at the start of ``text``: up to the first comma or closing
    bracket outside any brackets it opens."""
    depth = 0
    for i, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                return " ".join(text[:i].split())
            depth -= 1
        elif char == "," and depth == 0:
            return " ".join(text[:i].split())
    return " ".join(text.split())


def _approval(rule: ApprovalRule, policy: Policy) -> dict[str, Any]:
    expires = rule.expires_in or policy.profile.approval_expiry
    return {
        "id": rule.id,
        "tool": rule.tool or "*",
        "model": None if rule.model is None else rule.model._meta.label,
        "when": condition_text(rule.when),
        "approvers": rule.approvers,
        "expires_in_seconds": expires.total_seconds(),
        "remind_after_seconds": _seconds(rule.remind_after),
        "escalate_after_seconds": _seconds(rule.escalate_after),
    }


def _rules_for(policy: Policy, tool: str, model: Any) -> list[dict[str, Any]]:
    """The approval rules a call of ``tool`` on ``model`` meets (as the gate matches them:
    a domain tool, ``model`` None, only by its own name)."""
    return [
        _approval(rule, policy)
        for rule in policy.approval_rules
        if (rule.tool == tool if model is None else rule.tool in (None, tool))
        and (model is None or rule.model in (None, model))
    ]


def _caps(policy: Policy, tool: str, model: Any, max_rows: int | None) -> dict[str, Any]:
    budgets = policy.budgets_for(tool, model)
    return {
        "rate_per_minute": policy.max_writes_per_minute,
        "bursts": [b.id for b in budgets if b.kind == "burst"],
        "budgets": [b.id for b in budgets if b.kind not in ("burst", "rate_limit")],
        "held_over_rows": max_rows,
    }


def _launch(launch: Any) -> str | None:
    return None if launch is None else launch.describe()


def _write_entry(policy: Policy, mp: ModelPolicy, tool: str) -> dict[str, Any]:
    writes = mp.writes
    allowed = writes.enabled and policy.allows_tool(tool)
    label = mp.label
    entry: dict[str, Any] = {
        "tool": tool,
        "model": label,
        "allowed": allowed,
        "rule": None if allowed else f"writes:{label}",
        "writable_fields": sorted(writes.writable_fields)
        if allowed and tool != names.DB_DELETE
        else [],
        "reason_required": allowed and writes.require_reason,
        "idempotency_required": allowed and writes.require_idempotency_key,
        "dry_run": allowed,
        "preview_tool": names.dry_run_tool(tool)
        if allowed and policy.allows_tool(names.dry_run_tool(tool))
        else None,
        "mode": "propose" if allowed and policy.proposes(mp) else "execute",
        "write_class": writes.write_class,
        "approval": _rules_for(policy, tool, mp.model) if allowed else [],
        # A create touches the rows it makes: the gate holds only updates and deletes by count.
        "caps": _caps(
            policy,
            tool,
            mp.model,
            writes.max_affected_rows if allowed and tool != names.DB_CREATE else None,
        ),
        "reversible": allowed,
        "soft_launch": _launch(writes.launch) if allowed else None,
        "rules": [],
    }
    if allowed:
        entry["rules"] = _write_rule_ids(policy, mp, tool)
    if tool == names.DB_DELETE and allowed:
        entry["delete"] = (
            "soft"
            if mp.soft_delete_field
            else "hard, cascade allowed"
            if writes.allow_cascade_delete
            else "hard, refused where it would cascade"
        )
    return entry


def _write_rule_ids(policy: Policy, mp: ModelPolicy, tool: str) -> list[str]:
    label = mp.label
    ids = [f"field:{label}.*"]
    if mp.writes.require_reason:
        ids.append(f"reason:{label}")
    if mp.writes.require_idempotency_key:
        ids.append(f"idempotency_key:{label}")
    if mp.tenant_field:
        ids.append(f"tenant:{label}")
    if tool == names.DB_DELETE and not mp.soft_delete_field:
        ids.append(f"cascade:{label}")
    if mp.writes.launch is not None:
        ids.append(f"launch:{label}")
    ids += [b.id for b in policy.budgets_for(tool, mp.model)]
    ids += [rule["id"] for rule in _rules_for(policy, tool, mp.model)]
    return ids


def _domain_entry(policy: Policy, name: str, tool: DomainTool | None) -> dict[str, Any]:
    rules = policy.domain_tools[name]
    allowed = tool is not None and policy.allows_tool(name)
    approval = _rules_for(policy, name, None)
    if tool is not None and tool.irreversible and not approval:
        # What can't be undone is held for one approver unless the policy says otherwise.
        approval = [
            {
                "id": f"irreversible:{name}",
                "tool": name,
                "model": None,
                "when": None,
                "approvers": 1,
                "expires_in_seconds": policy.profile.approval_expiry.total_seconds(),
                "remind_after_seconds": None,
                "escalate_after_seconds": None,
            }
        ]
    changes = tool is not None and tool.changes_things
    return {
        "tool": name,
        "allowed": allowed,
        "rule": None if allowed else f"tool:{name}",
        "description": "" if tool is None else tool.description.strip().splitlines()[0],
        "inputs": [] if tool is None else sorted(input_fields(tool)),
        "writes": []
        if tool is None
        else sorted(ref._meta.label if isinstance(ref, type) else str(ref) for ref in tool.writes),
        "reason_required": changes,
        "idempotency_required": rules.require_idempotency_key,
        "dry_run": changes,
        "preview_tool": names.dry_run_tool(name) if policy.dry_run_tools and changes else None,
        "mode": "propose" if policy.proposes(None, name) else "execute",
        "approval": approval,
        "caps": _caps(policy, name, None, None),
        "reversible": tool is not None and not tool.irreversible,
        "undo": None
        if tool is None
        else "not reversible"
        if tool.irreversible
        else "compensation"
        if tool.compensate is not None
        else "restore captured rows",
        "soft_launch": _launch(rules.launch),
    }


def _read_entry(mp: ModelPolicy) -> dict[str, Any]:
    visible = set(mp.fields)
    concrete = [f.name for f in mp.model._meta.concrete_fields]
    return {
        "model": mp.label,
        "name": mp.name,
        "visible_fields": [n for n, info in mp.fields.items() if not info.masked],
        "masked_fields": [n for n, info in mp.fields.items() if info.masked],
        "denied_fields": [n for n in concrete if n not in visible],
        "tenant_field": mp.tenant_field,
        "soft_delete_field": mp.soft_delete_field,
    }
