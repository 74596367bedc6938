"""Verdicts: what a policy says of a call (allowed, held, denied, error), and the shadow policy.

A shadow policy is a candidate judged beside the live one, its verdicts recorded, never
acted on.

``ORMAI["SHADOW_POLICY"]`` (a dotted path, like ``POLICY``) names it; every write call is
then decided under it too (``runtime.decide_call``: nothing executed, locked or spent), and
its verdict lands in the call's audit row (``AuditEvent.shadow_verdict``). A shadow policy
that can't be loaded or raises is logged and recorded as such; the live call goes on.
``manage.py ormai_shadow`` reads those verdicts back, or replays the audit log against a
candidate that never ran live.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from django.core.signals import setting_changed

from ormai_django.conf import ormai_settings
from ormai_django.policy.loading import load_policy
from ormai_django.policy.policy import Policy

logger = logging.getLogger("ormai_django")

_lock = threading.Lock()
_cached: tuple[str, Policy | None] | None = None

# The four verdicts a call can get, as outcomes name them.
VERDICTS = {
    "ok": "allowed",
    "dry_run": "allowed",
    "pending_approval": "held",
    "denied": "denied",
    "error": "error",
}


def verdict_of(result: Mapping[str, Any]) -> dict[str, Any]:
    """A result (``execute``'s or ``decide_call``'s) as a verdict: ``verdict`` (allowed,
    held, denied or error), and ``code`` and ``rule`` of a refusal, ``approvers`` and
    ``rule_ids`` of a hold."""
    verdict = VERDICTS.get(str(result.get("outcome")), "error")
    out: dict[str, Any] = {"verdict": verdict}
    error = result.get("error") or {}
    if error:
        out["code"] = error.get("code", "")
        if error.get("rule"):
            out["rule"] = error["rule"]
    if verdict == "held":
        out["approvers"] = result.get("approvers_required")
        out["rule_ids"] = list(result.get("rule_ids") or [])
        out["why_held"] = list(result.get("why_held") or [])
    return out


def get_shadow_policy() -> Policy | None:
    """The policy ``ORMAI["SHADOW_POLICY"]`` names, or None when none is set; raises
    ``PolicyConfigurationError`` when it can't be built."""
    global _cached
    path = ormai_settings.SHADOW_POLICY
    if not path:
        return None
    cached = _cached
    if cached is not None and cached[0] == path and cached[1] is not None:
        return cached[1]
    with _lock:
        policy = load_policy(path)
        _cached = (path, policy)
        return policy


def shadow_path() -> str:
    """How the shadow policy is named in verdicts."""
    path = ormai_settings.SHADOW_POLICY
    return path if isinstance(path, str) else type(path).__name__


def broken_verdict(exc: BaseException) -> dict[str, Any]:
    """What the audit row says when the shadow policy couldn't judge the call."""
    logger.error("ormai_django: the shadow policy %s is not usable: %s", shadow_path(), exc)
    return {"policy": shadow_path(), "verdict": "unavailable", "problem": str(exc)[:500]}


def clear_shadow_cache() -> None:
    global _cached
    with _lock:
        _cached = None


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "ORMAI":
        clear_shadow_cache()


setting_changed.connect(_on_setting_changed, dispatch_uid="ormai_django.verdicts")
