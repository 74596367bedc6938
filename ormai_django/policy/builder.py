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
from dataclasses import dataclass, field
from datetime import timedelta
from fnmatch import fnmatchcase
from types import MappingProxyType
from typing import Any

from django.apps import apps
from django.db import models

from ormai_django.errors import PolicyConfigurationError
from ormai_django.policy.decorators import WRITE_CLASSES, rules_of
from ormai_django.policy.policy import (
    ApprovalRule,
    BurstRule,
    FieldInfo,
    ModelPolicy,
    Policy,
    WriteRules,
    field_type,
    mask_kind,
)
from ormai_django.policy.profiles import DEFAULT_PROD, Profile
from ormai_django.policy.resolution import ModelNameError, resolve_model

WRITE_TOOLS = ("db.create", "db.update", "db.delete")

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


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive integer, not {value!r}")
    return value


@dataclass
class _ModelDraft:
    """Mutable rules of one model while the policy is being built."""

    model: type[models.Model]
    write_class: str = "none"
    writable: set[str] = field(default_factory=set)
    masked: set[str] = field(default_factory=set)
    denied: list[str] = field(default_factory=list)
    soft_delete: str | None = None
    tenant_field: str | None = None
    require_reason: bool | None = None
    require_idempotency_key: bool | None = None
    max_affected_rows: int | None = None
    allow_cascade_delete: bool | None = None
    burst: BurstRule | None = None


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
            _positive_int(default, "default") if default is not None else None,
            _positive_int(max, "max") if max is not None else None,
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
            _positive_int(max_affected_rows, "max_affected_rows")
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

    def max_writes_per_minute(self, n: int) -> PolicyBuilder:
        """Executed write calls per principal over a sliding minute; past it: ``RATE_LIMITED``."""
        self._max_writes_per_minute = _positive_int(n, "max_writes_per_minute")
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
            {
                "tool": tool,
                "model": model,
                "when": when,
                "approvers": _positive_int(approvers, "approvers"),
                "expires_in": expires_in,
            }
        )
        return self

    def bounded_burst(
        self, *, model: ModelRef, max_calls: int, max_rows: int, per: timedelta
    ) -> PolicyBuilder:
        """Writes on ``model`` run freely up to ``max_calls`` calls and ``max_rows`` rows per
        window ``per``; beyond that they escalate to approval (they are not denied)."""
        if not isinstance(per, timedelta) or per <= timedelta(0):
            raise ValueError("per must be a positive timedelta")
        self._bursts.append(
            {
                "model": model,
                "max_calls": _positive_int(max_calls, "max_calls"),
                "max_rows": _positive_int(max_rows, "max_rows"),
                "per": per,
            }
        )
        return self

    # --- build ------------------------------------------------------------------------

    def build(self) -> Policy:
        """Resolve every name and return the immutable policy.

        Raises ``PolicyConfigurationError`` listing unknown or ambiguous models, unknown
        fields and contradictions (a writable field that is denied, say).
        """
        return _Build(self).run()


class _Build:
    """One run of ``PolicyBuilder.build()``: resolves names, collects problems."""

    def __init__(self, builder: PolicyBuilder) -> None:
        self.b = builder
        self.profile = builder._profile
        self.problems: list[str] = []
        self.drafts: dict[type[models.Model], _ModelDraft] = {}
        # Decorator rules join these; copies, so build() can run twice on one builder.
        self.approvals: list[dict[str, Any]] = list(builder._approvals)
        self.bursts: list[dict[str, Any]] = list(builder._bursts)

    def model(self, ref: ModelRef, where: str) -> type[models.Model] | None:
        try:
            return resolve_model(ref, self.drafts)
        except ModelNameError as exc:
            hint = "" if exc.ambiguous else " (is it in register_models?)"
            self.problems.append(f"{where}: {exc}{hint}")
            return None

    def field_name(self, model: type[models.Model], name: str, where: str) -> str | None:
        for f in model._meta.concrete_fields:
            if name in (f.name, f.attname):
                return f.name
        self.problems.append(f"{where}: {model._meta.label} has no field {name!r}")
        return None

    def run(self) -> Policy:
        b = self.b
        installed = apps.get_models()
        for ref in b._models:
            try:
                model = resolve_model(ref, installed)
            except ModelNameError as exc:
                self.problems.append(f"register_models: {exc}")
                continue
            self.drafts.setdefault(model, _ModelDraft(model))
        if not self.drafts and not self.problems:
            self.problems.append("register_models: the policy registers no model")

        for draft in self.drafts.values():
            self.apply_decorator(draft)
        self.apply_masks()
        self.apply_tenant_scope()
        for ref, name in b._soft_deletes:
            model = self.model(ref, "soft_delete")
            if model is not None:
                self.set_soft_delete(self.drafts[model], name, "soft_delete")
        self.apply_writes()
        approval_rules = self.apply_approvals()
        self.apply_bursts()

        default_limit = b._limits[0] or self.profile.default_limit
        max_limit = b._limits[1] or self.profile.max_limit
        if default_limit > max_limit:
            self.problems.append(f"row_limits: default {default_limit} exceeds max {max_limit}")

        model_policies = [self.freeze(d) for d in self.drafts.values()]
        if self.problems:
            raise PolicyConfigurationError(self.problems)

        by_name: dict[str, ModelPolicy | None] = {}
        for mp in model_policies:
            by_name[mp.label.lower()] = mp
            key = mp.name.lower()
            by_name[key] = None if key in by_name else mp
        return Policy(
            profile=self.profile,
            models=tuple(model_policies),
            default_limit=default_limit,
            max_limit=max_limit,
            max_writes_per_minute=b._max_writes_per_minute,
            approval_rules=approval_rules,
            _by_name=MappingProxyType(by_name),
            _by_model=MappingProxyType({mp.model: mp for mp in model_policies}),
        )

    def apply_decorator(self, draft: _ModelDraft) -> None:
        rules = rules_of(draft.model)
        if rules is None:
            return
        where = f"@agent_model on {draft.model._meta.label}"
        draft.write_class = rules.writes
        draft.denied.extend(g.lower() for g in rules.deny_fields)
        for name in rules.mask_fields:
            if (resolved := self.field_name(draft.model, name, where)) is not None:
                draft.masked.add(resolved)
        for name in rules.writable_fields:
            if (resolved := self.field_name(draft.model, name, where)) is not None:
                draft.writable.add(resolved)
        if rules.soft_delete_field:
            self.set_soft_delete(draft, rules.soft_delete_field, where)
        for spec in rules.approval:
            self.approvals.append({**spec, "model": draft.model})
        if rules.burst:
            self.bursts.append({**rules.burst, "model": draft.model})

    def apply_masks(self) -> None:
        for spec in self.b._mask:
            model_ref, _, name = spec.rpartition(".")
            if not model_ref:
                self.problems.append(f"mask_fields: {spec!r} must be written 'model.field'")
                continue
            model = self.model(model_ref, "mask_fields")
            if model is not None and (resolved := self.field_name(model, name, "mask_fields")):
                self.drafts[model].masked.add(resolved)

    def apply_tenant_scope(self) -> None:
        if self.b._tenant is None:
            return
        field_name, only, exclude = self.b._tenant
        scoped = (
            [m for m in (self.model(r, "tenant_scope") for r in only) if m]
            if only is not None
            else list(self.drafts)
        )
        excluded = {m for m in (self.model(r, "tenant_scope") for r in exclude) if m}
        for model in scoped:
            if model in excluded:
                continue
            resolved = self.field_name(
                model,
                field_name,
                "tenant_scope (the model is tenant-scoped but lacks the field; "
                "add it or pass exclude=[...])",
            )
            self.drafts[model].tenant_field = resolved

    def set_soft_delete(self, draft: _ModelDraft, name: str, where: str) -> None:
        resolved = self.field_name(draft.model, name, where)
        if resolved is None:
            return
        f = draft.model._meta.get_field(resolved)
        if not (isinstance(f, models.BooleanField) or (f.null and isinstance(f, models.DateField))):
            self.problems.append(
                f"{where}: soft-delete field {draft.model._meta.label}.{resolved} must be a "
                "nullable DateField/DateTimeField or a BooleanField"
            )
            return
        draft.soft_delete = resolved

    def apply_writes(self) -> None:
        for spec in self.b._writes:
            enabled = []
            for ref in spec["models"]:
                model = self.model(ref, "enable_writes")
                if model is None:
                    continue
                draft = self.drafts[model]
                if draft.write_class == "none":
                    draft.write_class = "reason"
                for key in (
                    "require_reason",
                    "require_idempotency_key",
                    "max_affected_rows",
                    "allow_cascade_delete",
                ):
                    if spec[key] is not None:
                        setattr(draft, key, spec[key])
                enabled.append(model)
            for ref, names in spec["writable_fields"].items():
                model = self.model(ref, "enable_writes(writable_fields)")
                if model is None:
                    continue
                if model not in enabled:
                    self.problems.append(
                        f"enable_writes: writable_fields names {model._meta.label}, "
                        "which is not in models=[...]"
                    )
                    continue
                for name in names:
                    resolved = self.field_name(model, name, "enable_writes(writable_fields)")
                    if resolved is not None:
                        self.drafts[model].writable.add(resolved)

    def apply_approvals(self) -> tuple[ApprovalRule, ...]:
        rules = []
        for spec in self.approvals:
            tool = spec.get("tool")
            if tool is not None:
                tool = str(tool).replace("_", ".", 1)
                if tool not in WRITE_TOOLS:
                    self.problems.append(
                        f"require_approval: tool {spec['tool']!r} is not one of {WRITE_TOOLS}"
                    )
                    continue
            model = None
            if spec.get("model") is not None:
                model = self.model(spec["model"], "require_approval")
                if model is None:
                    continue
            when = spec.get("when")
            if when is not None and not callable(when):
                self.problems.append("require_approval: when must be a callable")
                continue
            rules.append(
                ApprovalRule(
                    tool=tool,
                    model=model,
                    approvers=_positive_int(spec.get("approvers", 1), "approvers"),
                    when=when,
                    expires_in=spec.get("expires_in"),
                )
            )
        return tuple(rules)

    def apply_bursts(self) -> None:
        for spec in self.bursts:
            model = self.model(spec["model"], "bounded_burst")
            if model is None:
                continue
            self.drafts[model].burst = BurstRule(
                model=model,
                max_calls=_positive_int(spec["max_calls"], "max_calls"),
                max_rows=_positive_int(spec["max_rows"], "max_rows"),
                per=spec["per"],
            )

    def is_denied(self, draft: _ModelDraft, f: models.Field) -> bool:
        if f.primary_key:
            return False
        names = (f.name.lower(), f.attname.lower())
        qualified = [
            f"{prefix}.{n}"
            for prefix in (draft.model._meta.model_name, draft.model._meta.label_lower)
            for n in names
        ]
        for glob in (*self.profile.deny_globs, *self.b._deny, *draft.denied):
            candidates = qualified if "." in glob else names
            if any(fnmatchcase(c, glob) for c in candidates):
                return True
        return isinstance(f, models.BinaryField)

    def freeze(self, draft: _ModelDraft) -> ModelPolicy:
        model = draft.model
        label = model._meta.label
        pk_name = model._meta.pk.name
        if draft.write_class not in WRITE_CLASSES:
            self.problems.append(f"{label}: unknown write class {draft.write_class!r}")
        fields: dict[str, FieldInfo] = {}
        aliases: dict[str, str] = {}
        denied: set[str] = set()
        for f in model._meta.concrete_fields:
            if self.is_denied(draft, f):
                denied.add(f.name)
                continue
            masked = f.name in draft.masked
            if masked and f.primary_key:
                self.problems.append(f"mask_fields: the primary key of {label} can't be masked")
            fields[f.name] = FieldInfo(
                name=f.name,
                field=f,
                type=field_type(f),
                nullable=f.null,
                primary_key=f.primary_key,
                masked=masked,
                mask_kind=mask_kind(f) if masked else None,
                writable=f.name in draft.writable,
                is_tenant=f.name == draft.tenant_field,
                related_model=f.related_model if f.is_relation else None,
                choices=tuple(value for value, _ in f.flatchoices) if f.choices else (),
            )
            if f.attname != f.name:
                aliases[f.attname] = f.name
        for name in sorted(draft.writable):
            if name in denied:
                self.problems.append(f"{label}.{name} is writable but also denied")
            elif name == pk_name:
                self.problems.append(f"{label}.{name} is the primary key; it can't be writable")
            elif name == draft.tenant_field:
                self.problems.append(f"{label}.{name} is the tenant field; it can't be writable")
        if draft.burst is not None and draft.write_class == "reason":
            draft.write_class = "burst"
        writes = WriteRules(
            write_class=draft.write_class,
            writable_fields=frozenset(draft.writable - denied),
            require_reason=(
                self.profile.require_reason
                if draft.require_reason is None
                else draft.require_reason
            ),
            require_idempotency_key=(
                self.profile.require_idempotency_key
                if draft.require_idempotency_key is None
                else draft.require_idempotency_key
            ),
            max_affected_rows=draft.max_affected_rows or self.profile.max_affected_rows,
            allow_cascade_delete=(
                self.profile.allow_cascade_delete
                if draft.allow_cascade_delete is None
                else draft.allow_cascade_delete
            ),
        )
        return ModelPolicy(
            model=model,
            name=model._meta.object_name,
            label=label,
            fields=MappingProxyType(fields),
            aliases=MappingProxyType(aliases),
            pk_name=pk_name,
            tenant_field=draft.tenant_field,
            soft_delete_field=draft.soft_delete,
            writes=writes,
            burst=draft.burst,
        )
