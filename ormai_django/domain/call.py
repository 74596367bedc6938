"""``DomainCall``: what a domain tool's function receives.

    def refund_invoice(call):
        invoice = call.get("acme.Invoice", pk=call.data["invoice_id"])   # tenant-scoped
        ...

``get()`` and ``filter()`` see only the rows the policy lets this context see (its tenant's,
not soft-deleted): a row outside them is ``NOT_FOUND``, so a tool can't be talked into
another tenant's invoice. ``get()`` locks the row for the call's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models

from ormai_django import codes
from ormai_django.context import ToolContext
from ormai_django.domain.capture import captured
from ormai_django.errors import ToolError
from ormai_django.orm.scope import visible_rows
from ormai_django.policy.policy import Policy
from ormai_django.writes.operations import full_row


@dataclass
class DomainCall:
    """One call of a domain tool. ``data`` is the validated input (the serializer's
    ``validated_data``); ``context`` who calls; ``reason`` why; ``dry_run`` whether this is
    a preview (the function runs in a transaction that is rolled back: check it before
    calling an outside service)."""

    tool: str
    data: dict[str, Any]
    context: ToolContext
    reason: str
    dry_run: bool
    policy: Policy
    idempotency_key: str = ""

    def rows(self, model: Any) -> models.QuerySet:
        """The rows of ``model`` (a class, ``"app_label.Model"`` or class name) this context
        may see."""
        if isinstance(model, type) and issubclass(model, models.Model):
            mp = self.policy.for_model(model)
        else:
            try:
                mp = self.policy.resolve(model)
            except ToolError:
                mp = None
        if mp is None:
            raise ToolError(
                codes.UNKNOWN_MODEL,
                f"{self.tool} uses {getattr(model, '__name__', model)!r}, which the policy "
                "doesn't register; the policy must register every model a domain tool reads "
                "or writes.",
            )
        return captured(visible_rows(mp, self.context.tenant_id))

    def filter(self, model: Any, **lookup: Any) -> models.QuerySet:
        """``model``'s visible rows matching ``lookup`` (Django lookups). Its ``update()``
        and ``delete()`` are recorded row by row (in bulk)."""
        return self.rows(model).filter(**lookup)

    def get(self, model: Any, *, lock: bool = True, **lookup: Any) -> models.Model:
        """The one visible row of ``model`` matching ``lookup``, locked for the rest of the
        call (``lock=False`` to only read it); ``NOT_FOUND`` when there is none."""
        rows = self.filter(model, **lookup)
        if lock and not self.dry_run:
            rows = rows.select_for_update(of=("self",))
        found = list(rows[:2])
        if len(found) != 1:
            label = rows.model._meta.object_name
            shown = ", ".join(f"{k}={v!r}" for k, v in lookup.items())
            if found:
                raise ToolError(
                    codes.INVALID_ARGUMENTS,
                    f"More than one {label} matches {shown}; ask for exactly one.",
                )
            raise ToolError(codes.NOT_FOUND, f"No {label} with {shown} is visible to you.")
        instance = found[0]
        if lock or self.dry_run:
            # Its values as read and locked: the before of a later save(), with no re-read.
            instance._ormai_locked_row = full_row(instance)
        return instance
