"""Who an MCP server acts as: a ``ToolContext`` from options, or a capability token.

One server process serves one caller: every tool call it runs carries this context and,
with a token, the token's narrowed policy. Both are settled before the server starts, so a
bad token or a missing principal stops it before it serves anything.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from ormai_django.context import ToolContext, check_context
from ormai_django.errors import CapabilityTokenError, OrmaiError, ToolError
from ormai_django.policy.policy import Policy
from ormai_django.tokens import verify_token


class CallerError(OrmaiError):
    """The options don't name a usable caller; ``code`` says why, the message what to do."""


@dataclass(frozen=True)
class Caller:
    """The context every call of this server runs as, and the policy it runs under; from a
    token, until the token's ``expires_at``."""

    context: ToolContext
    policy: Policy
    from_token: bool = False
    expires_at: dt.datetime | None = None

    def expired(self) -> bool:
        """Whether the token this caller came from has expired since the server started."""
        return self.expires_at is not None and timezone.now() >= self.expires_at

    def describe(self) -> str:
        """Who this is, in one line: ``agent:bot, tenant 7, run run-1``."""
        context = self.context
        parts = [context.principal]
        for label, value in (
            ("tenant", context.tenant_id),
            ("on behalf of", context.on_behalf_of),
            ("run", context.run_id),
        ):
            if value not in (None, ""):
                parts.append(f"{label} {value}")
        if self.expires_at is not None:
            parts.append(
                f"from a capability token valid until {self.expires_at:%Y-%m-%d %H:%M} UTC"
            )
        return ", ".join(parts)


def resolve_caller(
    policy: Policy,
    *,
    principal: str | None = None,
    tenant: str | None = None,
    on_behalf_of: str | None = None,
    run_id: str | None = None,
    token: str | None = None,
) -> Caller:
    """The caller named by a capability ``token`` (its context, its narrowed policy) or,
    without one, by the options; ``principal`` is required then.

    A token carries the whole context, so it can't be combined with the context options.
    Raises ``CallerError`` (codes: ``CONTEXT_REQUIRED``, ``CONTEXT_CONFLICT``,
    ``INVALID_CONTEXT`` and the token's own ``TOKEN_INVALID``, ``TOKEN_EXPIRED``,
    ``TOKEN_WIDENS_POLICY``).
    """
    options = {
        "--principal": principal,
        "--tenant": tenant,
        "--on-behalf-of": on_behalf_of,
        "--run-id": run_id,
    }
    if token:
        given = [name for name, value in options.items() if value not in (None, "")]
        if given:
            raise CallerError(
                "CONTEXT_CONFLICT",
                f"A capability token carries the whole context; drop {', '.join(given)} "
                "or the token.",
            )
        return _caller_from_token(token.strip(), policy)
    if not principal or not principal.strip():
        raise CallerError(
            "CONTEXT_REQUIRED",
            "Say who the agent is: --principal agent:NAME (with --tenant ID for "
            "tenant-scoped models), or pass a capability token with --token or "
            "ORMAI_CAPABILITY_TOKEN.",
        )
    context = ToolContext(
        principal=principal.strip(),
        tenant_id=tenant or None,
        on_behalf_of=on_behalf_of or None,
        run_id=run_id or None,
    )
    return Caller(context=_checked(context), policy=policy)


def _caller_from_token(token: str, policy: Policy) -> Caller:
    try:
        capability: Any = verify_token(token, policy)
    except CapabilityTokenError as exc:
        raise CallerError(exc.code, f"The capability token was refused. {exc.message}") from None
    return Caller(
        context=_checked(capability.context),
        policy=capability.policy,
        from_token=True,
        expires_at=capability.expires_at,
    )


def _checked(context: Any) -> ToolContext:
    try:
        return check_context(context)
    except ToolError as exc:
        raise CallerError(exc.code, exc.message) from None
