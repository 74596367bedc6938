"""Assertions for a project's own policy tests: does this call pass, get refused, get held?

    from ormai_django.testing import assert_allows, assert_denies, assert_held

    def test_support_bot_can_rename_but_not_touch_vip(db):
        ctx = ToolContext(principal="agent:support-bot", tenant_id=7)
        assert_allows(rename_call, ctx, policy=build_policy())
        assert_denies(vip_call, ctx, code="FIELD_NOT_WRITABLE", policy=build_policy())
        assert_held(delete_call, ctx, approvers=2, policy=build_policy())

Each runs the call through the real pipeline (``execute``) inside a transaction that is
rolled back, so nothing it does is left behind: no row, no audit row, no approval request,
no budget use. ``decide_only=True`` decides instead (``runtime.decide_call``: nothing
executed at all, a domain tool's function not run, model validation skipped). A failing
assertion says what the call got: outcome, code, rule and message.

A pytest plugin (``ormai_django.testing.pytest_plugin``, registered under ``pytest11``)
offers them as the fixture ``ormai_policy_assert``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.db import DEFAULT_DB_ALIAS, transaction

if TYPE_CHECKING:
    from ormai_django.context import ToolContext
    from ormai_django.policy.policy import Policy

# The runtime is imported when an assertion runs: pytest loads this package's plugin before
# Django is set up, so nothing here may load models at import time.

__all__ = ["assert_allows", "assert_denies", "assert_held", "evaluate"]


class _RolledBack(Exception):
    """Leaves the transaction around an evaluated call, undoing it."""


def evaluate(
    call: Any,
    context: ToolContext,
    *,
    policy: Policy | None = None,
    decide_only: bool = False,
    using: str = DEFAULT_DB_ALIAS,
) -> dict[str, Any]:
    """The result ``policy`` gives ``call`` (``execute``'s), with everything it did undone
    (``decide_only``: decided, nothing done)."""
    from ormai_django.runtime import decide_call, execute

    if decide_only:
        return decide_call(call, context, policy)
    result: dict[str, Any] = {}
    try:
        with transaction.atomic(using=using):
            result = execute(call, context, policy=policy)
            raise _RolledBack
    except _RolledBack:
        pass
    return result


def verdict(result: dict[str, Any]) -> str:
    """allowed, held, denied or error; a dry run is judged by what it foresees."""
    outcome = result.get("outcome")
    if outcome == "dry_run":
        if result.get("would_be_denied"):
            return "denied"
        return "held" if result.get("would_require_approval") else "allowed"
    return {"ok": "allowed", "pending_approval": "held"}.get(str(outcome), str(outcome))


def _name(call: Any) -> str:
    if isinstance(call, dict):
        return str(call.get("name") or (call.get("function") or {}).get("name") or "the call")
    return "the call"


def _fail(expected: str, call: Any, context: ToolContext, result: dict[str, Any]) -> None:
    error = result.get("error") or result.get("would_be_denied") or {}
    got = verdict(result)
    line = f"{got}"
    if error:
        line += f" with {error.get('code')}"
        if error.get("rule"):
            line += f" (rule {error['rule']})"
        line += f": {error.get('message', '')}"
    if got == "held":
        line += f" for {result.get('approvers_required')} approver(s)"
    shown = {k: v for k, v in result.items() if k != "audit_id"}
    raise AssertionError(
        f"expected {_name(call)} to be {expected} for {context!r}, but it was {line}\n"
        f"result: {json.dumps(shown, default=str)[:2000]}"
    )


def assert_allows(
    call: Any, context: ToolContext, *, policy: Policy | None = None, decide_only: bool = False
) -> dict[str, Any]:
    """Assert that ``call`` runs (``ok``, or a dry run that foresees no refusal or hold);
    returns the result. Nothing it did is kept."""
    result = evaluate(call, context, policy=policy, decide_only=decide_only)
    if verdict(result) != "allowed":
        _fail("allowed", call, context, result)
    return result


def assert_denies(
    call: Any,
    context: ToolContext,
    *,
    code: str | None = None,
    rule: str | None = None,
    policy: Policy | None = None,
    decide_only: bool = False,
) -> dict[str, Any]:
    """Assert that the policy refuses ``call`` (``denied``), with ``code`` and ``rule`` when
    given; returns the result."""
    result = evaluate(call, context, policy=policy, decide_only=decide_only)
    error = result.get("error") or result.get("would_be_denied") or {}
    if verdict(result) != "denied":
        _fail(f"denied{f' with {code}' if code else ''}", call, context, result)
    if code is not None and error.get("code") != code:
        _fail(f"denied with {code}", call, context, result)
    if rule is not None and error.get("rule") != rule:
        _fail(f"denied by rule {rule}", call, context, result)
    return result


def assert_held(
    call: Any,
    context: ToolContext,
    *,
    approvers: int | None = None,
    policy: Policy | None = None,
    decide_only: bool = False,
) -> dict[str, Any]:
    """Assert that ``call`` is held for approval (``pending_approval``), for ``approvers``
    distinct people when given; returns the result. The approval request isn't kept."""
    result = evaluate(call, context, policy=policy, decide_only=decide_only)
    if verdict(result) != "held":
        _fail("held for approval", call, context, result)
    if approvers is not None and result.get("approvers_required") != approvers:
        _fail(f"held for {approvers} approver(s)", call, context, result)
    return result
