"""``execute``: the one pipeline every tool call goes through, from every entry point.

    result = execute({"name": "db.get", "arguments": {"model": "Order", "id": 3}},
                     ToolContext(principal="agent:support-bot", tenant_id=7))

It never raises and never returns a traceback: every outcome is a JSON object
with ``"outcome"``, and every call leaves an ``AuditEvent``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from asgiref.sync import sync_to_async
from django.db import transaction

from ormai_django import codes
from ormai_django.audit import call_for_ledger, ledger_json, record_event, record_invocation
from ormai_django.conf import ormai_settings
from ormai_django.context import ToolContext, check_context
from ormai_django.errors import PolicyConfigurationError, ToolDenied, ToolError
from ormai_django.invocation import Invocation
from ormai_django.names import APPROVAL_STATUS
from ormai_django.orm.scope import canonical_tenant
from ormai_django.policy.launch import check_launched
from ormai_django.policy.loading import get_policy
from ormai_django.policy.policy import Policy
from ormai_django.tools.arguments import check_arguments
from ormai_django.tools.registry import find_tool
from ormai_django.tools.strict import plain_arguments
from ormai_django.verdicts import broken_verdict, get_shadow_policy, shadow_path, verdict_of

logger = logging.getLogger("ormai_django")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _loads(text: str | bytes, what: str) -> Any:
    size = len(text.encode("utf-8", "surrogatepass")) if isinstance(text, str) else len(text)
    if size > ormai_settings.MAX_CALL_BYTES:
        raise ToolError(
            codes.INVALID_CALL, f"The {what} is larger than {ormai_settings.MAX_CALL_BYTES} bytes."
        )
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ToolError(
            codes.INVALID_JSON,
            f"The {what} is not valid JSON; send an object like "
            '{"name": "db.query", "arguments": {"model": "Order"}}.',
        ) from None


def _plain_json(arguments: Any) -> dict[str, Any]:
    """The arguments as plain JSON data (what is audited is exactly what runs)."""
    try:
        text = json.dumps(arguments, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise ToolError(
            codes.INVALID_ARGUMENTS, "'arguments' must contain only JSON values."
        ) from None
    size = len(text.encode("utf-8", "surrogatepass")) if isinstance(text, str) else len(text)
    if size > ormai_settings.MAX_CALL_BYTES:
        raise ToolError(
            codes.INVALID_CALL, f"The call is larger than {ormai_settings.MAX_CALL_BYTES} bytes."
        )
    return json.loads(text)


def parse_call(call: Any) -> tuple[Any, dict[str, Any]]:
    """``(name, arguments)`` from a dict or JSON string; provider envelopes are accepted
    (OpenAI's ``{"function": {"name", "arguments": "<json>"}}``, Anthropic's ``input``)."""
    if isinstance(call, str | bytes | bytearray):
        call = _loads(call, "call")
    if not isinstance(call, Mapping):
        raise ToolError(
            codes.INVALID_CALL, 'A call is an object: {"name": "db.query", "arguments": {...}}.'
        )
    if "name" not in call and isinstance(call.get("function"), Mapping):
        call = call["function"]
    name = call.get("name")
    arguments = call.get("arguments", call.get("input", {}))
    if isinstance(arguments, str | bytes | bytearray):
        arguments = _loads(arguments, "'arguments' string")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, Mapping):
        raise ToolError(codes.INVALID_ARGUMENTS, "'arguments' must be an object.")
    return name, _plain_json(dict(arguments))


def shadow_verdict(tool: str, arguments: dict[str, Any], context: ToolContext) -> Any:
    """The verdict of ``ORMAI["SHADOW_POLICY"]`` on this call (None: no shadow policy);
    a shadow policy that fails is logged and recorded, never raised."""
    if not ormai_settings.SHADOW_POLICY:
        return None
    call = {"name": tool, "arguments": arguments}
    try:
        shadow = get_shadow_policy()
        if not transaction.get_connection().in_atomic_block:
            result = decide_call(call, context, shadow, count_by_id=False)
        else:
            # Inside the host's transaction, a statement of the shadow's that fails must not
            # spoil it for the live call: the shadow decides in a savepoint.
            with transaction.atomic():
                result = decide_call(call, context, shadow, count_by_id=False)
                if result.get("outcome") == "error":
                    transaction.set_rollback(True)
    except Exception as exc:
        return broken_verdict(exc)
    if (result.get("error") or {}).get("code") == codes.INTERNAL_ERROR:
        return broken_verdict(RuntimeError("deciding under the shadow policy failed"))
    return {"policy": shadow_path(), **verdict_of(result)}


def execute(call: Any, context: ToolContext, policy: Policy | None = None) -> dict[str, Any]:
    """Run one tool call under the policy and return its outcome as plain JSON.

    ``call`` is ``{"name": ..., "arguments": {...}}`` as a dict or a JSON string;
    ``policy=None`` means the one ``ORMAI["POLICY"]`` names.
    """
    return run_call(call, context, policy)


def run_call(
    call: Any,
    context: ToolContext,
    policy: Policy | None = None,
    *,
    approval: Any = None,
    caused_by: Any = None,
) -> dict[str, Any]:
    """``execute``, for a held call whose ``approval`` has just been granted (internal: the
    approvals module runs approved calls through here, so they take the same pipeline)."""
    started = time.perf_counter()
    result, invocation, tool_name, arguments, writes = _outcome(
        call, context, policy, started, approval=approval, caused_by=caused_by
    )
    try:
        if invocation is not None and invocation.audit_event is not None:
            event = invocation.audit_event  # written with the write, in its transaction
        elif (
            invocation is not None
            and invocation.earlier_event is not None
            and not writes
            and result.get("outcome") == "ok"
        ):
            # The handler said an earlier row records this very answer (Invocation.answered_by).
            event = invocation.earlier_event
        elif invocation is not None:
            event = record_invocation(invocation, result)
        else:
            event = record_event(
                tool=tool_name,
                context=context,
                arguments=call_for_ledger(call) if arguments is None else ledger_json(arguments),
                result=result,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
            )
    except Exception:
        # No audit row, no answer: a read whose audit failed returns nothing.
        logger.exception("ormai_django: could not write the audit row of %s", tool_name)
        return {
            "outcome": "error",
            "error": {
                "code": codes.INTERNAL_ERROR,
                "message": "The call could not be audited, so its result is withheld.",
            },
        }
    # A replayed result keeps the audit id of the write it replays (its own row says caused_by).
    result.setdefault("audit_id", event.id)
    return result


def decide_call(
    call: Any,
    context: ToolContext,
    policy: Policy | None = None,
    *,
    check_budgets: bool = True,
    count_by_id: bool = True,
) -> dict[str, Any]:
    """What ``policy`` would answer to ``call``, deciding only: the same pipeline up to the
    approval gate, with nothing executed, locked, spent or audited. A write comes back
    ``ok`` (it would run, with ``affected_rows``), ``pending_approval`` (with
    ``approvers_required``, ``rule_ids``, ``why_held``; no approval is stored), ``denied``
    or ``error`` as it would; a read runs as a read (it changes nothing either).
    ``check_budgets=False`` leaves the budgets out (a replay of old calls: today's windows
    say nothing about then); ``count_by_id=False`` takes a by-id update or delete as one row
    without reading it (the live call beside it does). Used by ``ormai_django.testing`` and
    shadow policies."""
    result, *_ = _outcome(
        call,
        context,
        policy,
        time.perf_counter(),
        deciding=True,
        check_budgets=check_budgets,
        count_by_id=count_by_id,
    )
    return result


def _outcome(
    call: Any,
    context: ToolContext,
    policy: Policy | None,
    started: float,
    *,
    approval: Any = None,
    caused_by: Any = None,
    deciding: bool = False,
    check_budgets: bool = True,
    count_by_id: bool = True,
) -> tuple[dict[str, Any], Invocation | None, str, Any, bool]:
    """The call's result before it is audited, with what the audit row needs: the
    invocation (None when the call never got that far), the tool's name, the arguments,
    and whether the tool writes."""
    tool_name = ""
    arguments: Any = None
    invocation: Invocation | None = None
    writes = True  # until the tool is known: only a tool that doesn't write may reuse a row
    try:
        name, arguments = parse_call(call)
        # A call made from the strict schemas (where/data/aggregations as lists), as the tools
        # read it; the audit row keeps it so, as does the idempotency hash.
        arguments = plain_arguments(arguments)
        tool_name = name if isinstance(name, str) else f"<{type(name).__name__}>"
        spec = find_tool(name)
        tool_name = spec.name
        writes = spec.writes
        ctx = check_context(context)
        if policy is None:
            try:
                policy = get_policy()
            except PolicyConfigurationError as exc:
                logger.error("ormai_django policy is not usable: %s", exc)
                raise ToolError(
                    codes.POLICY_NOT_CONFIGURED,
                    "The host's ormai_django policy is not configured; no tool can run.",
                ) from None
        tenant = canonical_tenant(policy.models, ctx.tenant_id)
        if tenant != ctx.tenant_id:
            ctx = replace(ctx, tenant_id=tenant)  # "07" and 7 are one tenant from here on
        invocation = Invocation(
            spec.name, arguments, ctx, policy, started=started, approval=approval
        )
        invocation.caused_by = caused_by
        invocation.deciding = deciding
        invocation.check_budgets = check_budgets
        invocation.count_by_id = count_by_id
        if writes and not deciding and approval is None:
            # Beside the live policy, before it acts: both judge the same rows.
            invocation.shadow_verdict = shadow_verdict(spec.name, arguments, ctx)
        launched = policy.for_context(ctx)
        if launched is not policy:
            check_launched(policy, launched, spec.name, arguments)
            policy = invocation.policy = launched
        if not policy.allows_tool(spec.name):
            raise ToolDenied(
                codes.TOOL_NOT_ALLOWED,
                f"{spec.name} is not allowed for this caller; allowed tools: "
                f"{', '.join(sorted(policy.offered_tools())) or 'none'}. "
                "Don't retry it; tell the user.",
                tool=spec.name,
                rule=f"tool:{spec.name}",
            )
        check_arguments(spec.name, arguments, spec.arguments, spec.required)
        if deciding and spec.name == APPROVAL_STATUS:
            # Looking is allowed; the look itself is counted and audited, so it isn't taken.
            result: dict[str, Any] = {"outcome": "ok"}
        else:
            result = spec.handler(invocation)
    except ToolError as exc:
        result = {"outcome": exc.outcome, "error": exc.as_error()}
    except Exception:
        logger.exception("ormai_django: unexpected failure in %s", tool_name or "a tool call")
        result = {
            "outcome": "error",
            "error": {
                "code": codes.INTERNAL_ERROR,
                "message": "The call failed unexpectedly and changed nothing. "
                "Don't retry it unchanged; tell the user it failed.",
            },
        }
    return result, invocation, tool_name, arguments, writes


async def aexecute(call: Any, context: ToolContext, policy: Policy | None = None) -> dict[str, Any]:
    """``execute`` for async code (the pipeline runs in Django's sync thread)."""
    return await sync_to_async(execute, thread_sensitive=True)(call, context, policy)
