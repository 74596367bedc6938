"""ormai_django: policy-governed JSON tools over the Django ORM for AI agents.

The public names are imported lazily (PEP 562), so a project's ``models.py`` can
``from ormai_django import agent_model`` without loading any model.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "execute": "ormai_django.runtime",
    "aexecute": "ormai_django.runtime",
    "ToolContext": "ormai_django.context",
    "tool_definitions": "ormai_django.tools.schemas",
    "Policy": "ormai_django.policy.policy",
    "PolicyBuilder": "ormai_django.policy.builder",
    "Profile": "ormai_django.policy.profiles",
    "DEFAULT_PROD": "ormai_django.policy.profiles",
    "DEFAULT_DEV": "ormai_django.policy.profiles",
    "agent_model": "ormai_django.policy.decorators",
    "get_policy": "ormai_django.policy.loading",
    "ToolError": "ormai_django.errors",
    "ToolDenied": "ormai_django.errors",
    "PolicyConfigurationError": "ormai_django.errors",
}

__all__ = [
    "DEFAULT_DEV",
    "DEFAULT_PROD",
    "Policy",
    "PolicyBuilder",
    "PolicyConfigurationError",
    "Profile",
    "ToolContext",
    "ToolDenied",
    "ToolError",
    "aexecute",
    "agent_model",
    "execute",
    "get_policy",
    "tool_definitions",
]

if TYPE_CHECKING:
    from ormai_django.context import ToolContext
    from ormai_django.errors import PolicyConfigurationError, ToolDenied, ToolError
    from ormai_django.policy.builder import PolicyBuilder
    from ormai_django.policy.decorators import agent_model
    from ormai_django.policy.loading import get_policy
    from ormai_django.policy.policy import Policy
    from ormai_django.policy.profiles import DEFAULT_DEV, DEFAULT_PROD, Profile
    from ormai_django.runtime import aexecute, execute
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
