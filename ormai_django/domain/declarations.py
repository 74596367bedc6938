"""``@agent_tool``: declaring a function of the project as a tool an agent can call.

This module imports no models, no serializer library and no part of the pipeline, so a
project's ``agent_tools.py`` (autodiscovered like ``admin.py``) or ``models.py`` can use it.
Declaring a tool registers it; a policy offers it only once ``allow_tools([...])`` names it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ormai_django import names

F = TypeVar("F", bound=Callable[..., Any])

# The arguments every domain tool takes besides its input, as the write tools do.
RESERVED_ARGUMENTS = ("reason", "idempotency_key", "dry_run")
# Namespaces of the built-in tools: a domain tool can't take their names.
RESERVED_NAMESPACES = ("db", "approval")


@dataclass(frozen=True)
class DomainTool:
    """One declared domain tool."""

    name: str
    function: Callable[..., Any] = field(compare=False)
    input: Any = field(compare=False)  # a rest_framework Serializer class
    description: str
    writes: tuple[Any, ...] = ()  # models as declared: "app_label.Model" or classes
    compensate: Callable[..., Any] | None = field(default=None, compare=False)
    irreversible: bool = False

    @property
    def provider_name(self) -> str:
        return names.provider_name(self.name)

    def models(self) -> list[Any]:
        """The model classes of ``writes`` (the app registry must be ready)."""
        from django.apps import apps  # the registry only: importing this module loads no model

        return [ref if isinstance(ref, type) else apps.get_model(ref) for ref in self.writes]

    @property
    def changes_things(self) -> bool:
        """Whether a call changes anything (rows, or the world outside): such a call needs
        a reason, and goes through the write pipeline's budgets and approvals."""
        return bool(self.writes) or self.irreversible


# name -> the tool; a second declaration of a name is kept in CLASHES for the system check.
REGISTRY: dict[str, DomainTool] = {}
CLASHES: list[tuple[DomainTool, DomainTool]] = []


def agent_tool(
    *,
    name: str,
    input: Any,
    description: str,
    writes: Iterable[Any] = (),
    compensate: Callable[..., Any] | None = None,
    irreversible: bool = False,
) -> Callable[[F], F]:
    """Declare the decorated function as the domain tool ``name``.

    ``input`` is a DRF ``Serializer`` class: the tool's arguments, its fields' validators and
    ``validate()`` are the domain rules checked before the function runs. ``writes`` names
    every model the function may create, change or delete (``"app_label.Model"`` or
    classes); a change to any other model rolls the call back (``UNDECLARED_WRITE``).
    ``compensate(call, original)`` is the project's own inverse, run by
    ``rollback_audit_id`` instead of restoring the captured rows; ``irreversible=True``
    makes the call impossible to roll back (``NOT_REVERSIBLE``) and holds it for one
    approver unless an approval rule of the policy names the tool.

        @agent_tool(name="billing.refund_invoice", input=RefundInput,
                    description="Refund part of an invoice to the customer.",
                    writes=["acme.Invoice", "acme.LedgerEntry"])
        def refund_invoice(call):
            ...
            return {"refunded_cents": call.data["amount_cents"]}
    """
    if not isinstance(name, str) or not names.TOOL_NAME.match(name):
        raise ValueError(
            f"an agent tool's name is dotted lower-case words, like 'billing.refund_invoice', "
            f"not {name!r}"
        )
    if name.split(".", 1)[0] in RESERVED_NAMESPACES:
        raise ValueError(
            f"{name!r}: the namespaces {', '.join(RESERVED_NAMESPACES)} belong to the "
            "built-in tools; put the tool in a namespace of its own"
        )
    if not names.PROVIDER_SAFE_NAME.match(names.provider_name(name)):
        raise ValueError(f"{name!r} is too long for providers (at most 64 characters)")
    if not isinstance(input, type) or not hasattr(input, "is_valid"):
        raise ValueError(f"{name}: input must be a rest_framework Serializer class")
    if not isinstance(description, str) or not description.strip():
        raise ValueError(f"{name}: a description is required (the model reads it)")
    if isinstance(writes, str):
        writes = (writes,)
    writes = tuple(writes)
    if compensate is not None and not callable(compensate):
        raise ValueError(f"{name}: compensate must be a callable (call, original)")
    if compensate is not None and irreversible:
        raise ValueError(f"{name}: a tool with a compensation is not irreversible")
    if not isinstance(irreversible, bool):
        raise ValueError(f"{name}: irreversible must be True or False")

    def register(function: F) -> F:
        if not callable(function):
            raise ValueError(f"{name}: @agent_tool decorates a function")
        tool = DomainTool(
            name=name,
            function=function,
            input=input,
            description=description.strip(),
            writes=writes,
            compensate=compensate,
            irreversible=irreversible,
        )
        earlier = REGISTRY.get(name)
        if earlier is not None and earlier.function is not function:
            same_place = (
                earlier.function.__module__ == function.__module__
                and earlier.function.__qualname__ == function.__qualname__
            )
            if not same_place:  # a module imported twice re-declares the same tool
                CLASHES.append((earlier, tool))
                return function
        REGISTRY[name] = tool
        return function

    return register


def declared(name: str) -> DomainTool | None:
    """The tool declared as ``name`` (canonical, dotted), if any."""
    return REGISTRY.get(name)
