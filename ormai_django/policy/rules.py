"""Checking rule arguments where they are written, so a typo fails loudly at once.

Shared by ``PolicyBuilder`` and ``@agent_model`` (pure Python: no models imported).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from ormai_django.policy.spec import ApprovalSpec, BurstSpec

WRITE_CLASSES = ("none", "reason", "approval", "burst")
APPROVAL_KEYS = ("tool", "model", "when", "approvers", "expires_in")
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


def tool_names(tool: Any) -> tuple[str, ...] | None:
    """``require_approval``'s ``tool``: None (every write tool), one name or a list of them,
    each as written (checked against the policy's tools when it is built)."""
    if tool is None:
        return None
    tools = [tool] if isinstance(tool, str) else list(tool)
    if not tools or not all(isinstance(t, str) for t in tools):
        raise ValueError(
            f"an approval rule's tool must be a tool name or a list of them, not {tool!r}"
        )
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
    expires_in = spec.get("expires_in")
    return ApprovalSpec(
        tools=tool_names(spec.get("tool")),
        model=spec.get("model"),
        when=when,
        approvers=positive_int(spec.get("approvers", 1), "approvers"),
        expires_in=None if expires_in is None else positive_timedelta(expires_in, "expires_in"),
    )


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
