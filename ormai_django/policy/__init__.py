"""Policies: what an agent may see and change."""

from ormai_django.policy.builder import PolicyBuilder
from ormai_django.policy.decorators import agent_model
from ormai_django.policy.policy import ApprovalRule, BurstRule, FieldInfo, ModelPolicy, Policy
from ormai_django.policy.profiles import DEFAULT_DEV, DEFAULT_PROD, Profile

__all__ = [
    "DEFAULT_DEV",
    "DEFAULT_PROD",
    "ApprovalRule",
    "BurstRule",
    "FieldInfo",
    "ModelPolicy",
    "Policy",
    "PolicyBuilder",
    "Profile",
    "agent_model",
]
