"""A held call told in a line, and why it was held, as a person reads them in the queue.

summary_of(approval)   # "Subscription #22: plan basic -> pro"
                       # "Invoice: 60 rows, status -> cancelled"
                       # "billing.refund_invoice: invoice_id 3, amount_cents 500"
risk_badges(approval)  # [Badge("delete", "delete"), Badge("two_person", "2 approvers")]
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ormai_django import names
from ormai_django.approvals.requester import call_to_run
from ormai_django.domain.declarations import RESERVED_ARGUMENTS, declared
from ormai_django.models import ApprovalRequest

# Input values shown in a line; longer ones are cut.
MAX_VALUE = 30
MAX_SHOWN_VALUES = 3
ROWS_OVER_LIMIT = re.compile(r"it touches \d+ rows, more than the \d+ allowed")
IRREVERSIBLE_RULE = "[rule irreversible:"


def short_value(value: Any) -> str:
    """A value in a sentence: text as it is, anything else as JSON, cut to ``MAX_VALUE``."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return Truncator(text).chars(MAX_VALUE)


def model_name(approval: ApprovalRequest) -> str:
    """``shop.Subscription`` -> ``Subscription``."""
    return (approval.model or "").rsplit(".", 1)[-1]


def held_arguments(approval: ApprovalRequest) -> dict[str, Any]:
    call = call_to_run(approval) if isinstance(approval.call, Mapping) else {}
    arguments = call.get("arguments") if isinstance(call, Mapping) else None
    return dict(arguments) if isinstance(arguments, Mapping) else {}


def first_befores(approval: ApprovalRequest) -> dict[str, Any]:
    """The before values of the first previewed row, by field."""
    preview = approval.preview if isinstance(approval.preview, Mapping) else {}
    rows = preview.get("would_change") or []
    first = rows[0] if rows and isinstance(rows[0], Mapping) else {}
    return {
        key[: -len("_before")]: value for key, value in first.items() if key.endswith("_before")
    }


def _changes(data: Mapping[str, Any], befores: Mapping[str, Any] | None) -> str:
    parts = []
    for name, after in list(data.items())[:MAX_SHOWN_VALUES]:
        if befores is not None and name in befores:
            parts.append(f"{name} {short_value(befores[name])} -> {short_value(after)}")
        else:
            parts.append(f"{name} -> {short_value(after)}")
    if len(data) > MAX_SHOWN_VALUES:
        parts.append("…")
    return ", ".join(parts)


def summary_of(approval: ApprovalRequest) -> str:
    """One line that says what the held call would do."""
    arguments = held_arguments(approval)
    tool = approval.tool
    model = model_name(approval)
    data = arguments.get("data") if isinstance(arguments.get("data"), Mapping) else {}
    rows = approval.affected_rows
    if tool == names.DB_CREATE:
        return f"{model}: " + str(_("new row")) + (f", {_changes(data, None)}" if data else "")
    if tool in (names.DB_UPDATE, names.DB_DELETE):
        target = (
            f"{model} #{short_value(arguments['id'])}"
            if "id" in arguments
            else f"{model}: "
            + ngettext("%(count)d row", "%(count)d rows", rows or 0) % {"count": rows or 0}
        )
        if tool == names.DB_DELETE:
            return f"{target}{': ' if 'id' in arguments else ', '}" + str(_("delete"))
        befores = first_befores(approval) if "id" in arguments else None
        joiner = ": " if "id" in arguments else ", "
        return f"{target}{joiner}{_changes(data, befores)}"
    # A domain tool: its name and its key inputs.
    inputs = {k: v for k, v in arguments.items() if k not in RESERVED_ARGUMENTS}
    shown = ", ".join(
        f"{name} {short_value(value)}" for name, value in list(inputs.items())[:MAX_SHOWN_VALUES]
    )
    if len(inputs) > MAX_SHOWN_VALUES:
        shown += ", …"
    return f"{tool}: {shown}" if shown else tool


def held_reasons(approval: ApprovalRequest) -> list[str]:
    """Each reason the gate gave for holding the call."""
    return [part.strip() for part in (approval.why_held or "").split("; ") if part.strip()]


@dataclass(frozen=True)
class Badge:
    """A risk a decider should see at a glance: ``kind`` (a CSS class) and its label."""

    kind: str
    label: str


def risk_badges(approval: ApprovalRequest) -> list[Badge]:
    """The risks of the held call: a delete, more rows than the model's limit, a cascade,
    a two-person rule, a domain tool that can't be undone."""
    badges = []
    if approval.tool == names.DB_DELETE:
        badges.append(Badge("delete", str(_("delete"))))
    why = approval.why_held or ""
    if ROWS_OVER_LIMIT.search(why):
        badges.append(Badge("rows", str(_("rows over the limit"))))
    preview = approval.preview if isinstance(approval.preview, Mapping) else {}
    if preview.get("cascade"):
        badges.append(Badge("cascade", str(_("cascade"))))
    if approval.approvers_required >= 2:
        label = _("%(count)d-person rule") % {"count": approval.approvers_required}
        badges.append(Badge("two-person", str(label)))
    tool = declared(approval.tool)
    if IRREVERSIBLE_RULE in why or (tool is not None and tool.irreversible):
        badges.append(Badge("irreversible", str(_("can't be undone"))))
    return badges
