"""Hard deletes: Django's ``Collector`` decides the cascade, the policy decides if it may run.

The collector gives exactly what ``QuerySet.delete()`` would remove or change (signals
fire as usual, and django-simple-history writes its own "-" rows, with the reason).
The cascade is known before any approval or budget is spent on it: refused under
``DEFAULT_PROD`` unless the policy allows cascades for the model, and refused, without
counting them, when it would reach rows the caller can't see: another tenant's, soft-deleted
ones, or rows whose tenant can't be checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import Q
from django.db.models.deletion import Collector, ProtectedError, RestrictedError

from ormai_django import codes
from ormai_django.errors import ToolDenied
from ormai_django.orm.batches import batch_size, batches
from ormai_django.orm.history import history_model
from ormai_django.orm.rows import to_json
from ormai_django.orm.scope import tenant_value, visibility
from ormai_django.writes.operations import WriteOperation, full_row

# A row the delete changes rather than removes: (model, field, pk, old value, new value).
Nulled = tuple[type[models.Model], models.Field, Any, Any, Any]


@dataclass
class CollectedDelete:
    """What deleting some rows removes or changes (Django's collector), with their before-state.

    Shared by ``db.delete`` and by rollback (which deletes the rows a create made).
    """

    collector: Collector
    removed: list[tuple[type[models.Model], dict[str, Any]]]
    nulled: list[Nulled]

    def reached(
        self, model: type[models.Model], own: set[Any]
    ) -> dict[type[models.Model], list[Any]]:
        """The rows beyond ``own`` (JSON primary keys of ``model``) that the delete reaches."""
        reached: dict[type[models.Model], list[Any]] = {}
        for removed_model, row in self.removed:
            pk = row[removed_model._meta.pk.name]
            if removed_model is not model or pk not in own:
                reached.setdefault(removed_model, []).append(pk)
        for nulled_model, _, pk, _, _ in self.nulled:
            reached.setdefault(nulled_model, []).append(to_json(pk))
        return reached

    def delete(self, reason: str) -> list[dict[str, Any]]:
        """Run the delete (signals fire; django-simple-history records each row with
        ``reason``) and return its ledger: the full before of every removed row, the
        before/after of every changed one."""
        for model, instances in self.collector.data.items():
            historical = history_model(model)
            limit = (
                historical._meta.get_field("history_change_reason").max_length
                if historical
                else None
            )
            for instance in instances:
                instance._change_reason = reason[:limit] if limit else reason
        self.collector.delete()
        changes = [
            {"model": model._meta.label, "pk": row[model._meta.pk.name], "before": row}
            for model, row in self.removed
        ]
        changes += [
            {
                "model": model._meta.label,
                "pk": to_json(pk),
                "before": {field.name: to_json(old)},
                "after": {field.name: to_json(new)},
            }
            for model, field, pk, old, new in self.nulled
        ]
        return changes


def collect_delete(model: type[models.Model], ids: list[Any], using: str) -> CollectedDelete:
    """Collect the delete of ``model`` rows ``ids`` (raises Django's ``ProtectedError`` or
    ``RestrictedError`` when other rows forbid it)."""
    collector = Collector(using=using, origin=model)
    manager = model._base_manager.db_manager(using)
    for batch in batches(ids, batch_size(using)):
        collector.collect(list(manager.filter(pk__in=batch)))
    removed: list[tuple[type[models.Model], dict[str, Any]]] = []
    for collected_model, instances in collector.data.items():
        removed += [(collected_model, full_row(i)) for i in sorted(instances, key=lambda i: i.pk)]
    for queryset in collector.fast_deletes:
        names = [f.name for f in queryset.model._meta.concrete_fields]
        attnames = [f.attname for f in queryset.model._meta.concrete_fields]
        for values in queryset.values_list(*attnames):
            removed.append(
                (queryset.model, {n: to_json(v) for n, v in zip(names, values, strict=True)})
            )
    nulled: list[Nulled] = []
    for (field, value), groups in collector.field_updates.items():
        for objs in groups:
            pairs = (
                objs.values_list("pk", field.attname)
                if isinstance(objs, models.QuerySet)
                else [(o.pk, getattr(o, field.attname)) for o in objs]
            )
            nulled += [(field.model, field, pk, old, value) for pk, old in pairs]
    return CollectedDelete(collector, removed, nulled)


class HardDeleteOperation(WriteOperation):
    """db.delete without a soft-delete field: Django's Collector, cascade and all."""

    def measure(self, lock: bool = True) -> None:
        rows = self.target().order_by("pk")
        if lock:
            rows = rows.select_for_update(of=("self",))
        self.ids = list(rows.values_list("pk", flat=True))
        if self.req.by_id and not self.ids:
            raise self.not_found()
        self.affected = len(self.ids)
        # The cascade is part of the write: known (and refused if it must be) before any
        # approval or budget is spent on it.
        self.collect()

    def collect(self) -> None:
        """What the delete removes or changes, and their before-state, model by model."""
        try:
            self.collected = collect_delete(self.model, self.ids, self.using)
        except (ProtectedError, RestrictedError) as exc:
            blockers = sorted({o._meta.label for o in exc.args[1]})
            raise ToolDenied(
                codes.CASCADE_NOT_ALLOWED,
                f"These {self.mp.name} rows can't be deleted: rows of {', '.join(blockers)} "
                "protect them. Nothing was deleted.",
                rule=f"cascade:{self.mp.label}",
            ) from None
        own = {to_json(pk) for pk in self.ids}
        reached = self.collected.reached(self.model, own)
        self.cascade = {model._meta.label: pks for model, pks in reached.items()}
        self.check_cascade(reached)

    def check_cascade(self, reached: dict[type[models.Model], list[Any]]) -> None:
        """Refuse a cascade the caller may not run. Rows it can't see (another tenant's,
        soft-deleted ones, a model without a checkable tenant) refuse it first and unnamed,
        so neither the message nor a preview counts or lists them: no existence oracle."""
        if not reached:
            return
        for model, pks in reached.items():
            if model._meta.auto_created:
                continue  # many-to-many link rows belong to the rows they link
            if not self.all_visible(model, pks):
                raise ToolDenied(
                    codes.CASCADE_NOT_ALLOWED,
                    f"Deleting these {self.mp.name} rows would reach related rows this call "
                    "can't see (another tenant's, deleted ones, or rows whose tenant can't be "
                    "checked); nothing was deleted. Ask a human to look at this data.",
                    rule=f"tenant:{self.mp.label}",
                )
        if not self.mp.writes.allow_cascade_delete:
            summary = ", ".join(f"{len(ids)} {label}" for label, ids in self.cascade.items())
            raise ToolDenied(
                codes.CASCADE_NOT_ALLOWED,
                f"Deleting these {self.mp.name} rows would also delete or change {summary}; "
                "the policy doesn't allow cascading deletes here. Delete or detach those "
                "rows first, or ask a human.",
                cascade={label: len(ids) for label, ids in self.cascade.items()},
                rule=f"cascade:{self.mp.label}",
            )

    def all_visible(self, model: type[models.Model], pks: list[Any]) -> bool:
        """Whether every cascaded row is one this call could read: a registered model's
        visibility (tenant and soft delete); for an unregistered one, the context's tenant
        under the same field name, failing closed when it has none."""
        registered = self.policy.for_model(model)
        if registered is not None:
            visible = visibility(registered, self.tenant)
        elif self.mp.tenant_field is None:
            return True
        elif self.mp.tenant_field in {f.name for f in model._meta.concrete_fields}:
            visible = Q(**{self.mp.tenant_field: tenant_value(self.mp, self.tenant)})
        else:
            return False
        manager = model._base_manager.db_manager(self.using)
        return not any(
            manager.filter(pk__in=batch).exclude(visible).exists()
            for batch in batches(pks, batch_size(self.using))
        )

    def count(self) -> None:
        self.measure(lock=False)  # the cascade is part of the decision

    def validate(self) -> None:
        self.run_validators(None)

    def preview(self) -> dict[str, Any]:
        self.measure(lock=False)  # a dry run reads; it locks nothing
        self.validate()
        cap = self.preview_cap()
        own = {to_json(pk) for pk in self.ids[:cap]}
        shown = [f for f in self.model._meta.concrete_fields if f.name in self.mp.fields]
        would_change = [
            {"id": row[self.model._meta.pk.name]}
            | {f"{f.name}_before": self.shown(f, row[f.name]) for f in shown if not f.primary_key}
            for model, row in self.collected.removed
            if model is self.model and row[self.model._meta.pk.name] in own
        ]
        cascade = {
            label: {"count": len(ids), "ids": ids[:cap]} for label, ids in self.cascade.items()
        }
        return {
            "would_change": would_change,
            "truncated": self.affected > len(would_change),
            "cascade": cascade,
        }

    def execute(self) -> list[dict[str, Any]]:
        return self.collected.delete(self.history_reason)
