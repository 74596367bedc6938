"""Assembling a ``Policy`` from a ``PolicyBuilder``: names resolved, rules frozen.

``PolicyAssembler`` runs once per ``PolicyBuilder.build()``. It resolves every
model and field name against the app registry, merges ``@agent_model`` rules with
the builder's, and collects every problem before raising one
``PolicyConfigurationError``, so a system check can list them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import models

from ormai_django.errors import PolicyConfigurationError
from ormai_django.policy.decorators import rules_of
from ormai_django.policy.policy import (
    WRITE_TOOLS,
    ApprovalRule,
    BurstRule,
    FieldInfo,
    ModelPolicy,
    Policy,
    WriteRules,
    field_type,
    mask_kind,
)
from ormai_django.policy.resolution import ModelNameError, resolve_model
from ormai_django.policy.rules import WRITE_CLASSES

if TYPE_CHECKING:
    from ormai_django.policy.builder import ModelRef, PolicyBuilder


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
    validators: list[Any] = field(default_factory=list)


class PolicyAssembler:
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
        for ref, validators in b._validators:
            model = self.model(ref, "validate")
            if model is not None:
                self.drafts[model].validators.extend(validators)
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
        draft.validators.extend(rules.validators)
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
            # Numbers and callables were checked where the rule was written (rules.py).
            rules.append(
                ApprovalRule(
                    tool=tool,
                    model=model,
                    approvers=spec["approvers"],
                    when=spec["when"],
                    expires_in=spec["expires_in"],
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
                max_calls=spec["max_calls"],
                max_rows=spec["max_rows"],
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
        if "pk" not in fields:
            aliases["pk"] = pk_name
        for name in sorted(draft.writable):
            if name in denied:
                self.problems.append(f"{label}.{name} is writable but also denied")
            elif name == pk_name:
                self.problems.append(f"{label}.{name} is the primary key; it can't be writable")
            elif name == draft.tenant_field:
                self.problems.append(f"{label}.{name} is the tenant field; it can't be writable")
            elif (
                draft.model._meta.get_field(name).is_relation
                and draft.model._meta.get_field(name).related_model not in self.drafts
            ):
                self.problems.append(
                    f"{label}.{name} is writable but points to a model the policy doesn't "
                    "register, so the agent's value can't be checked against its tenant"
                )
            elif name == draft.soft_delete:
                self.problems.append(
                    f"{label}.{name} is the soft-delete field; it can't be writable "
                    "(deleting goes through db.delete and its approval rules)"
                )
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
            validators=tuple(draft.validators),
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
