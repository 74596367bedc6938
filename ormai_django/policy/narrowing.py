"""Narrowing a policy: the subset of it a capability token grants.

    narrowed = policy.narrowed(models=["Order", "Customer"], tools=["db.query", "db.update"])

The narrowed policy is an ordinary ``Policy``: a model left out is not registered at all
(``db.describe`` doesn't show it, a call naming it is ``UNKNOWN_MODEL``, a filter through a
relation to it is ``RELATION_DENIED``), a tool left out is denied (``TOOL_NOT_ALLOWED``),
and ``read_only`` takes write permission away from every model. Nothing here can widen:
whatever the narrowing names must already be granted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from django.db import models as db_models

from ormai_django.policy.policy import WRITE_TOOLS, ModelPolicy

if TYPE_CHECKING:
    from ormai_django.policy.policy import Policy


class PolicyWideningError(ValueError):
    """A narrowing that would grant more than the policy does: a model or tool the policy
    doesn't grant, or write tools where no model accepts writes."""


def _chosen_models(policy: Policy, names: Iterable[Any]) -> tuple[ModelPolicy, ...]:
    if isinstance(names, str | bytes):
        raise PolicyWideningError("models must be a list of model names, not one string")
    chosen: list[ModelPolicy] = []
    for name in names:
        if isinstance(name, type) and issubclass(name, db_models.Model):
            found = policy.for_model(name)
        elif isinstance(name, str) and name.strip():
            found = policy._by_name.get(name.strip().lower())
        else:
            raise PolicyWideningError(f"a model name must be a non-empty string, not {name!r}")
        if found is None:
            raise PolicyWideningError(
                f"the policy doesn't register a model {name!r} (or the name is ambiguous); "
                f"it registers {', '.join(policy.model_names)}"
            )
        if found not in chosen:
            chosen.append(found)
    # The policy's own order, so describe and the tool schemas read the same as before.
    return tuple(mp for mp in policy.models if mp in chosen)


def _chosen_tools(policy: Policy, names: Iterable[Any] | None) -> frozenset[str]:
    from ormai_django.tools.registry import TOOLS

    offered = frozenset(name for name in TOOLS if policy.allows_tool(name))
    if names is None:
        return offered
    if isinstance(names, str | bytes):
        raise PolicyWideningError("tools must be a list of tool names, not one string")
    chosen = set()
    for name in names:
        tool = name.replace("_", ".", 1) if isinstance(name, str) else name
        if tool not in offered:
            raise PolicyWideningError(
                f"the policy doesn't offer a tool {name!r}; it offers {', '.join(sorted(offered))}"
            )
        chosen.add(tool)
    return frozenset(chosen)


def _without_writes(mp: ModelPolicy) -> ModelPolicy:
    fields = {
        name: replace(info, writable=False) if info.writable else info
        for name, info in mp.fields.items()
    }
    return replace(
        mp,
        fields=MappingProxyType(fields),
        writes=replace(mp.writes, write_class="none", writable_fields=frozenset()),
        burst=None,
    )


def _within(mp: ModelPolicy, kept: set[type[db_models.Model]], dropped_any: bool) -> ModelPolicy:
    """``mp`` with no writable relation into a dropped model (its value could not be checked
    against the tenant) and, when models were dropped, no cascading delete (a cascade could
    reach them)."""
    if not dropped_any or not mp.writes.enabled:
        return mp
    unreachable = {
        name
        for name, info in mp.fields.items()
        if info.writable and info.related_model is not None and info.related_model not in kept
    }
    fields = {
        name: replace(info, writable=False) if name in unreachable else info
        for name, info in mp.fields.items()
    }
    return replace(
        mp,
        fields=MappingProxyType(fields),
        writes=replace(
            mp.writes,
            writable_fields=mp.writes.writable_fields - unreachable,
            allow_cascade_delete=False,
        ),
    )


def model_indexes(
    model_policies: Iterable[ModelPolicy],
) -> tuple[MappingProxyType, MappingProxyType]:
    """``Policy._by_name`` and ``Policy._by_model`` for ``model_policies`` (a name that two
    models share maps to None: ambiguous, the label must be used)."""
    by_name: dict[str, ModelPolicy | None] = {}
    by_model: dict[type, ModelPolicy] = {}
    for mp in model_policies:
        by_name[mp.label.lower()] = mp
        key = mp.name.lower()
        by_name[key] = None if key in by_name else mp
        by_model[mp.model] = mp
    return MappingProxyType(by_name), MappingProxyType(by_model)


def narrow(
    policy: Policy,
    *,
    models: Iterable[Any] | None = None,
    tools: Iterable[Any] | None = None,
    read_only: bool = False,
) -> Policy:
    """The subset of ``policy`` named; see ``Policy.narrowed``."""
    if not isinstance(read_only, bool):
        raise PolicyWideningError(f"read_only must be true or false, not {read_only!r}")
    kept = policy.models if models is None else _chosen_models(policy, models)
    if not kept:
        raise PolicyWideningError("a narrowed policy needs at least one model")
    offered = _chosen_tools(policy, None)
    allowed = _chosen_tools(policy, tools)
    writes_named = tools is not None and bool(allowed & set(WRITE_TOOLS))
    if read_only or (tools is not None and not writes_named):
        # No write tool, no writable model: describe says exactly what the caller can do.
        kept = tuple(_without_writes(mp) for mp in kept)
        allowed = allowed - set(WRITE_TOOLS)
    else:
        kept_models = {mp.model for mp in kept}
        dropped_any = len(kept) < len(policy.models)
        kept = tuple(_within(mp, kept_models, dropped_any) for mp in kept)
        if writes_named and not any(mp.writes.enabled for mp in kept):
            raise PolicyWideningError(
                "write tools were asked for, but none of the models accepts writes under the policy"
            )
    kept_models = {mp.model for mp in kept}
    by_name, by_model = model_indexes(kept)
    return replace(
        policy,
        models=kept,
        approval_rules=tuple(
            rule
            for rule in policy.approval_rules
            if rule.model is None or rule.model in kept_models
        ),
        # None only where this policy itself offers every tool and none was taken away.
        tools=None if policy.tools is None and allowed == offered else allowed,
        _by_name=by_name,
        _by_model=by_model,
    )
