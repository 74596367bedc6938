"""ormai_django: policy-governed JSON tools over the Django ORM for AI agents.

The public API is what ``__all__`` lists, imported from here:

    from ormai_django import DEFAULT_PROD, PolicyBuilder, ToolContext, execute

The names are imported lazily (PEP 562), so a project's ``models.py`` can
``from ormai_django import agent_model`` without loading any model. Besides these, the
stable submodules are ``ormai_django.approvals``, ``ormai_django.rollback``,
``ormai_django.budgets``, ``ormai_django.tokens``, ``ormai_django.signals``,
``ormai_django.codes`` (the error codes), ``ormai_django.errors`` and ``ormai_django.models``;
everything else is internal and may move (docs/architecture.md).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ormai_django.version import __version__ as __version__

_EXPORTS = {
    # Running calls.
    "execute": "ormai_django.runtime",
    "aexecute": "ormai_django.runtime",
    "ToolContext": "ormai_django.context",
    "tool_definitions": "ormai_django.tools.schemas",
    # Writing a policy.
    "Policy": "ormai_django.policy.policy",
    "PolicyBuilder": "ormai_django.policy.builder",
    "Profile": "ormai_django.policy.profiles",
    "DEFAULT_PROD": "ormai_django.policy.profiles",
    "DEFAULT_DEV": "ormai_django.policy.profiles",
    "agent_model": "ormai_django.policy.decorators",
    "agent_tool": "ormai_django.domain.declarations",
    "get_policy": "ormai_django.policy.loading",
    # Deciding held calls, rolling writes back, granting capabilities.
    "approve": "ormai_django.approvals",
    "deny": "ormai_django.approvals",
    "aapprove": "ormai_django.approvals",
    "adeny": "ormai_django.approvals",
    "rollback_audit_id": "ormai_django.rollback",
    "rollback_run": "ormai_django.rollback",
    "issue_token": "ormai_django.tokens",
    "verify_token": "ormai_django.tokens",
    # What callers catch.
    "OrmaiError": "ormai_django.errors",
    "ToolError": "ormai_django.errors",
    "ToolDenied": "ormai_django.errors",
    "ApprovalError": "ormai_django.errors",
    "RollbackError": "ormai_django.errors",
    "CapabilityTokenError": "ormai_django.errors",
    "PolicyConfigurationError": "ormai_django.errors",
    "PolicyWideningError": "ormai_django.errors",
}

__all__ = [
    "DEFAULT_DEV",
    "DEFAULT_PROD",
    "ApprovalError",
    "CapabilityTokenError",
    "OrmaiError",
    "Policy",
    "PolicyBuilder",
    "PolicyConfigurationError",
    "PolicyWideningError",
    "Profile",
    "RollbackError",
    "ToolContext",
    "ToolDenied",
    "ToolError",
    "aapprove",
    "adeny",
    "aexecute",
    "agent_model",
    "agent_tool",
    "approve",
    "deny",
    "execute",
    "get_policy",
    "issue_token",
    "rollback_audit_id",
    "rollback_run",
    "tool_definitions",
    "verify_token",
]

if TYPE_CHECKING:
    from ormai_django.approvals import aapprove, adeny, approve, deny
    from ormai_django.context import ToolContext
    from ormai_django.domain.declarations import agent_tool
    from ormai_django.errors import (
        ApprovalError,
        CapabilityTokenError,
        OrmaiError,
        PolicyConfigurationError,
        PolicyWideningError,
        RollbackError,
        ToolDenied,
        ToolError,
    )
    from ormai_django.policy.builder import PolicyBuilder
    from ormai_django.policy.decorators import agent_model
    from ormai_django.policy.loading import get_policy
    from ormai_django.policy.policy import Policy
    from ormai_django.policy.profiles import DEFAULT_DEV, DEFAULT_PROD, Profile
    from ormai_django.rollback import rollback_audit_id, rollback_run
    from ormai_django.runtime import aexecute, execute
    from ormai_django.tokens import issue_token, verify_token
    from ormai_django.tools.schemas import tool_definitions


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ormai_django' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
