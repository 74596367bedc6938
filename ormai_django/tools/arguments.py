"""Checking a tool's arguments object before anything reads it."""

from __future__ import annotations

from typing import Any

from ormai_django import codes
from ormai_django.errors import ToolError


def check_arguments(
    tool: str, arguments: dict[str, Any], allowed: tuple[str, ...], required: tuple[str, ...]
) -> None:
    """Refuse unknown and missing argument names, naming what the tool takes."""
    unknown = sorted(k for k in arguments if k not in allowed)
    if unknown:
        raise ToolError(
            codes.INVALID_ARGUMENTS,
            f"{tool} doesn't take {', '.join(map(repr, unknown))}; it takes {', '.join(allowed)}.",
        )
    missing = [k for k in required if arguments.get(k) is None]
    if missing:
        raise ToolError(
            codes.INVALID_ARGUMENTS,
            f"{tool} needs {', '.join(map(repr, missing))}; it takes {', '.join(allowed)}.",
        )
