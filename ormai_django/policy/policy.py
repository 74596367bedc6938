"""The built, immutable policy: what each registered model shows and accepts.

A :class:`Policy` comes from :class:`~ormai_django.policy.builder.PolicyBuilder` (through
its frozen :class:`~ormai_django.policy.spec.PolicySpec`); everything in it is resolved
(model classes, field objects) and frozen, so the tools never parse a name from the policy
at call time. The policy builds its own indexes (models by name and by class) from its
models, so a narrowed copy (``dataclasses.replace``) indexes exactly what it keeps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from django.db import models

from ormai_django import codes, names
from ormai_django.errors import PolicyWideningError, ToolError
from ormai_django.policy import narrowing
from ormai_django.policy.budgets import Budget
from ormai_django.policy.launch import Launch
from ormai_django.policy.model_policy import ModelPolicy
from ormai_django.policy.profiles import Profile


@dataclass(frozen=True)
class ToolRules:
    """What the policy says about one domain tool it offers (``allow_tools``)."""

    name: str
    require_idempotency_key: bool = False
    # "propose": every call is held for a human.
    mode: str = "execute"
    # Soft launch: only contexts this group admits may call it (None: every context).
    launch: Launch | None = None


@dataclass(frozen=True)
class ApprovalRule:
    """``require_approval(...)``: a write matching it waits for ``approvers`` distinct humans.

    ``tool`` None matches every write tool; ``model`` None every model. ``id`` is the rule's
    stable name (given with ``id=``, else derived from its definition): a held call's
    ``why_held`` and ``rule_ids`` say which rules held it. A rule written for several tools
    becomes one ``ApprovalRule`` per tool, all with the same ``id``."""

    tool: str | None
    model: type[models.Model] | None
    approvers: int = 1
    when: Callable[[Any], bool] | None = dc_field(default=None, compare=False)
    expires_in: timedelta | None = None
    id: str = ""
    remind_after: timedelta | None = None
    escalate_after: timedelta | None = None
    escalate_to: tuple[str, ...] = ()


def model_indexes(
    model_policies: Iterable[ModelPolicy],
) -> tuple[Mapping[str, ModelPolicy | None], Mapping[type, ModelPolicy]]:
    """Models by lower-case label and class name (a class name two models share maps to
    None: ambiguous, the label must be used), and by class."""
    by_name: dict[str, ModelPolicy | None] = {}
    by_model: dict[type, ModelPolicy] = {}
    for mp in model_policies:
        by_name[mp.label.lower()] = mp
        key = mp.name.lower()
        by_name[key] = None if key in by_name else mp
        by_model[mp.model] = mp
    return MappingProxyType(by_name), MappingProxyType(by_model)


@dataclass(frozen=True)
class Policy:
    """An immutable policy. Build one with ``PolicyBuilder(...).build()``."""

    profile: Profile
    models: tuple[ModelPolicy, ...]
    default_limit: int
    max_limit: int
    approval_rules: tuple[ApprovalRule, ...] = ()
    # Every write budget: write_budget, max_writes_per_minute, bounded_burst.
    budgets: tuple[Budget, ...] = ()
    # propose_writes(): every write is held for a human.
    propose_writes: bool = False
    # expose_dry_run_tools(): db.update_dry_run and its siblings are offered.
    dry_run_tools: bool = False
    # mark_untrusted_strings(): every string a read returns is wrapped as untrusted data.
    mark_untrusted_strings: bool = False
    # require_preview(over_rows=N, within=...): the smallest N given, and its window.
    preview_over_rows: int | None = None
    preview_within: timedelta = timedelta(minutes=15)
    # The tools this policy offers (None: every tool); ``narrowed(tools=...)`` sets it.
    tools: frozenset[str] | None = None
    # The domain tools it offers (allow_tools), by name.
    domain_tools: Mapping[str, ToolRules] = dc_field(default_factory=dict, hash=False)
    # Indexes of ``models``, built by the policy itself.
    _by_name: Mapping[str, ModelPolicy | None] = dc_field(init=False, repr=False, compare=False)
    _by_model: Mapping[type, ModelPolicy] = dc_field(init=False, repr=False, compare=False)
    # Whether some write or domain tool is soft-launched (asked on every call).
    _launched: bool = dc_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name, by_model = model_indexes(self.models)
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(self, "_by_model", by_model)
        launched = any(mp.writes.launch is not None for mp in self.models) or any(
            rules.launch is not None for rules in self.domain_tools.values()
        )
        object.__setattr__(self, "_launched", launched)

    def for_model(self, model: type[models.Model]) -> ModelPolicy | None:
        """The rules of a model class, or ``None`` when the model isn't registered."""
        return self._by_model.get(model)

    def find_model(self, name: str) -> ModelPolicy | None:
        """The registered model called ``name`` (class name or label, any case); ``None``
        when it is unknown or ambiguous."""
        return self._by_name.get(name.strip().lower())

    def resolve(self, name: Any) -> ModelPolicy:
        """The registered model an agent named, or a ``ToolError`` it can act on."""
        if not isinstance(name, str) or not name.strip():
            raise ToolError(
                codes.INVALID_ARGUMENTS,
                "'model' must be a model name string; "
                f"registered models: {', '.join(self.model_names)}.",
            )
        key = name.strip().lower()
        if key not in self._by_name:
            raise ToolError(
                codes.UNKNOWN_MODEL,
                f"Unknown model {name!r}. Registered models: {', '.join(self.model_names)}. "
                "Call db.describe to see their fields.",
            )
        found = self._by_name[key]
        if found is None:
            labels = sorted(m.label for m in self.models if m.name.lower() == key)
            raise ToolError(
                codes.UNKNOWN_MODEL,
                f"Model name {name!r} is ambiguous; use one of {', '.join(labels)}.",
            )
        return found

    @property
    def max_writes_per_minute(self) -> int | None:
        """The rate limit (``max_writes_per_minute(n)``), or None."""
        limits = [b.max_calls for b in self.budgets if b.kind == "rate_limit"]
        return min(limits, default=None)

    def budgets_for(self, tool: str, model: type[models.Model] | None) -> tuple[Budget, ...]:
        """The budgets a call of ``tool`` writing ``model`` counts against."""
        return tuple(b for b in self.budgets if b.applies(tool, model))

    def proposes(self, model_policy: ModelPolicy | None, tool: str = "") -> bool:
        """Whether writes to this model (or calls of this domain tool, for ``None``) are only
        proposed: held for a human, always."""
        if self.propose_writes:
            return True
        if model_policy is None:
            rules = self.domain_tools.get(tool)
            return rules is not None and rules.mode == "propose"
        return model_policy.writes.mode == "propose"

    @property
    def model_names(self) -> tuple[str, ...]:
        names_ = [m.name for m in self.models]
        return tuple(m.label if names_.count(m.name) > 1 else m.name for m in self.models)

    @property
    def writes_enabled(self) -> bool:
        return any(m.writes.enabled for m in self.models)

    def allows_tool(self, name: str) -> bool:
        """Whether this policy offers the tool ``name`` (canonical: ``db.query``).

        ``approval.status`` comes with the write tools: it is offered where a write can be
        held, so wherever a write tool is offered and some model accepts writes, or a domain
        tool is. A domain tool is offered once ``allow_tools`` names it. The preview tools
        (``db.update_dry_run``...) are offered with ``expose_dry_run_tools()`` where some
        model accepts writes.
        """
        if name == names.APPROVAL_STATUS:
            # Offered wherever something can be held: a write tool or a domain tool.
            db_writes = self.writes_enabled and any(
                self.tools is None or tool in self.tools for tool in names.WRITE_TOOLS
            )
            return db_writes or any(self.allows_tool(tool) for tool in self.domain_tools)
        if name in names.DRY_RUN_TOOLS:
            # A preview tool comes with expose_dry_run_tools(), where its write tool could run.
            return (
                self.dry_run_tools
                and self.writes_enabled
                and (self.tools is None or name in self.tools)
            )
        if name not in names.BUILTIN_TOOLS and name not in self.domain_tools:
            return False
        return self.tools is None or name in self.tools

    def offered_tools(self) -> frozenset[str]:
        """Every tool this policy offers, by canonical name."""
        every = (*names.BUILTIN_TOOLS, *self.domain_tools)
        return frozenset(name for name in every if self.allows_tool(name))

    @property
    def soft_launched(self) -> bool:
        """Whether some write or domain tool is open to a launch group only."""
        return self._launched

    def for_context(self, context: Any) -> Policy:
        """This policy as ``context`` sees it: the writes and domain tools of a soft launch
        it is not in are taken away (the models stay, read-only). Itself when nothing is
        soft-launched or the context is in every group.

            tool_definitions(policy.for_context(ctx))   # what this caller is offered
        """
        if not self.soft_launched:
            return self
        shut = {
            mp.model
            for mp in self.models
            if mp.writes.launch is not None and not mp.writes.launch.admits(context)
        }
        tools = {
            name: rules
            for name, rules in self.domain_tools.items()
            if rules.launch is None or rules.launch.admits(context)
        }
        if not shut and len(tools) == len(self.domain_tools):
            return self
        kept = tuple(narrowing.without_writes(mp) if mp.model in shut else mp for mp in self.models)
        return replace(self, models=kept, domain_tools=MappingProxyType(tools))

    def narrowed(
        self,
        *,
        models: Iterable[str | type] | None = None,
        tools: Iterable[str] | None = None,
        read_only: bool = False,
    ) -> Policy:
        """A new policy that grants a subset of this one (a capability token's).

        ``models``: the only models registered (None: all of them); ``tools``: the only
        tools offered (None: all); ``read_only``: no model accepts writes. It never widens:
        naming a model or tool this policy doesn't grant, or asking for write tools where
        no model accepts writes, raises ``PolicyWideningError``.

            support = policy.narrowed(models=["Order"], tools=["db.query", "db.get"])
        """
        if not isinstance(read_only, bool):
            raise PolicyWideningError(f"read_only must be true or false, not {read_only!r}")
        kept = self.models if models is None else narrowing.chosen_models(self, models)
        if not kept:
            raise PolicyWideningError("a narrowed policy needs at least one model")
        offered = self.offered_tools()
        allowed = offered if tools is None else narrowing.chosen_tools(offered, tools)
        writes_named = tools is not None and bool(allowed & set(names.WRITE_TOOLS))
        if read_only:
            # Nothing that writes: no write tool, no domain tool (an action), no writable model.
            kept = tuple(narrowing.without_writes(mp) for mp in kept)
            allowed = allowed - {
                *names.WRITE_TOOLS,
                *names.DRY_RUN_TOOLS,
                names.APPROVAL_STATUS,
                *self.domain_tools,
            }
        elif tools is not None and not writes_named:
            # No db.* write tool named: no writable model (the domain tools named stay).
            kept = tuple(narrowing.without_writes(mp) for mp in kept)
            allowed = allowed - {*names.WRITE_TOOLS, *names.DRY_RUN_TOOLS}
            if not allowed & set(self.domain_tools):
                allowed = allowed - {names.APPROVAL_STATUS}
        else:
            kept_models = {mp.model for mp in kept}
            dropped_any = len(kept) < len(self.models)
            kept = tuple(narrowing.within(mp, kept_models, dropped_any) for mp in kept)
            if writes_named and not any(mp.writes.enabled for mp in kept):
                raise PolicyWideningError(
                    "write tools were asked for, but none of the models accepts writes under "
                    "the policy"
                )
        kept_models = {mp.model for mp in kept}
        # Budgets are all kept, on every model: a run stopped by a budget on a model this
        # narrowing drops stays stopped for it too.
        return replace(
            self,
            models=kept,
            approval_rules=tuple(
                rule
                for rule in self.approval_rules
                if rule.model is None or rule.model in kept_models
            ),
            # None only where this policy itself offers every tool and none was taken away.
            tools=None if self.tools is None and allowed == offered else allowed,
        )
