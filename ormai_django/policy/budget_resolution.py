"""Resolving budgets while a policy is assembled: the rate limit, the bursts and the write
budgets of a ``PolicySpec`` as ``Budget`` rules, with their models and tools resolved and
their ids derived.

Used by ``assembly.assemble``; every problem is appended to the assembly's list, never
raised one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from ormai_django import names
from ormai_django.policy.budgets import Budget, derived_id
from ormai_django.policy.spec import BudgetSpec, BurstSpec, ModelRef, PolicySpec

RATE_LIMIT_WINDOW = timedelta(minutes=1)
# Resolves a model reference, or records the problem and returns None.
ModelResolver = Callable[[ModelRef, str], Any]


class BudgetResolution:
    """The budgets of one assembly; ``bursty`` collects the models a burst bounds."""

    def __init__(
        self, resolve_model: ModelResolver, problems: list[str], domain_tools: tuple[str, ...] = ()
    ) -> None:
        self.resolve_model = resolve_model
        self.problems = problems
        # The domain tools the policy allows: a budget may name them too.
        self.domain_tools = domain_tools
        self.bursty: set[Any] = set()

    def run(self, spec: PolicySpec, bursts: Iterable[BurstSpec]) -> tuple[Budget, ...]:
        """Every budget, resolved: the rate limit, the bursts, the write budgets, in that
        order. Two budgets with one id must be one budget (the same definition, counted
        once); otherwise it is a problem."""
        budgets: list[Budget | None] = []
        if spec.max_writes_per_minute:
            rate = BudgetSpec(
                scope="principal", max_calls=min(spec.max_writes_per_minute), per=RATE_LIMIT_WINDOW
            )
            budgets.append(self.budget(rate, "rate_limit", "max_writes_per_minute"))
        for burst in bursts:
            as_budget = BudgetSpec(
                scope="principal",
                max_calls=burst.max_calls,
                max_rows=burst.max_rows,
                per=burst.per,
                on_exceed="approve",
                model=burst.model,
            )
            budgets.append(self.budget(as_budget, "burst", "bounded_burst"))
        budgets += [self.budget(budget, "budget", "write_budget") for budget in spec.budgets]
        by_id: dict[str, Budget] = {}
        for budget in budgets:
            if budget is None:
                continue
            if by_id.setdefault(budget.id, budget) != budget:
                self.problems.append(
                    f"write_budget: two different budgets have the id {budget.id!r}; "
                    "give each its own id=..."
                )
        return tuple(by_id.values())

    def budget(self, spec: BudgetSpec, kind: str, where: str) -> Budget | None:
        model = None
        if spec.model is not None:
            model = self.resolve_model(spec.model, where)
            if model is None:
                return None
            if kind == "burst":
                self.bursty.add(model)
        tools = None
        if spec.tools is not None:
            known = (*names.WRITE_TOOLS, *self.domain_tools)
            by_provider_name = {names.provider_name(name): name for name in known}
            tools = frozenset(by_provider_name.get(tool, tool) for tool in spec.tools)
            unknown = sorted(tools - set(known))
            if unknown:
                self.problems += [
                    f"{where}: tool {tool!r} is not one of {names.WRITE_TOOLS} nor a domain "
                    "tool allow_tools names"
                    for tool in unknown
                ]
                return None
        label = model._meta.label if model is not None else None
        return Budget(
            id=spec.id
            or derived_id(
                kind=kind,
                scope=spec.scope,
                model_label=label,
                tools=tools,
                max_calls=spec.max_calls,
                max_rows=spec.max_rows,
                per=spec.per,
                on_exceed=spec.on_exceed,
            ),
            scope=spec.scope,
            max_calls=spec.max_calls,
            max_rows=spec.max_rows,
            per=spec.per,
            on_exceed=spec.on_exceed,
            model=model,
            model_label=label,
            tools=tools,
            kind=kind,
        )
