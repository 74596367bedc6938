"""``PolicyBuilder``: the fluent way to write a policy.

    policy = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models([Customer, "shop.Order"])
        .deny_fields("*password*")
        .mask_fields(["customer.email"])
        .tenant_scope("tenant_id")
        .build()
    )

The builder only records what it is told; ``build()`` resolves every model and
field name against the app registry and raises one
:class:`~ormai_django.errors.PolicyConfigurationError` listing every problem.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

from django.db import models

from ormai_django.policy.policy import (
    Policy,
)
from ormai_django.policy.profiles import DEFAULT_PROD, Profile
from ormai_django.policy.rules import approval_spec, burst_spec, positive_int

ModelRef = str | type[models.Model]


def _names(args: tuple[Any, ...]) -> list[Any]:
    """Accept both ``f("a", "b")`` and ``f(["a", "b"])``."""
    out: list[Any] = []
    for arg in args:
        if isinstance(arg, str | type):
            out.append(arg)
        else:
            out.extend(arg)
    return out


class PolicyBuilder:
    """Collects the rules of a policy; ``build()`` returns the immutable :class:`Policy`."""

    def __init__(self, profile: Profile = DEFAULT_PROD) -> None:
        if not isinstance(profile, Profile):
            raise TypeError("PolicyBuilder takes a Profile such as DEFAULT_PROD or DEFAULT_DEV")
        self._profile = profile
        self._models: list[ModelRef] = []
        self._deny: list[str] = []
        self._mask: list[str] = []
        self._tenant: tuple[str, list[ModelRef] | None, list[ModelRef]] | None = None
        self._writes: list[dict[str, Any]] = []
        self._approvals: list[dict[str, Any]] = []
        self._bursts: list[dict[str, Any]] = []
        self._soft_deletes: list[tuple[ModelRef, str]] = []
        self._validators: list[tuple[ModelRef, tuple[Callable[[Any], None], ...]]] = []
        self._max_writes_per_minute: int | None = None
        self._limits: tuple[int | None, int | None] = (None, None)

    # --- what the agent can see -------------------------------------------------------

    def register_models(self, *models_: ModelRef | Iterable[ModelRef]) -> PolicyBuilder:
        """Models the agent may know about: classes, ``"app_label.Model"`` or class names."""
        self._models.extend(_names(models_))
        return self

    def deny_fields(self, *globs: str | Iterable[str]) -> PolicyBuilder:
        """Fields absent everywhere: fnmatch globs on the field name (``"*password*"``), or on
        ``"model.field"`` when the glob has a dot (``"customer.internal_*"``); case-insensitive."""
        self._deny.extend(g.lower() for g in _names(globs))
        return self

    def mask_fields(self, *fields: str | Iterable[str]) -> PolicyBuilder:
        """Fields shown masked and never filterable, as ``"model.field"``."""
        self._mask.extend(_names(fields))
        return self

    def tenant_scope(
        self,
        field_name: str,
        *,
        models: Iterable[ModelRef] | None = None,
        exclude: Iterable[ModelRef] = (),
    ) -> PolicyBuilder:
        """Scope reads and writes to the context's tenant by ``field_name``.

        Every registered model is scoped unless ``models`` lists the scoped ones or
        ``exclude`` names the shared ones (a product catalogue, say).
        """
        self._tenant = (field_name, list(models) if models is not None else None, list(exclude))
        return self

    def soft_delete(self, model: ModelRef, field_name: str) -> PolicyBuilder:
        """Rows whose ``field_name`` is set (a nullable date/datetime) or true (a boolean)
        are deleted: invisible to reads; ``db.delete`` sets the field instead of deleting."""
        self._soft_deletes.append((model, field_name))
        return self

    def row_limits(self, *, default: int | None = None, max: int | None = None) -> PolicyBuilder:
        """Override the profile's page size (``default``) and the largest ``limit`` allowed."""
        self._limits = (
            positive_int(default, "default") if default is not None else None,
            positive_int(max, "max") if max is not None else None,
        )
        return self

    # --- what the agent can change ----------------------------------------------------

    def enable_writes(
        self,
        *,
        models: Iterable[ModelRef],
        writable_fields: Mapping[ModelRef, Iterable[str]] | None = None,
        require_reason: bool | None = None,
        require_idempotency_key: bool | None = None,
        max_affected_rows: int | None = None,
        allow_cascade_delete: bool | None = None,
    ) -> PolicyBuilder:
        """Let the agent write to ``models``, touching only ``writable_fields``.

        ``max_affected_rows`` bounds one update or delete (above it the call escalates to
        approval); unset, the profile's value holds (100 in ``DEFAULT_PROD``).
        """
        if max_affected_rows is not None:
            positive_int(max_affected_rows, "max_affected_rows")
        self._writes.append(
            {
                "models": _names((models,)),
                "writable_fields": {k: list(v) for k, v in (writable_fields or {}).items()},
                "require_reason": require_reason,
                "require_idempotency_key": require_idempotency_key,
                "max_affected_rows": max_affected_rows,
                "allow_cascade_delete": allow_cascade_delete,
            }
        )
        return self

    def validate(self, model: ModelRef, *validators: Callable[[Any], None]) -> PolicyBuilder:
        """Run ``validators`` before every write on ``model``, after its own ``full_clean``.

        Each gets a ``WriteCheck`` (``tool``, ``model``, ``data``, ``context``, and
        ``instance``: the row as it would be, for creates and single-row updates) and raises
        ``django.core.exceptions.ValidationError`` to refuse the write.
        """
        for validator in validators:
            if not callable(validator):
                raise ValueError(f"a validator must be callable, not {validator!r}")
        self._validators.append((model, validators))
        return self

    def max_writes_per_minute(self, n: int) -> PolicyBuilder:
        """Executed write calls per principal over a sliding minute; past it: ``RATE_LIMITED``."""
        self._max_writes_per_minute = positive_int(n, "max_writes_per_minute")
        return self

    def require_approval(
        self,
        *,
        tool: str | None = None,
        model: ModelRef | None = None,
        when: Callable[[Any], bool] | None = None,
        approvers: int = 1,
        expires_in: timedelta | None = None,
    ) -> PolicyBuilder:
        """Hold matching writes for ``approvers`` distinct humans (never the requester).

        ``when(call)`` narrows the rule; ``call`` has ``tool``, ``model``, ``data``, ``where``,
        ``affected_rows``, ``reason`` and ``context``.
        """
        self._approvals.append(
            approval_spec(
                {
                    "tool": tool,
                    "model": model,
                    "when": when,
                    "approvers": approvers,
                    "expires_in": expires_in,
                }
            )
        )
        return self

    def bounded_burst(
        self, *, model: ModelRef, max_calls: int, max_rows: int, per: timedelta
    ) -> PolicyBuilder:
        """Writes on ``model`` run freely up to ``max_calls`` calls and ``max_rows`` rows per
        window ``per``; beyond that they escalate to approval (they are not denied)."""
        self._bursts.append(
            {
                "model": model,
                **burst_spec({"max_calls": max_calls, "max_rows": max_rows, "per": per}),
            }
        )
        return self

    # --- build ------------------------------------------------------------------------

    def build(self) -> Policy:
        """Resolve every name and return the immutable policy.

        Raises ``PolicyConfigurationError`` listing unknown or ambiguous models, unknown
        fields and contradictions (a writable field that is denied, say).
        """
        from ormai_django.policy.assembly import PolicyAssembler

        return PolicyAssembler(self).run()
