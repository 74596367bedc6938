"""Soft launch: writes (or domain tools) open to a launch group only.

    .enable_writes(writable_fields={"Customer": ["preferred_name"]}, tenants=[7])
    .allow_tools(["billing.refund_invoice"], principals=["agent:ops-bot"])
    .enable_writes(models=["Note"], open_to=lambda ctx: ctx.principal.startswith("agent:int-"))

A context is in the group when its tenant is one of ``tenants``, its principal one of
``principals``, or ``open_to(context)`` is true (any one of them). Outside it the model is
read-only for that context (``db.describe``, ``tool_definitions(..., context=ctx)``) and a
write is ``denied`` / ``NOT_LAUNCHED``. No group given: open to everyone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ormai_django import codes
from ormai_django.errors import ToolDenied
from ormai_django.names import DRY_RUN_TOOLS, WRITE_TOOLS

logger = logging.getLogger("ormai_django")


@dataclass(frozen=True)
class Launch:
    """A launch group: tenant ids (compared as text), principals, and a callable over the
    ``ToolContext``."""

    tenants: frozenset[str] = frozenset()
    principals: frozenset[str] = frozenset()
    open_to: Callable[[Any], bool] | None = None

    def admits(self, context: Any) -> bool:
        """Whether ``context`` is in the group; an ``open_to`` that raises says no."""
        tenant = getattr(context, "tenant_id", None)
        if tenant is not None and str(tenant) in self.tenants:
            return True
        if getattr(context, "principal", None) in self.principals:
            return True
        if self.open_to is None:
            return False
        try:
            return bool(self.open_to(context))
        except Exception:
            logger.exception("ormai_django: a launch group's open_to() raised; not admitted")
            return False

    def describe(self) -> str:
        """The group in words, for refusals and inventories."""
        parts = []
        if self.tenants:
            parts.append("tenants " + ", ".join(sorted(self.tenants)))
        if self.principals:
            parts.append("principals " + ", ".join(sorted(self.principals)))
        if self.open_to is not None:
            named = getattr(self.open_to, "__qualname__", type(self.open_to).__qualname__)
            parts.append(f"contexts {named}() admits")
        return "; ".join(parts)


def launch_of(
    tenants: Iterable[Any] | None, principals: Iterable[str] | None, open_to: Any
) -> Launch | None:
    """A checked launch group from the builder's keywords; None when none is given."""
    if tenants is None and principals is None and open_to is None:
        return None
    if isinstance(tenants, str | bytes | int):
        raise ValueError("tenants must be a list of tenant ids, e.g. tenants=[7]")
    if isinstance(principals, str | bytes):
        raise ValueError('principals must be a list, e.g. principals=["agent:ops-bot"]')
    if open_to is not None and not callable(open_to):
        raise ValueError(f"open_to must be a callable over the ToolContext, not {open_to!r}")
    tenant_ids = [] if tenants is None else list(tenants)
    if any(isinstance(t, bool) or not isinstance(t, int | str) for t in tenant_ids):
        raise ValueError(f"tenants must be tenant ids (ints or strings), not {tenants!r}")
    names = [] if principals is None else list(principals)
    if not all(isinstance(p, str) and p for p in names):
        raise ValueError(f"principals must be non-empty strings, not {principals!r}")
    launch = Launch(frozenset(str(t) for t in tenant_ids), frozenset(names), open_to)
    if not launch.tenants and not launch.principals and open_to is None:
        raise ValueError("a launch group needs a tenant, a principal or open_to")
    return launch


def check_launched(policy: Any, launched: Any, tool: str, arguments: dict[str, Any]) -> None:
    """Refuse, with ``NOT_LAUNCHED``, a write or domain tool ``policy`` opens to a launch
    group (soft launch) that this caller isn't in; ``launched`` is the policy as the caller
    sees it (``policy.for_context(context)``). Both are ``Policy`` objects (not imported
    here: the policy imports this module)."""
    if tool in policy.domain_tools and tool not in launched.domain_tools:
        group = policy.domain_tools[tool].launch
        subject, rule = f"{tool} is", f"launch:{tool}"
    elif tool in WRITE_TOOLS or tool in DRY_RUN_TOOLS:
        name = arguments.get("model")
        mp = policy.find_model(name) if isinstance(name, str) else None
        seen = launched.for_model(mp.model) if mp is not None else None
        if mp is None or seen is None or not mp.writes.enabled or seen.writes.enabled:
            return
        group = mp.writes.launch
        subject, rule = f"writes to {mp.name} are", f"launch:{mp.label}"
    else:
        return
    raise ToolDenied(
        codes.NOT_LAUNCHED,
        f"Soft launch: {subject} open only to a launch group that doesn't include this "
        "caller yet; nothing was changed. Don't retry; tell the user this can't be done "
        "through the agent for them yet.",
        rule=rule,
        launch_group=group.describe() if group is not None else "",
    )
