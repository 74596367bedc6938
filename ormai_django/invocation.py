"""``Invocation``: one tool call on its way through the pipeline.

Tools read the policy, the context and the arguments from it, and note on it what
the audit row must say (the model, the reason, the rows touched).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ormai_django.context import ToolContext
from ormai_django.names import WRITE_TOOLS
from ormai_django.policy.model_policy import ModelPolicy
from ormai_django.policy.policy import Policy


@dataclass
class Invocation:
    tool: str
    arguments: dict[str, Any]
    context: ToolContext
    policy: Policy
    model_label: str = ""
    reason: str = ""
    idempotency_key: str = ""
    affected_rows: int | None = None
    changes: list[dict[str, Any]] | None = field(default=None)
    # The event this call follows from (an idempotent replay's original write).
    caused_by: Any = None
    # The approval this call requested (held) or runs under (approved).
    approval: Any = None
    # Set when the call wrote its own audit row, inside its transaction.
    audit_event: Any = None
    # What a domain tool's function returned, for the audit row.
    returned: Any = None
    # Set by ``answered_by``: an earlier audit row that already records this answer.
    earlier_event: Any = None
    started: float = field(default_factory=time.perf_counter)
    # Decide only (``runtime.decide_call``): the policy's verdict, nothing executed or spent.
    deciding: bool = False
    # Whether a decision reads the budgets' windows (a replay of old calls doesn't).
    check_budgets: bool = True
    # Whether a decision counts the row of a by-id write (a live shadow takes it as one: the
    # live call finds out whether it exists).
    count_by_id: bool = True
    # The shadow policy's verdict (ORMAI["SHADOW_POLICY"]), for the audit row.
    shadow_verdict: Any = None

    def answered_by(self, event: Any) -> None:
        """Say that ``event``, an earlier audit row of the same caller's same look, already
        records this call's answer: the runtime writes no new row and the result carries
        ``event``'s id. For tools that change nothing (``approval.status`` uses it so a
        poll that sees nothing new costs no write); a write tool can't use it, and the
        runtime honours it only for a tool that doesn't write and an ``ok`` outcome."""
        if self.tool in WRITE_TOOLS:
            raise ValueError(f"{self.tool} writes: every call of it gets its own audit row")
        self.earlier_event = event

    def resolve_model(self, name: Any) -> ModelPolicy:
        """The registered model the call names; recorded for the audit row."""
        mp = self.policy.resolve(name)
        self.model_label = mp.label
        return mp

    @property
    def tenant_id(self) -> Any:
        return self.context.tenant_id
