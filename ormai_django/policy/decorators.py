"""``@agent_model``: policy rules that live on the model, next to its fields.

This module imports no models and no app registry, so a project's ``models.py``
can use the decorator. ``PolicyBuilder.register_models`` picks the rules up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ormai_django.policy.rules import (
    APPROVAL_KEYS,
    WRITE_CLASSES,
    approval_spec,
    burst_spec,
)
from ormai_django.policy.spec import ApprovalSpec, BurstSpec

ModelT = TypeVar("ModelT")


@dataclass(frozen=True)
class AgentModelRules:
    """What ``@agent_model`` recorded on a model class (as ``_ormai_rules``)."""

    writes: str = "none"
    writable_fields: tuple[str, ...] = ()
    mask_fields: tuple[str, ...] = ()
    deny_fields: tuple[str, ...] = ()
    approval: tuple[ApprovalSpec, ...] = ()
    burst: BurstSpec | None = None
    soft_delete_field: str | None = None
    validators: tuple[Callable[[Any], None], ...] = ()


def agent_model(
    *,
    writes: str = "none",
    writable_fields: Iterable[str] = (),
    mask_fields: Iterable[str] = (),
    deny_fields: Iterable[str] = (),
    approval: Iterable[Mapping[str, Any]] = (),
    burst: Mapping[str, Any] | None = None,
    soft_delete_field: str | None = None,
    validators: Iterable[Callable[[Any], None]] = (),
):
    """Declare a model's agent rules on the class.

    ``writes`` is the write class: ``"none"`` (default), ``"reason"``,
    ``"approval"`` (every write waits for a human) or ``"burst"`` (free up to
    ``burst={"max_calls": 20, "max_rows": 100, "per": timedelta(minutes=1)}``,
    then escalates to approval; either bound alone is fine). ``approval`` holds
    ``require_approval`` keyword dicts, e.g. ``[{"tool": "db.delete", "approvers": 2}]``.
    Fields are named as on the model (any case).

        @agent_model(writes="reason", writable_fields=["status"], soft_delete_field="deleted_at")
        class Order(models.Model): ...
    """
    if writes not in WRITE_CLASSES:
        raise ValueError(f"writes must be one of {WRITE_CLASSES}, not {writes!r}")
    if writes == "burst" and not burst:
        raise ValueError(
            'writes="burst" needs burst={"max_calls": ..., "per": ...} (or "max_rows")'
        )
    writable_fields = tuple(writable_fields)
    if writable_fields and writes == "none":
        raise ValueError('writable_fields needs a write class: writes="reason", say')
    # The rule's model is the decorated class itself.
    rule_keys = tuple(key for key in APPROVAL_KEYS if key != "model")
    validators = tuple(validators)
    if not all(callable(v) for v in validators):
        raise ValueError("validators must be callables")
    rules = AgentModelRules(
        writes=writes,
        writable_fields=writable_fields,
        mask_fields=tuple(mask_fields),
        deny_fields=tuple(deny_fields),
        approval=tuple(approval_spec(rule, allowed=rule_keys) for rule in approval),
        burst=burst_spec(burst) if burst else None,
        soft_delete_field=soft_delete_field,
        validators=validators,
    )

    def decorate(model: ModelT) -> ModelT:
        model._ormai_rules = rules  # type: ignore[attr-defined]
        return model

    return decorate


def rules_of(model: type) -> AgentModelRules | None:
    # Read from the class's own __dict__: a subclass doesn't inherit its parent's rules silently.
    return model.__dict__.get("_ormai_rules")
