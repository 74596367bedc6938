"""The registry's entry point for every domain tool: its call, through the write pipeline."""

from __future__ import annotations

from typing import Any

from ormai_django.domain.declarations import declared
from ormai_django.domain.operation import DomainOperation
from ormai_django.invocation import Invocation
from ormai_django.writes.pipeline import run_write


def run_domain_tool(inv: Invocation) -> dict[str, Any]:
    """Run the domain tool ``inv.tool`` as a write: parse its input, then the pipeline."""
    tool = declared(inv.tool)
    assert tool is not None  # the registry found it
    return run_write(inv, DomainOperation(inv, tool))
