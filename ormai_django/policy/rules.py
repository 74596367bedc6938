"""Checking rule arguments where they are written, so a typo fails loudly at once.

Shared by ``PolicyBuilder`` and ``@agent_model`` (pure Python: no models imported).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from ormai_django.policy.budgets import BUDGET_ID, ON_EXCEED, SCOPES
from ormai_django.policy.spec import ApprovalSpec, BudgetSpec, BurstSpec

WRITE_CLASSES = ("none", "reason", "approval", "burst")
WRITE_MODES = ("execute", "propose")
APPROVAL_KEYS = (
    "tool",
    "model",
    "when",
    "approvers",
    "expires_in",
    "remind_after",
    "escalate_after",
    "escalate_to",
    "id",
)
# A rule id given with id=: what a log line, a URL or an inventory can carry as it is.
RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
BURST_KEYS = ("max_calls", "max_rows", "per")


def positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive integer, not {value!r}")
    return value


def positive_timedelta(value: Any, what: str) -> timedelta:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ValueError(f"{what} must be a positive timedelta, not {value!r}")
    return value


def names_of(args: Iterable[Any]) -> list[Any]:
    """Accept both ``f("a", "b")`` and ``f(["a", "b"])`` (and a mix of the two)."""
    out: list[Any] = []
    for arg in args:
        if isinstance(arg, str | type):
            out.append(arg)
        else:
            out.extend(arg)
    return out


def _check_keys(spec: Mapping[str, Any], allowed: tuple[str, ...], what: str) -> None:
    unknown = sorted(set(spec) - set(allowed))
    if unknown:
        raise ValueError(f"{what} doesn't take {unknown}; it takes {list(allowed)}")


def tool_names(tool: Any, what: str = "an approval rule's tool") -> tuple[str, ...] | None:
    """``require_approval``'s (or ``write_budget``'s) ``tool``: None (every write tool), one
    name or a list of them, each as written (checked against the policy's tools when it is
    built)."""
    if tool is None:
        return None
    try:
        tools = [tool] if isinstance(tool, str) else list(tool)
    except TypeError:
        tools = []
    if not tools or not all(isinstance(t, str) for t in tools):
        raise ValueError(f"{what} must be a tool name or a list of them, not {tool!r}")
    return tuple(tools)


def approval_spec(
    spec: Mapping[str, Any], *, allowed: tuple[str, ...] = APPROVAL_KEYS
) -> ApprovalSpec:
    """A checked ``require_approval`` rule: ``approvers`` >= 1, ``when`` callable,
    ``expires_in`` a positive timedelta."""
    _check_keys(spec, allowed, "an approval rule")
    when = spec.get("when")
    if when is not None and not callable(when):
        raise ValueError(f"an approval rule's when must be a callable, not {when!r}")
    expires_in = _optional_timedelta(spec, "expires_in")
    remind_after = _optional_timedelta(spec, "remind_after")
    escalate_after = _optional_timedelta(spec, "escalate_after")
    escalate_to = escalation_targets(spec.get("escalate_to"))
    if escalate_after is not None and not escalate_to:
        raise ValueError(
            'escalate_after needs escalate_to=[...]: the usernames or "group:<name>" to tell'
        )
    if escalate_to and escalate_after is None:
        raise ValueError("escalate_to needs escalate_after=timedelta(...): when to tell them")
    for what, delay in (("remind_after", remind_after), ("escalate_after", escalate_after)):
        if delay is not None and expires_in is not None and delay >= expires_in:
            raise ValueError(f"{what} ({delay}) must be shorter than expires_in ({expires_in})")
    rule_id = spec.get("id")
    if rule_id is not None and (not isinstance(rule_id, str) or not RULE_ID.match(rule_id)):
        raise ValueError(
            f"an approval rule's id is 1 to 64 letters, digits, '_', '.', ':' or '-', "
            f"not {rule_id!r}"
        )
    return ApprovalSpec(
        tools=tool_names(spec.get("tool")),
        model=spec.get("model"),
        when=when,
        approvers=positive_int(spec.get("approvers", 1), "approvers"),
        expires_in=expires_in,
        remind_after=remind_after,
        escalate_after=escalate_after,
        escalate_to=escalate_to,
        id=rule_id,
    )


def _optional_timedelta(spec: Mapping[str, Any], key: str) -> timedelta | None:
    value = spec.get(key)
    return None if value is None else positive_timedelta(value, key)


def escalation_targets(value: Any) -> tuple[str, ...]:
    """``escalate_to``: usernames and ``"group:<name>"`` entries (Django groups), as a list."""
    if value is None:
        return ()
    targets = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(t, str) and t.strip() and t.strip() != "group:" for t in targets):
        raise ValueError(
            f'escalate_to is a list of usernames and "group:<name>" entries, not {value!r}'
        )
    return tuple(dict.fromkeys(t.strip() for t in targets))


def burst_spec(spec: Mapping[str, Any], model: Any = None) -> BurstSpec:
    """A checked ``bounded_burst`` bound: ``per`` and at least one of ``max_calls`` and
    ``max_rows``, each >= 1."""
    _check_keys(spec, BURST_KEYS, "a burst bound")
    if spec.get("per") is None:
        raise ValueError("a burst bound needs per=timedelta(...), its window")
    max_calls, max_rows = spec.get("max_calls"), spec.get("max_rows")
    if max_calls is None and max_rows is None:
        raise ValueError("a burst bound needs max_calls=..., max_rows=... or both")
    return BurstSpec(
        model=model,
        per=positive_timedelta(spec["per"], "per"),
        max_calls=None if max_calls is None else positive_int(max_calls, "max_calls"),
        max_rows=None if max_rows is None else positive_int(max_rows, "max_rows"),
    )


def derived_rule_id(
    spec: ApprovalSpec, tools: Iterable[str | None], model_label: str | None
) -> str:
    """A rule's id from its definition: the same rule gets the same id in every process and
    every build (``ar_`` + 12 hex digits of a SHA-256 over what it matches and requires).
    A ``when`` is named by its module and qualified name, so editing the policy file
    elsewhere doesn't change the id; renaming the function does."""
    when = spec.when
    definition = {
        "tools": sorted(t or "*" for t in tools),
        "model": model_label,
        "when": None if when is None else callable_name(when),
        "approvers": spec.approvers,
        "expires_in": _seconds(spec.expires_in),
        "remind_after": _seconds(spec.remind_after),
        "escalate_after": _seconds(spec.escalate_after),
        "escalate_to": list(spec.escalate_to),
    }
    text = json.dumps(definition, sort_keys=True)
    return "ar_" + hashlib.sha256(text.encode()).hexdigest()[:12]


def callable_name(fn: Any) -> str:
    """``module.qualname`` of a function, or of the class of a callable object."""
    named = fn if hasattr(fn, "__qualname__") else type(fn)
    return f"{getattr(named, '__module__', '')}.{named.__qualname__}"


def _seconds(delay: timedelta | None) -> float | None:
    return None if delay is None else delay.total_seconds()


def budget_spec(
    *,
    scope: Any,
    model: Any,
    tool: Any,
    max_calls: Any,
    max_rows: Any,
    per: Any,
    on_exceed: Any,
    id: Any,
) -> BudgetSpec:
    """A checked ``write_budget``: a known scope and ``on_exceed``, at least one bound (each
    >= 1), ``per`` a positive timedelta or None, an id of printable characters."""
    if scope not in SCOPES:
        raise ValueError(f"write_budget: scope must be one of {SCOPES}, not {scope!r}")
    if on_exceed not in ON_EXCEED:
        raise ValueError(f"write_budget: on_exceed must be one of {ON_EXCEED}, not {on_exceed!r}")
    if max_calls is None and max_rows is None:
        raise ValueError("write_budget needs max_calls=..., max_rows=... or both")
    if scope == "row" and max_rows is not None:
        raise ValueError(
            "write_budget(scope='row') counts the writes to each row, one row each: give "
            "max_calls (how many writes one row may take), not max_rows"
        )
    if id is not None and (not isinstance(id, str) or not BUDGET_ID.match(id)):
        raise ValueError(
            f"write_budget: id must be up to 100 letters, digits or _.:,=/+- , not {id!r}"
        )
    return BudgetSpec(
        scope=scope,
        max_calls=None if max_calls is None else positive_int(max_calls, "max_calls"),
        max_rows=None if max_rows is None else positive_int(max_rows, "max_rows"),
        per=None if per is None else positive_timedelta(per, "per"),
        on_exceed=on_exceed,
        model=model,
        tools=tool_names(tool, "a write budget's tool"),
        id=id,
    )
