"""What every write tool shares, and creates: preview, measure, validate, execute.

``WriteOperation`` declares the phases the pipeline runs, in order; its subclasses fill
them in: creates here (one instance saved, its signals fire, its history row copied by one
``INSERT ... SELECT``), updates and soft deletes in ``writes/updates.py``, hard deletes in
``writes/deletes.py`` (Django's ``Collector``, so the cascade is exactly what
``QuerySet.delete()`` would do, signals included) and domain tools in
``domain/operation.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from django.core.exceptions import ValidationError
from django.db import models, router
from django.utils import timezone

from ormai_django import codes
from ormai_django.context import ToolContext
from ormai_django.errors import ToolError
from ormai_django.invocation import Invocation
from ormai_django.orm.batches import with_pks
from ormai_django.orm.history import change_reason, write_history
from ormai_django.orm.rows import to_json
from ormai_django.orm.scope import tenant_value, visible_rows
from ormai_django.orm.values import to_field_value
from ormai_django.orm.where import compile_where
from ormai_django.policy.masking import get_masker, masking_function
from ormai_django.writes.data import messages_of, validation_error, writable_values
from ormai_django.writes.gate import ApprovalNeed, WriteCall, approval_needed
from ormai_django.writes.request import WriteRequest

MAX_IDS = 100


@dataclass(frozen=True)
class WriteCheck:
    """What a policy validator sees; ``instance`` is the row as it would be (creates and
    single-row updates), ``None`` for a write over many rows."""

    tool: str
    model: str
    data: dict[str, Any]
    context: ToolContext
    instance: models.Model | None


def full_row(instance: models.Model) -> dict[str, Any]:
    return {f.name: to_json(getattr(instance, f.attname)) for f in instance._meta.concrete_fields}


class WriteOperation:
    """The steps every write shares; subclasses fill in what differs."""

    def __init__(self, inv: Invocation, req: WriteRequest) -> None:
        self.inv, self.req, self.mp = inv, req, req.mp
        self.model = req.mp.model
        self.policy = inv.policy
        self.tenant = inv.tenant_id
        self.using = router.db_for_write(self.model)
        self.affected = 0
        self.ids: list[Any] = []
        # The keys an approved where-write may touch (those measured when it was held):
        # rows that start matching after the hold are not what people approved.
        self.within: list[Any] | None = None

    # Whether the call counts as a write for rate limits and budgets (every db.* write does;
    # a domain tool that changes nothing doesn't).
    changes_things = True
    # The budget windows the call spends (``Charge.spent``): a write that can update them
    # inside its own statement does, and says so (``spent_in_statement``); else the pipeline
    # writes them after it.
    spends: Sequence[Any] = ()
    spent_in_statement = False
    # The call's audit row, unsaved, for a write that inserts it in its own statement
    # (``audits_in_statement``): the pipeline builds it, with the answer, before ``execute``;
    # and the rows to insert beside it (the call's idempotency record).
    audit: Any = None
    also_insert: Sequence[Any] = ()

    # --- the phases the pipeline runs, in this order --------------------------------

    def prepare(self) -> None:
        """Checks that need no row: the data's fields and values (before any SQL)."""

    def measure(self) -> None:
        """Lock the rows the write touches and set ``affected`` and ``ids`` (inside the
        write's transaction)."""
        raise NotImplementedError

    def count(self) -> None:
        """Set ``affected``, reading without locking (a decision that executes nothing:
        ``ormai_django.testing``, shadow policies)."""
        self.affected = self.target().count()
        if self.req.by_id and not self.affected:
            raise self.not_found()

    def validate(self) -> None:
        """Model validation and the policy's validators; raises ``VALIDATION_FAILED``."""
        raise NotImplementedError

    def preview(self) -> dict[str, Any]:
        """What a dry run returns (``would_change``, ``truncated``...), computed without
        changing anything or locking a row; also what a held call shows its approvers."""
        raise NotImplementedError

    def execute(self) -> list[dict[str, Any]] | orjson.Fragment | None:
        """Run the write, its history rows included; returns the ledger (per row: pk,
        before, after) for the audit row (None: it inserted ``audit`` itself)."""
        raise NotImplementedError

    def audits_in_statement(self) -> bool:
        """Whether ``execute`` inserts the call's audit row (``audit``) itself, once
        measured: the answer is known before the write runs."""
        return False

    # --- shared by the phases -----------------------------------------------------------

    @property
    def history_reason(self) -> str:
        """The change reason of the history rows the write makes: the agent, then its reason."""
        return change_reason(self.inv.context.principal, self.req.reason)

    def approval_need(self, escalations: Iterable[str] = ()) -> ApprovalNeed | None:
        """The approval this write needs now (measured), or None; ``escalations`` are the
        budgets past their bound that send it to a human."""
        return approval_needed(self.policy, self.mp, self.call(), escalations)

    @property
    def counted_model(self) -> type[models.Model] | None:
        """The model budgets count this write against (None: a domain tool's call)."""
        return self.mp.model if self.mp is not None else None

    @property
    def counted_label(self) -> str:
        """How a budget's refusal names what was written."""
        return self.mp.label if self.mp is not None else self.req.tool

    def call(self) -> WriteCall:
        return WriteCall(
            tool=self.req.tool,
            model=self.mp.name,
            data=self.req.data,
            where=self.req.where,
            affected_rows=self.affected,
            reason=self.req.reason,
            context=self.inv.context,
        )

    def target(self) -> models.QuerySet:
        """The rows the write selects: visible to the context, matching its ``id`` or
        ``where`` and, for an approved where-write, among the rows held (``within``)."""
        rows = visible_rows(self.mp, self.tenant)
        if self.req.by_id:
            return rows.filter(pk=to_field_value(self.model._meta.pk, self.req.pk, "'id'"))
        rows = rows.filter(compile_where(self.policy, self.mp, self.req.where, self.tenant))
        if self.within is not None:
            rows = with_pks(rows, self.within)
        return rows

    def touched_ids(self) -> list[Any]:
        """The primary keys of the rows the write touches, once measured or previewed (a
        preview of an update counts its rows without listing them: they are read here)."""
        if self.ids or self.req.tool == "db.create" or not self.affected:
            return self.ids
        return list(self.target().order_by("pk").values_list("pk", flat=True))

    def not_found(self) -> ToolError:
        return ToolError(
            codes.NOT_FOUND,
            f"No {self.mp.name} with id {self.req.pk!r} is visible to you; "
            "use db.query to search for it.",
        )

    def visible_messages(self, fields: dict[str, list[str]]) -> dict[str, list[str]]:
        """Errors on fields agents can't see are reported without naming the field."""
        shown: dict[str, list[str]] = {}
        for name, messages in fields.items():
            if name == "__all__" or name in self.mp.fields:
                shown.setdefault(name, []).extend(messages)
            else:
                hidden = (
                    f"A field of {self.mp.name} that agents can't see or set refuses this "
                    "write (a value it needs, or a rule it checks)."
                )
                if hidden not in shown.setdefault("__all__", []):
                    shown["__all__"].append(hidden)
        return shown

    def run_validators(self, instance: models.Model | None) -> None:
        check = WriteCheck(self.req.tool, self.mp.name, self.req.data, self.inv.context, instance)
        for validator in self.mp.writes.validators:
            try:
                validator(check)
            except ValidationError as exc:
                raise validation_error(self.visible_messages(messages_of(exc))) from None

    def result(self) -> dict[str, Any]:
        ids = [to_json(pk) for pk in self.ids[:MAX_IDS]]
        result = {"outcome": "ok", "affected_rows": self.affected, "ids": ids}
        if len(self.ids) > MAX_IDS:
            result["ids_truncated"] = True
        return result

    def shown(self, field: models.Field, value: Any) -> Any:
        """A before value as the agent may see it (masked fields masked)."""
        info = self.mp.fields.get(field.name)
        if info is not None and info.masked:
            return masking_function(get_masker(), info.mask_kind, info.field)(value)
        return to_json(value)

    def preview_cap(self) -> int:
        return self.policy.profile.max_preview_rows


class CreateOperation(WriteOperation):
    def prepare(self) -> None:
        values = writable_values(self.policy, self.mp, self.req.data, self.tenant)
        if self.mp.tenant_field:
            # Creates are stamped with the context's tenant; the agent can't choose it.
            field = self.model._meta.get_field(self.mp.tenant_field)
            values[field.attname] = tenant_value(self.mp, self.tenant)
        self.instance = self.model(**values)

    def measure(self) -> None:
        self.affected = 1

    def count(self) -> None:
        self.affected = 1

    def validate(self) -> None:
        try:
            self.instance.full_clean()
        except ValidationError as exc:
            raise validation_error(self.visible_messages(messages_of(exc))) from None
        self.run_validators(self.instance)

    def preview(self) -> dict[str, Any]:
        self.measure()
        self.validate()
        after = {
            f"{f.name}_after": to_json(getattr(self.instance, f.attname))
            for f in self.model._meta.concrete_fields
            if f.name in self.mp.fields and not f.primary_key
        }
        return {"would_change": [{"id": None, **after}], "truncated": False}

    def execute(self) -> list[dict[str, Any]]:
        instance = self.instance
        # Signals fire as for any save(); django-simple-history's row is ours, in bulk form.
        instance.skip_history_when_saving = True
        try:
            instance.save(force_insert=True, using=self.using)
        finally:
            del instance.skip_history_when_saving
        manager = self.model._base_manager.db_manager(self.using)
        write_history(manager.filter(pk=instance.pk), "+", self.history_reason, timezone.now())
        self.ids = [instance.pk]
        return [{"pk": to_json(instance.pk), "after": full_row(instance)}]
