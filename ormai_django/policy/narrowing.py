"""Narrowing a policy: the subset of it a capability token grants (``Policy.narrowed``).

    narrowed = policy.narrowed(models=["Order", "Customer"], tools=["db.query", "db.update"])

The narrowed policy is an ordinary ``Policy``: a model left out is not registered at all
(``db.describe`` doesn't show it, a call naming it is ``UNKNOWN_MODEL``, a filter through a
relation to it is ``RELATION_DENIED``), a tool left out is denied (``TOOL_NOT_ALLOWED``),
and ``read_only`` takes write permission away from every model. Nothing here can widen:
whatever the narrowing names must already be granted. These are the steps; ``Policy``
puts them together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from types import MappingProxyType
from typing import Any, Protocol

from django.db import models as db_models

from ormai_django.errors import PolicyWideningError
from ormai_django.policy.model_policy import ModelPolicy


class Grants(Protocol):
    """What narrowing reads of the policy it narrows."""

    models: tuple[ModelPolicy, ...]

    def for_model(self, model: type[db_models.Model]) -> ModelPolicy | None: ...

    def find_model(self, name: str) -> ModelPolicy | None: ...

    @property
    def model_names(self) -> tuple[str, ...]: ...


def chosen_models(policy: Grants, names: Iterable[Any]) -> tuple[ModelPolicy, ...]:
    """The policy's models that ``names`` names, in the policy's own order."""
    if isinstance(names, str | bytes):
        raise PolicyWideningError("models must be a list of model names, not one string")
    chosen: list[ModelPolicy] = []
    for name in names:
        if isinstance(name, type) and issubclass(name, db_models.Model):
            found = policy.for_model(name)
        elif isinstance(name, str) and name.strip():
            found = policy.find_model(name)
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


def chosen_tools(offered: frozenset[str], names: Iterable[Any]) -> frozenset[str]:
    """The tools of ``offered`` that ``names`` names (either spelling)."""
    if isinstance(names, str | bytes):
        raise PolicyWideningError("tools must be a list of tool names, not one string")
    by_provider_name = {name.replace(".", "_"): name for name in offered}
    chosen = set()
    for name in names:
        tool = by_provider_name.get(name, name) if isinstance(name, str) else name
        if tool not in offered:
            raise PolicyWideningError(
                f"the policy doesn't offer a tool {name!r}; it offers {', '.join(sorted(offered))}"
            )
        chosen.add(tool)
    return frozenset(chosen)


def without_writes(mp: ModelPolicy) -> ModelPolicy:
    """``mp`` read-only."""
    fields = {
        name: replace(info, writable=False) if info.writable else info
        for name, info in mp.fields.items()
    }
    return replace(
        mp,
        fields=MappingProxyType(fields),
        writes=replace(mp.writes, write_class="none", writable_fields=frozenset()),
    )


def within(mp: ModelPolicy, kept: set[type[db_models.Model]], dropped_any: bool) -> ModelPolicy:
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
