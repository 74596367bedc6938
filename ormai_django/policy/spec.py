"""``PolicySpec``: what a ``PolicyBuilder`` was told, as one public, frozen value.

The builder only records; ``assembly.assemble(spec)`` resolves every name against the app
registry and builds the ``Policy``. Names are kept as written (model classes, labels or
class names; ``"model.field"`` strings), so the same spec can be assembled again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import timedelta
from typing import Any

from ormai_django.policy.launch import Launch
from ormai_django.policy.profiles import DEFAULT_PROD, Profile

# A model as a builder call names it: a class, "app_label.Model" or a class name.
ModelRef = Any


@dataclass(frozen=True)
class TenantScopeSpec:
    """``tenant_scope(field, models=..., exclude=...)``: ``models`` None means every
    registered model (but those in ``exclude``)."""

    field: str
    models: tuple[ModelRef, ...] | None = None
    exclude: tuple[ModelRef, ...] = ()


@dataclass(frozen=True)
class WritesSpec:
    """One ``enable_writes(...)`` call; an option left None keeps the profile's value."""

    models: tuple[ModelRef, ...] = ()
    # ("model.field", ...): the writable fields, each qualified by its model.
    writable_fields: tuple[str, ...] = ()
    require_reason: bool | None = None
    require_idempotency_key: bool | None = None
    max_affected_rows: int | None = None
    allow_cascade_delete: bool | None = None
    # "execute" or "propose" (every write held for a human); None: not given ("execute").
    mode: str | None = None
    # Soft launch (tenants=, principals=, open_to=): None, open to every context.
    launch: Launch | None = None


@dataclass(frozen=True)
class ApprovalSpec:
    """One ``require_approval(...)`` rule; ``tools`` None matches every write tool.

    ``remind_after`` and ``escalate_after`` count from the moment a call is held;
    ``escalate_to`` names who is told when it escalates (usernames, ``"group:<name>"``).
    ``id`` None: the rule's id is derived from its definition when the policy is built."""

    tools: tuple[str, ...] | None = None
    model: ModelRef | None = None
    when: Callable[[Any], bool] | None = dc_field(default=None, compare=False)
    approvers: int = 1
    expires_in: timedelta | None = None
    remind_after: timedelta | None = None
    escalate_after: timedelta | None = None
    escalate_to: tuple[str, ...] = ()
    id: str | None = None


@dataclass(frozen=True)
class BurstSpec:
    """One ``bounded_burst(...)``: either bound may be None (only the other one bounds)."""

    model: ModelRef
    per: timedelta
    max_calls: int | None = None
    max_rows: int | None = None


@dataclass(frozen=True)
class ToolsSpec:
    """One ``allow_tools([...])`` call: domain tools the policy offers, by name."""

    names: tuple[str, ...]
    require_idempotency_key: bool | None = None
    mode: str = "execute"
    # Soft launch (tenants=, principals=, open_to=): None, open to every context.
    launch: Launch | None = None


@dataclass(frozen=True)
class BudgetSpec:
    """One ``write_budget(...)``: ``scope`` is principal, run, tenant or row; either bound
    may be None (only the other one bounds); ``per`` None counts for the life of the scope.
    ``id`` None: derived from the definition when the policy is built."""

    scope: str
    max_calls: int | None = None
    max_rows: int | None = None
    per: timedelta | None = None
    on_exceed: str = "deny"
    model: ModelRef | None = None
    # None: every write tool.
    tools: tuple[str, ...] | None = None
    id: str | None = None


@dataclass(frozen=True)
class PreviewSpec:
    """One ``require_preview(over_rows=N, within=...)``."""

    over_rows: int
    within: timedelta


@dataclass(frozen=True)
class PolicySpec:
    """Everything a policy is built from. ``PolicyBuilder.spec`` returns it."""

    profile: Profile = DEFAULT_PROD
    models: tuple[ModelRef, ...] = ()
    # Lower-case fnmatch globs: on the field name, or on "model.field" when they hold a dot.
    deny_globs: tuple[str, ...] = ()
    # "model.field" strings.
    mask_fields: tuple[str, ...] = ()
    tenant_scopes: tuple[TenantScopeSpec, ...] = ()
    # (model, field name) pairs.
    soft_deletes: tuple[tuple[ModelRef, str], ...] = ()
    # None: the profile's.
    default_limit: int | None = None
    max_limit: int | None = None
    writes: tuple[WritesSpec, ...] = ()
    validators: tuple[tuple[ModelRef, tuple[Callable[[Any], None], ...]], ...] = dc_field(
        default=(), compare=False
    )
    # Every max_writes_per_minute(n) given; the smallest applies.
    max_writes_per_minute: tuple[int, ...] = ()
    approvals: tuple[ApprovalSpec, ...] = ()
    bursts: tuple[BurstSpec, ...] = ()
    tools: tuple[ToolsSpec, ...] = ()
    budgets: tuple[BudgetSpec, ...] = ()
    # propose_writes(): every write of the policy is held for a human.
    propose_writes: bool = False
    # expose_dry_run_tools(): db.update_dry_run and its siblings are tools of their own.
    dry_run_tools: bool = False
    # mark_untrusted_strings(): strings that reads return are wrapped as untrusted data.
    mark_untrusted_strings: bool = False
    previews: tuple[PreviewSpec, ...] = ()
