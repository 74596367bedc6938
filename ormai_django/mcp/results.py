"""Outcomes as MCP tool results: the outcome JSON as text (and as structured content),
``isError`` for ``denied`` and ``error``, and a sentence a person can read for a held call."""

from __future__ import annotations

import json
from typing import Any

import mcp.types as types

ERROR_OUTCOMES = frozenset({"denied", "error"})


def held_sentence(outcome: dict[str, Any]) -> str:
    """What a ``pending_approval`` outcome means, in words for the model and the user."""
    required = outcome.get("approvers_required", 1)
    return (
        f"Approval requested, id {outcome.get('approval_id')}, expires "
        f"{outcome.get('expires_at')}, needs {required} approver(s); nothing has changed yet. "
        "Tell the user it is waiting for a person, don't send the write again, and call "
        "approval_status with this id to check on it."
    )


def tool_result(outcome: dict[str, Any]) -> types.CallToolResult:
    """The ``CallToolResult`` of one outcome: first block the JSON, exactly as ``execute``
    returned it (a client can parse it), then, for a held call, the sentence."""
    content: list[types.TextContent] = [
        types.TextContent(type="text", text=json.dumps(outcome, ensure_ascii=False))
    ]
    if outcome.get("outcome") == "pending_approval":
        content.append(types.TextContent(type="text", text=held_sentence(outcome)))
    return types.CallToolResult(
        content=content,
        structured_content=outcome,
        is_error=outcome.get("outcome") in ERROR_OUTCOMES,
    )
