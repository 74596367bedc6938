"""Capability tokens: a signed, expiring grant of a subset of the policy to one principal.

    from ormai_django.tokens import issue_token, verify_token

    token = issue_token(principal="agent:support-bot", tenant_id=7, models=["Order"],
                        tools=["db.query", "db.get"], expires_in=timedelta(hours=1))
    capability = verify_token(token, policy)
    execute(call, capability.context, policy=capability.policy)

A token names its principal, tenant, ``on_behalf_of`` and ``run_id`` (the whole
``ToolContext``) and the part of the policy it grants: models, tools, read-only. It is
signed with ``SECRET_KEY`` (``SECRET_KEY_FALLBACKS`` verify too) under a salt of its own,
and carries its lifetime, checked like ``TimestampSigner``'s ``max_age``. It can only
narrow: a token that names a model or tool the policy doesn't grant is refused. Tokens are
signed, not encrypted: whoever holds one can read what it grants.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core import signing

from ormai_django import codes
from ormai_django.conf import ormai_settings
from ormai_django.context import ToolContext, check_context
from ormai_django.errors import CapabilityTokenError, PolicyWideningError, ToolError
from ormai_django.policy.loading import get_policy
from ormai_django.policy.policy import Policy

FORMAT_VERSION = 1
# A real token is a few hundred characters; a bigger one is refused before any decoding.
MAX_TOKEN_LENGTH = 8192
_PAYLOAD_KEYS = frozenset({"v", "sub", "tenant", "obo", "run", "models", "tools", "ro", "ttl"})


@dataclass(frozen=True)
class Capability:
    """What a verified token grants: run calls as ``context`` under ``policy``."""

    context: ToolContext
    policy: Policy
    models: tuple[str, ...] | None
    tools: tuple[str, ...] | None
    read_only: bool
    expires_at: dt.datetime


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=ormai_settings.CAPABILITY_TOKEN_SALT)


def _names(value: Iterable[Any] | None, what: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValueError(f"{what} must be a list of names (or None for all), not {value!r}")
    names = list(value)
    if not all(isinstance(name, str) and name.strip() for name in names):
        raise ValueError(f"{what} must be a list of non-empty strings, not {names!r}")
    return names


def issue_token(
    *,
    principal: str,
    tenant_id: int | str | None = None,
    models: Iterable[str] | None = None,
    tools: Iterable[str] | None = None,
    read_only: bool = False,
    expires_in: dt.timedelta = dt.timedelta(hours=1),
    on_behalf_of: str | None = None,
    run_id: str | None = None,
    policy: Policy | None = None,
) -> str:
    """A signed token granting ``principal`` (in ``tenant_id``) the named part of the policy.

    ``models``/``tools`` None means all the policy grants; ``read_only`` takes writes away.
    ``expires_in`` is a positive timedelta of at most ``ORMAI["CAPABILITY_TOKEN_MAX_LIFETIME"]``.
    Given a ``policy``, the token is checked against it now (``CapabilityTokenError`` with
    ``TOKEN_WIDENS_POLICY``) instead of when it is used. Bad arguments raise ``ValueError``.
    """
    try:
        context = check_context(
            ToolContext(
                principal=principal, tenant_id=tenant_id, on_behalf_of=on_behalf_of, run_id=run_id
            )
        )
    except ToolError as exc:
        raise ValueError(exc.message) from None
    if not isinstance(read_only, bool):
        raise ValueError(f"read_only must be True or False, not {read_only!r}")
    longest = ormai_settings.CAPABILITY_TOKEN_MAX_LIFETIME
    if not isinstance(expires_in, dt.timedelta) or not dt.timedelta(0) < expires_in <= longest:
        raise ValueError(f"expires_in must be a timedelta above zero and at most {longest}")
    payload = {
        "v": FORMAT_VERSION,
        "sub": context.principal,
        "tenant": context.tenant_id,
        "obo": context.on_behalf_of,
        "run": context.run_id,
        "models": _names(models, "models"),
        "tools": _names(tools, "tools"),
        "ro": read_only,
        "ttl": max(1, int(expires_in.total_seconds())),
    }
    if policy is not None:
        _narrow(policy, payload)
    return _signer().sign_object(payload, compress=True)


def _refuse(code: str, message: str) -> CapabilityTokenError:
    return CapabilityTokenError(code, message, rule="token")


def _checked_payload(payload: Any) -> dict[str, Any]:
    """The payload of a token we signed, checked for shape all the same (a token signed by
    an older version, or by hand with the key, must not reach the pipeline half-formed)."""
    if not isinstance(payload, dict) or set(payload) != _PAYLOAD_KEYS:
        raise ValueError("unexpected payload keys")
    if payload["v"] != FORMAT_VERSION:
        raise ValueError("unknown token version")
    ttl = payload["ttl"]
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
        raise ValueError("bad lifetime")
    if not isinstance(payload["ro"], bool):
        raise ValueError("bad read_only")
    _names(payload["models"], "models")
    _names(payload["tools"], "tools")
    return payload


def _narrow(policy: Policy, payload: dict[str, Any]) -> Policy:
    try:
        return policy.narrowed(
            models=payload["models"], tools=payload["tools"], read_only=payload["ro"]
        )
    except PolicyWideningError as exc:
        raise _refuse(
            codes.TOKEN_WIDENS_POLICY,
            f"The capability token asks for more than the policy grants ({exc}); "
            "issue a new token within the policy.",
        ) from None


def verify_token(token: Any, policy: Policy | None = None) -> Capability:
    """The capability ``token`` grants under ``policy`` (default: ``ORMAI["POLICY"]``).

    Raises ``CapabilityTokenError``: ``TOKEN_INVALID``, ``TOKEN_EXPIRED`` or
    ``TOKEN_WIDENS_POLICY``. Never trusts anything in the token before its signature.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise _refuse(codes.TOKEN_INVALID, "The capability token is missing or malformed.")
    signer = _signer()
    try:
        payload = _checked_payload(signer.unsign_object(token))
        signed_at = signing.b62_decode(token.rsplit(signer.sep, 2)[1])
        signer.unsign(token, max_age=payload["ttl"])
        context = check_context(
            ToolContext(
                principal=payload["sub"],
                tenant_id=payload["tenant"],
                on_behalf_of=payload["obo"],
                run_id=payload["run"],
            )
        )
    except signing.SignatureExpired:
        raise _refuse(
            codes.TOKEN_EXPIRED, "The capability token has expired; ask for a new one."
        ) from None
    except (signing.BadSignature, ToolError, ValueError, TypeError, IndexError, zlib.error):
        raise _refuse(
            codes.TOKEN_INVALID,
            "The capability token is not valid (bad signature, tampered or malformed).",
        ) from None
    if policy is None:
        policy = get_policy()
    return Capability(
        context=context,
        policy=_narrow(policy, payload),
        models=None if payload["models"] is None else tuple(payload["models"]),
        tools=None if payload["tools"] is None else tuple(payload["tools"]),
        read_only=payload["ro"],
        expires_at=dt.datetime.fromtimestamp(signed_at + payload["ttl"], tz=dt.UTC),
    )
