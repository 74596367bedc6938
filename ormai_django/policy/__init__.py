"""Policies: what an agent may see and change.

``PolicyBuilder`` records a policy's rules into a frozen ``PolicySpec``; ``build()``
assembles the immutable ``Policy`` (one ``ModelPolicy`` per registered model). The policy
layer imports no tool, handler or surface: tools are named by ``ormai_django.names``.
"""

from ormai_django.policy.budgets import Budget
from ormai_django.policy.builder import PolicyBuilder
from ormai_django.policy.decorators import agent_model
from ormai_django.policy.model_policy import FieldInfo, ModelPolicy, WriteRules
from ormai_django.policy.policy import ApprovalRule, Policy
from ormai_django.policy.profiles import DEFAULT_DEV, DEFAULT_PROD, Profile
from ormai_django.policy.spec import PolicySpec

__all__ = [
    "DEFAULT_DEV",
    "DEFAULT_PROD",
    "ApprovalRule",
    "Budget",
    "FieldInfo",
    "ModelPolicy",
    "Policy",
    "PolicyBuilder",
    "PolicySpec",
    "Profile",
    "WriteRules",
    "agent_model",
]
