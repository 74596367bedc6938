"""Assembling the approval rules: tools and models resolved, each rule given its id.

A rule's id is given with ``require_approval(..., id=...)`` or derived from its definition
(``rules.derived_rule_id``); two different rules can't share one. A reminder or an
escalation that would come after the request expires is refused: it would never happen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import models

from ormai_django import names
from ormai_django.policy.policy import ApprovalRule
from ormai_django.policy.profiles import Profile
from ormai_django.policy.rules import derived_rule_id
from ormai_django.policy.spec import ApprovalSpec, ModelRef


def approval_rules(
    approvals: list[tuple[ApprovalSpec, ModelRef]],
    resolve: Callable[[ModelRef, str], type[models.Model] | None],
    profile: Profile,
    problems: list[str],
    domain_tools: tuple[str, ...] = (),
) -> tuple[ApprovalRule, ...]:
    """The frozen rules of ``approvals`` (each spec with the model it is about); problems
    are appended to ``problems``, as the rest of the assembly does. ``domain_tools`` are the
    domain tools the policy allows: a rule may name them too."""
    rules: list[ApprovalRule] = []
    named: dict[str, tuple[Any, ...]] = {}
    for spec, model_ref in approvals:
        tools = _tools(spec, problems, domain_tools)
        if any(tool in domain_tools for tool in tools) and model_ref is not None:
            problems.append(
                "require_approval: a rule on a domain tool takes no model (the tool says what "
                "it writes); narrow it with when=..."
            )
            continue
        model = None
        if model_ref is not None:
            model = resolve(model_ref, "require_approval")
            if model is None:
                continue
        _check_delays(spec, profile, problems)
        rule_id = spec.id or derived_rule_id(
            spec, tools, None if model is None else model._meta.label
        )
        # The same rule written twice is one rule; two different ones need two ids.
        definition = (spec, model, spec.when)
        earlier = named.setdefault(rule_id, definition)
        if earlier[:2] != definition[:2] or earlier[2] is not definition[2]:
            problems.append(
                f"require_approval: two different rules have the id {rule_id!r}; give each "
                "its own id=... (a derived id names a when= by its module and qualified name)"
            )
        # Numbers and callables were checked where the rule was written (rules.py).
        rules += [
            ApprovalRule(
                tool=tool,
                model=model,
                approvers=spec.approvers,
                when=spec.when,
                expires_in=spec.expires_in,
                id=rule_id,
                remind_after=spec.remind_after,
                escalate_after=spec.escalate_after,
                escalate_to=spec.escalate_to,
            )
            for tool in tools
        ]
    return tuple(rules)


def _tools(
    spec: ApprovalSpec, problems: list[str], domain_tools: tuple[str, ...]
) -> list[str | None]:
    known = (*names.WRITE_TOOLS, *domain_tools)
    by_provider_name = {names.provider_name(name): name for name in known}
    tools: list[str | None] = []
    for tool in spec.tools or (None,):
        canonical = None if tool is None else by_provider_name.get(tool, tool)
        if canonical is not None and canonical not in known:
            problems.append(
                f"require_approval: tool {tool!r} is not one of {names.WRITE_TOOLS} nor a "
                "domain tool allow_tools names"
            )
            continue
        tools.append(canonical)
    return tools


def _check_delays(spec: ApprovalSpec, profile: Profile, problems: list[str]) -> None:
    expires_in = spec.expires_in or profile.approval_expiry
    for what, delay in (
        ("remind_after", spec.remind_after),
        ("escalate_after", spec.escalate_after),
    ):
        if delay is not None and delay >= expires_in:
            problems.append(
                f"require_approval: {what} ({delay}) is not shorter than the request's expiry "
                f"({expires_in}); it would never happen"
            )
