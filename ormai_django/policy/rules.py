"""Checking rule arguments where they are written, so a typo fails loudly at once.

Shared by ``PolicyBuilder`` and ``@agent_model`` (pure Python: no models imported).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

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


def _check_keys(spec: Mapping[str, Any], allowed: tuple[str, ...], what: str) -> None:
    unknown = sorted(set(spec) - set(allowed))
    if unknown:
        raise ValueError(f"{what} doesn't take {unknown}; it takes {list(allowed)}")


def approval_spec(spec: Mapping[str, Any], *, allowed: tuple[str, ...] = APPROVAL_KEYS) -> dict:
    """A checked ``require_approval`` rule: ``approvers`` >= 1, ``when`` callable,
    ``expires_in`` a positive timedelta."""
    _check_keys(spec, allowed, "an approval rule")
    when = spec.get("when")
    if when is not None and not callable(when):
        raise ValueError(f"an approval rule's when must be a callable, not {when!r}")
    expires_in = spec.get("expires_in")
    return {
        "tool": spec.get("tool"),
        "model": spec.get("model"),
        "when": when,
        "approvers": positive_int(spec.get("approvers", 1), "approvers"),
        "expires_in": None if expires_in is None else positive_timedelta(expires_in, "expires_in"),
    }


def burst_spec(spec: Mapping[str, Any]) -> dict:
    """A checked ``bounded_burst`` bound: ``max_calls`` and ``max_rows`` >= 1 per ``per``."""
    _check_keys(spec, BURST_KEYS, "a burst bound")
    missing = [key for key in BURST_KEYS if key not in spec]
    if missing:
        raise ValueError(f"a burst bound needs {missing}")
    return {
        "max_calls": positive_int(spec["max_calls"], "max_calls"),
        "max_rows": positive_int(spec["max_rows"], "max_rows"),
        "per": positive_timedelta(spec["per"], "per"),
    }
