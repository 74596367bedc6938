"""Writing the ledger: one ``AuditEvent`` per call, whatever the agent sent.

The agent's strings go into the ledger as data, so they are made storable first:
a NUL byte or a lone surrogate (which PostgreSQL refuses) is written escaped,
and nesting deeper than any valid call is cut. The audit row must never be the
thing that fails.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from typing import Any

from ormai_django.conf import ormai_settings

MAX_TEXT = 2000
MAX_DEPTH = 32
MAX_ITEMS = 1000


def safe_text(value: Any, limit: int = MAX_TEXT) -> str:
    """``value`` as text any database stores: NULs and lone surrogates escaped, truncated."""
    text = value if isinstance(value, str) else str(value)
    text = text[:limit].replace("\x00", "\\x00")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def ledger_json(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON a JSONField stores on every backend (see module docstring)."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return safe_text(value, limit=len(value))
    if depth >= MAX_DEPTH:
        return "[nested too deep]"
    if isinstance(value, Mapping):
        items = list(value.items())[:MAX_ITEMS]
        return {safe_text(k): ledger_json(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple):
        return [ledger_json(v, depth + 1) for v in value[:MAX_ITEMS]]
    return safe_text(f"<{type(value).__name__}>")


def call_for_ledger(call: Any) -> Any:
    """What to record of a call that could not be parsed: its arguments, or its raw text
    (cut to ``MAX_TEXT`` characters when it is larger than any valid call)."""
    if isinstance(call, Mapping):
        arguments = call.get("arguments", call.get("input"))
        recorded = (
            ledger_json(arguments)
            if isinstance(arguments, Mapping)
            else {"raw": ledger_json(dict(list(call.items())[:20]))}
        )
        text = json.dumps(recorded)
        if len(text) > ormai_settings.MAX_CALL_BYTES:
            return {"raw": text[:MAX_TEXT], "truncated": True}
        return recorded
    if isinstance(call, bytes | bytearray):
        call = call[:MAX_TEXT].decode("utf-8", "replace")
    if isinstance(call, str):
        return {"raw": safe_text(call)}
    return {"raw": f"<{type(call).__name__}>"}


def context_for_ledger(context: Any) -> dict[str, str]:
    """principal, on_behalf_of, run_id and tenant_id as text, even from a bad context."""
    if isinstance(context, Mapping):
        get = context.get
    else:

        def get(key: str) -> Any:
            return getattr(context, key, None)

    return {
        key: "" if get(key) is None else safe_text(get(key), limit=limit)
        for key, limit in (
            ("principal", 200),
            ("on_behalf_of", 200),
            ("run_id", 200),
            ("tenant_id", 64),
        )
    }


def audit_event(
    *,
    tool: str,
    context: Any,
    arguments: Any,
    result: Mapping[str, Any],
    duration_ms: float | None,
    model: str = "",
    reason: str = "",
    affected_rows: int | None = None,
    changes: Any = None,
    idempotency_key: str = "",
    caused_by: Any = None,
    approval: Any = None,
    returned: Any = None,
    shadow_verdict: Any = None,
) -> Any:
    """The ``AuditEvent`` of one call, not yet saved (``record_event`` saves it)."""
    from ormai_django.models import AuditEvent

    error = result.get("error") or {}
    return AuditEvent(
        tool=safe_text(tool, limit=64),
        model=model,
        **context_for_ledger(context),
        reason=safe_text(reason, limit=10_000),
        arguments=arguments,
        outcome=result["outcome"],
        error_code=safe_text(error.get("code", ""), limit=64),
        error_message=safe_text(error.get("message", "")),
        affected_rows=affected_rows,
        changes=changes,
        idempotency_key=safe_text(idempotency_key, limit=200),
        caused_by=caused_by,
        approval=approval,
        result=returned,
        duration_ms=duration_ms,
        shadow_verdict=shadow_verdict,
    )


def record_event(**fields: Any) -> Any:
    """Append the ``AuditEvent`` of one call and return it (the fields are
    ``audit_event``'s; ``returned``: what a domain tool's function returned;
    ``shadow_verdict``: what the shadow policy said of it)."""
    event = audit_event(**fields)
    event.save()
    return event


def invocation_event(inv: Any, result: Mapping[str, Any]) -> Any:
    """The ``AuditEvent`` of a call that got as far as an ``Invocation``, not yet saved;
    its duration runs until now."""
    return audit_event(
        tool=inv.tool,
        context=inv.context,
        arguments=ledger_json(inv.arguments),
        result=result,
        duration_ms=round((time.perf_counter() - inv.started) * 1000, 3),
        model=inv.model_label,
        reason=inv.reason,
        affected_rows=inv.affected_rows,
        changes=inv.changes,
        idempotency_key=inv.idempotency_key,
        caused_by=inv.caused_by,
        approval=inv.approval,
        returned=inv.returned,
        shadow_verdict=inv.shadow_verdict,
    )


def record_invocation(inv: Any, result: Mapping[str, Any]) -> Any:
    """Append the ``AuditEvent`` of a call that got as far as an ``Invocation``."""
    event = invocation_event(inv, result)
    event.save()
    return event
