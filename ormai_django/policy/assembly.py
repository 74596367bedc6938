"""Assembling a ``Policy`` from a ``PolicySpec``: names resolved, rules frozen.

``assemble(spec)`` runs once per ``PolicyBuilder.build()``. It resolves every model and
field name against the app registry, merges ``@agent_model`` rules with the builder's, and
collects every problem before raising one ``PolicyConfigurationError``, so a system check
can list them all. It reads nothing but the spec and the models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from types import MappingProxyType
from typing import Any

from django.apps import apps
from django.db import models

from ormai_django import names
from ormai_django.errors import PolicyConfigurationError
from ormai_django.policy.approval_rules import approval_rules
from ormai_django.policy.budget_resolution import BudgetResolution
from ormai_django.policy.budgets import Budget
from ormai_django.policy.decorators import rules_of
from ormai_django.policy.model_policy import (
    FieldInfo,
    ModelPolicy,
    WriteRules,
    field_type,
    mask_kind,
)
from ormai_django.policy.policy import ApprovalRule, Policy, ToolRules
from ormai_django.policy.resolution import ModelNameError, resolve_model
from ormai_django.policy.rules import WRITE_CLASSES
from ormai_django.policy.spec import ApprovalSpec, BurstSpec, ModelRef, PolicySpec

# The write options of enable_writes(), each a WriteRules field of the same name.
WRITE_OPTIONS = (
    "require_reason",
    "require_idempotency_key",
    "max_affected_rows",
    "allow_cascade_delete",
    "mode",
    "launch",
)
# What an option not given anywhere is, where the profile has no value for it.
OPTION_DEFAULTS = {"mode": "execute"}


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
    options: dict[str, Any] = field(default_factory=dict)
    # Whether a bounded_burst bounds the model (its write class becomes "burst").
    bursty: bool = False
    validators: list[Any] = field(default_factory=list)


def preview_rule(spec: PolicySpec) -> dict[str, Any]:
    """``require_preview``: the strictest one given (fewest rows, then the shortest window)."""
    strictest = min(spec.previews, key=lambda p: (p.over_rows, p.within), default=None)
    if strictest is None:
        return {}
    return {"preview_over_rows": strictest.over_rows, "preview_within": strictest.within}


def assemble(spec: PolicySpec) -> Policy:
    """The ``Policy`` that ``spec`` describes; raises ``PolicyConfigurationError``."""
    return _Assembly(spec).run()


class _Assembly:
    """One run of ``assemble``: resolves names, collects problems."""

    def __init__(self, spec: PolicySpec) -> None:
        self.spec = spec
        self.profile = spec.profile
        self.problems: list[str] = []
        self.drafts: dict[type[models.Model], _ModelDraft] = {}
        # Decorator rules join the builder's.
        self.approvals: list[tuple[ApprovalSpec, Any]] = [(a, a.model) for a in spec.approvals]
        self.bursts: list[BurstSpec] = list(spec.bursts)

    # --- names ------------------------------------------------------------------------

    def model(self, ref: ModelRef, where: str) -> type[models.Model] | None:
        try:
            return resolve_model(ref, self.drafts)
        except ModelNameError as exc:
            hint = "" if exc.ambiguous else " (is it in register_models?)"
            self.problems.append(f"{where}: {exc}{hint}")
            return None

    def field_name(self, model: type[models.Model], name: str, where: str) -> str | None:
        """The field ``name`` (or attname) of ``model``; in any case when that is unique."""
        concrete = model._meta.concrete_fields
        for f in concrete:
            if name in (f.name, f.attname):
                return f.name
        folded = name.lower() if isinstance(name, str) else name
        matches = {f.name for f in concrete if folded in (f.name.lower(), f.attname.lower())}
        if len(matches) == 1:
            return matches.pop()
        self.problems.append(f"{where}: {model._meta.label} has no field {name!r}")
        return None

    def qualified(self, spec: str, where: str) -> tuple[type[models.Model], str] | None:
        """``"model.field"`` -> (model, field name)."""
        model_ref, _, name = str(spec).rpartition(".")
        if not model_ref or not name:
            self.problems.append(f"{where}: {spec!r} must be written 'model.field'")
            return None
        model = self.model(model_ref, where)
        if model is None:
            return None
        resolved = self.field_name(model, name, where)
        return None if resolved is None else (model, resolved)

    # --- the run ----------------------------------------------------------------------

    def run(self) -> Policy:
        spec = self.spec
        installed = apps.get_models()
        for ref in spec.models:
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
        for item in spec.mask_fields:
            if (found := self.qualified(item, "mask_fields")) is not None:
                self.drafts[found[0]].masked.add(found[1])
        self.apply_tenant_scopes()
        for ref, validators in spec.validators:
            model = self.model(ref, "validate")
            if model is not None:
                self.drafts[model].validators.extend(validators)
        for ref, name in spec.soft_deletes:
            model = self.model(ref, "soft_delete")
            if model is not None:
                self.set_soft_delete(self.drafts[model], name, "soft_delete")
        self.apply_writes()
        domain_tools = self.apply_tools()
        approval_rules = self.apply_approvals(domain_tools)
        budgets = self.apply_budgets(domain_tools)

        default_limit = spec.default_limit or self.profile.default_limit
        max_limit = spec.max_limit or self.profile.max_limit
        if default_limit > max_limit:
            self.problems.append(f"row_limits: default {default_limit} exceeds max {max_limit}")

        model_policies = [self.freeze(d) for d in self.drafts.values()]
        if self.problems:
            raise PolicyConfigurationError(self.problems)
        return Policy(
            profile=self.profile,
            models=tuple(model_policies),
            default_limit=default_limit,
            max_limit=max_limit,
            approval_rules=approval_rules,
            domain_tools=MappingProxyType(domain_tools),
            budgets=budgets,
            propose_writes=spec.propose_writes,
            dry_run_tools=spec.dry_run_tools,
            mark_untrusted_strings=spec.mark_untrusted_strings,
            **preview_rule(spec),
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
        self.approvals += [(rule, draft.model) for rule in rules.approval]
        if rules.burst:
            self.bursts.append(BurstSpec(**{**rules.burst.__dict__, "model": draft.model}))

    def apply_tenant_scopes(self) -> None:
        for scope in self.spec.tenant_scopes:
            scoped = (
                [m for m in (self.model(r, "tenant_scope") for r in scope.models) if m]
                if scope.models is not None
                else list(self.drafts)
            )
            excluded = {m for m in (self.model(r, "tenant_scope") for r in scope.exclude) if m}
            for model in scoped:
                if model in excluded:
                    continue
                resolved = self.field_name(
                    model,
                    scope.field,
                    "tenant_scope (the model is tenant-scoped but lacks the field; "
                    "add it or pass exclude=[...])",
                )
                draft = self.drafts[model]
                if resolved and draft.tenant_field not in (None, resolved):
                    self.problems.append(
                        f"tenant_scope: {model._meta.label} is scoped by both "
                        f"{draft.tenant_field!r} and {resolved!r}; give each model one tenant field"
                    )
                    continue
                draft.tenant_field = resolved or draft.tenant_field

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
        if draft.soft_delete not in (None, resolved):
            self.problems.append(
                f"{where}: {draft.model._meta.label} already soft-deletes by "
                f"{draft.soft_delete!r}; a model has one soft-delete field"
            )
            return
        draft.soft_delete = resolved

    def apply_writes(self) -> None:
        for spec in self.spec.writes:
            enabled: list[type[models.Model]] = []
            for ref in spec.models:
                model = self.model(ref, "enable_writes")
                if model is not None:
                    enabled.append(model)
            fields = []
            for item in spec.writable_fields:
                found = self.qualified(item, "enable_writes(writable_fields)")
                if found is not None:
                    fields.append(found)
                    if found[0] not in enabled:
                        enabled.append(found[0])
            for model in enabled:
                draft = self.drafts[model]
                if draft.write_class == "none":
                    draft.write_class = "reason"
                for key in WRITE_OPTIONS:
                    value = getattr(spec, key)
                    if value is None:
                        continue
                    earlier = draft.options.setdefault(key, value)
                    if earlier != value:
                        self.problems.append(
                            f"enable_writes: {key} of {model._meta.label} is set to both "
                            f"{earlier!r} and {value!r}"
                        )
            for model, name in fields:
                self.drafts[model].writable.add(name)

    def apply_tools(self) -> dict[str, ToolRules]:
        """The domain tools ``allow_tools`` names (whether each is declared is checked by
        the system check: the policy knows tools by name only)."""
        found: dict[str, ToolRules] = {}
        for spec in self.spec.tools:
            for name in spec.names:
                if not names.TOOL_NAME.match(name) or name in names.BUILTIN_TOOLS:
                    self.problems.append(
                        f"allow_tools: {name!r} is not a domain tool's name (dotted words like "
                        "'billing.refund_invoice'; the db.* tools need no allow_tools)"
                    )
                    continue
                require_key = (
                    self.profile.require_idempotency_key
                    if spec.require_idempotency_key is None
                    else spec.require_idempotency_key
                )
                rules = ToolRules(name, require_key, spec.mode, spec.launch)
                earlier = found.setdefault(name, rules)
                if earlier != rules:
                    self.problems.append(
                        f"allow_tools: {name} is allowed twice with different options "
                        "(require_idempotency_key, mode, launch group)"
                    )
        return found

    def apply_approvals(self, domain_tools: dict[str, ToolRules]) -> tuple[ApprovalRule, ...]:
        return approval_rules(
            self.approvals, self.model, self.profile, self.problems, tuple(domain_tools)
        )

    def apply_budgets(self, domain_tools: dict[str, ToolRules]) -> tuple[Budget, ...]:
        resolution = BudgetResolution(self.model, self.problems, tuple(domain_tools))
        budgets = resolution.run(self.spec, self.bursts)
        for model in resolution.bursty:
            self.drafts[model].bursty = True
        return budgets

    # --- freezing ---------------------------------------------------------------------

    def is_denied(self, draft: _ModelDraft, f: models.Field) -> bool:
        if f.primary_key:
            return False
        field_names = (f.name.lower(), f.attname.lower())
        qualified = [
            f"{prefix}.{n}"
            for prefix in (draft.model._meta.model_name, draft.model._meta.label_lower)
            for n in field_names
        ]
        for glob in (*self.profile.deny_globs, *self.spec.deny_globs, *draft.denied):
            candidates = qualified if "." in glob else field_names
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
        self.check_writable(draft, denied)
        if draft.bursty and draft.write_class == "reason":
            draft.write_class = "burst"
        options = {
            key: draft.options.get(key, getattr(self.profile, key, OPTION_DEFAULTS.get(key)))
            for key in WRITE_OPTIONS
        }
        writes = WriteRules(
            write_class=draft.write_class,
            writable_fields=frozenset(draft.writable - denied),
            validators=tuple(draft.validators),
            **options,
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
        )

    def check_writable(self, draft: _ModelDraft, denied: set[str]) -> None:
        label, meta = draft.model._meta.label, draft.model._meta
        for name in sorted(draft.writable):
            if name in denied:
                self.problems.append(f"{label}.{name} is writable but also denied")
            elif name == meta.pk.name:
                self.problems.append(f"{label}.{name} is the primary key; it can't be writable")
            elif name == draft.tenant_field:
                self.problems.append(f"{label}.{name} is the tenant field; it can't be writable")
            elif (
                meta.get_field(name).is_relation
                and meta.get_field(name).related_model not in self.drafts
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
