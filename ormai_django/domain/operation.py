"""A domain tool's call as a write operation: the write pipeline's phases, for a function.

The pipeline (``writes/pipeline.py``) runs it like ``db.update``: idempotency, dry run,
budgets, the approval gate, then the function inside the write's transaction with every
row it changes captured (``capture.py``), the audit row and the idempotency record.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, router, transaction
from rest_framework.exceptions import ValidationError as DRFValidationError

from ormai_django import codes
from ormai_django.domain.call import DomainCall
from ormai_django.domain.capture import WriteCapture
from ormai_django.domain.declarations import RESERVED_ARGUMENTS, DomainTool
from ormai_django.domain.schema import input_fields
from ormai_django.errors import ToolDenied
from ormai_django.invocation import Invocation
from ormai_django.orm.history import change_reason
from ormai_django.orm.rows import to_json
from ormai_django.orm.scope import tenant_value
from ormai_django.policy.masking import get_masker, masking_function
from ormai_django.writes.data import messages_of, validation_error
from ormai_django.writes.gate import ApprovalNeed, WriteCall, approval_needed
from ormai_django.writes.operations import WriteOperation
from ormai_django.writes.request import (
    dry_run_argument,
    idempotency_key_argument,
    reason_argument,
)

TOOL_RULES = "The call doesn't pass the tool's rules"


@dataclass(frozen=True)
class DomainRequest:
    """A domain tool's call, checked: the same attributes as a ``WriteRequest``."""

    tool: str
    data: dict[str, Any]  # the validated input
    input: dict[str, Any]  # the input as sent (JSON)
    reason: str
    idempotency_key: str | None
    dry_run: bool
    mp: None = None
    pk: None = None
    where: None = None


def parse_domain(inv: Invocation, tool: DomainTool) -> DomainRequest:
    """The checked call: reserved arguments first, then the input through the serializer
    (``VALIDATION_FAILED`` with per-field messages)."""
    args = inv.arguments
    rules = inv.policy.domain_tools.get(tool.name)
    dry_run = dry_run_argument(args)
    reason = reason_argument(
        args,
        required=tool.changes_things and inv.policy.profile.require_reason,
        needed=f"{tool.name} needs a 'reason': one sentence saying why, in the user's terms "
        "(it is recorded in the audit log and the rows' history).",
        rule=f"reason:{tool.name}",
    )
    inv.reason = reason
    key = idempotency_key_argument(
        args,
        required=bool(rules and rules.require_idempotency_key) and (inv.deciding or not dry_run),
        needed=f"{tool.name} needs an 'idempotency_key': a unique string per intended change, "
        "sent again unchanged when you retry it.",
        rule=f"idempotency_key:{tool.name}",
    )
    inv.idempotency_key = key or ""
    fields = tool.input().fields
    # null for an optional input that takes no null means "not given", as the schema says.
    given = {
        name: value
        for name, value in args.items()
        if name not in RESERVED_ARGUMENTS
        and not (
            value is None
            and name in fields
            and not fields[name].required
            and not fields[name].allow_null
        )
    }
    serializer = tool.input(data=given)
    if not serializer.is_valid():
        raise validation_error(_serializer_messages(serializer.errors), TOOL_RULES)
    return DomainRequest(
        tool=tool.name,
        data=dict(serializer.validated_data),
        input=given,
        reason=reason,
        idempotency_key=key,
        dry_run=dry_run,
    )


def _serializer_messages(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's (possibly nested) errors as ``{"field": [messages]}``; non-field errors under
    ``__all__``, nested fields as ``parent.child``."""
    if isinstance(errors, list):
        return {prefix or "__all__": [str(e) for e in errors]}
    out: dict[str, list[str]] = {}
    for name, value in errors.items():
        key = "__all__" if name == "non_field_errors" else name
        key = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            out.update(_serializer_messages(value, key))
        elif isinstance(value, list | tuple):
            out.setdefault(key, []).extend(str(e) for e in value)
        else:
            out.setdefault(key, []).append(str(value))
    return out


class DomainOperation(WriteOperation):
    """The phases of the write pipeline for one domain tool call."""

    def __init__(self, inv: Invocation, tool: DomainTool) -> None:
        self.inv, self.tool = inv, tool
        self.req = parse_domain(inv, tool)
        self.mp = None
        self.policy = inv.policy
        self.tenant = inv.tenant_id
        self.declared = self._declared_models()
        self.model = self.declared[0] if self.declared else None
        self.using = router.db_for_write(self.model) if self.model else router.db_for_write(None)
        self.affected = 0
        self.ids: list[Any] = []
        self.value: Any = None
        self.changes_things = tool.changes_things
        self.within = None  # only db.* where-writes run within held rows
        inv.model_label = ", ".join(m._meta.label for m in self.declared)[:200]

    def _declared_models(self) -> list[type[models.Model]]:
        """The models of ``writes=[...]``, each registered by the policy (so tenant scope and
        soft delete are known for what the tool touches)."""
        found = []
        for model in self.tool.models():
            if self.policy.for_model(model) is None:
                raise ToolDenied(
                    codes.TOOL_NOT_ALLOWED,
                    f"{self.tool.name} writes {model._meta.label}, which this policy doesn't "
                    "register; it can't run here. Tell the user.",
                    tool=self.tool.name,
                )
            found.append(model)
        return found

    # --- the phases -------------------------------------------------------------------

    def measure(self) -> None:
        """The rows are known only once the function ran: nothing to lock beforehand."""
        self.affected = 0

    def count(self) -> None:
        """Deciding runs no function, so no row is known."""
        self.affected = 0

    def validate(self) -> None:
        """The input was validated by the tool's serializer when the call was parsed."""

    def call(self) -> WriteCall:
        return WriteCall(
            tool=self.tool.name,
            model="",
            data=self.req.data,
            where=None,
            affected_rows=self.affected,
            reason=self.req.reason,
            context=self.inv.context,
        )

    def approval_need(self, escalations: Iterable[str] = ()) -> ApprovalNeed | None:
        return approval_needed(
            self.policy, None, self.call(), escalations, irreversible=self.tool.irreversible
        )

    def touched_ids(self) -> list[Any]:
        """No row is known before the function runs: row budgets see none."""
        return []

    def preview(self) -> dict[str, Any]:
        """The function, run as a dry run in a transaction that is rolled back: its result
        and the rows it would change (masked fields masked, denied fields left out)."""
        with transaction.atomic(using=self.using):
            capture = self.run(dry_run=True)
            transaction.set_rollback(True, using=self.using)
        cap = self.policy.profile.max_preview_rows
        lines = self.would_change(capture)
        return {"result": self.value, "would_change": lines[:cap], "truncated": len(lines) > cap}

    def execute(self) -> list[dict[str, Any]]:
        capture = self.run(dry_run=False)
        changes = capture.ledger()
        self.affected = len(changes)
        return changes

    def result(self) -> dict[str, Any]:
        self.inv.returned = self.value
        return {"outcome": "ok", "result": self.value, "affected_rows": self.affected}

    # --- running the function ---------------------------------------------------------

    def run(self, *, dry_run: bool) -> WriteCapture:
        call = DomainCall(
            tool=self.tool.name,
            data=dict(self.req.data),
            context=self.inv.context,
            reason=self.req.reason,
            dry_run=dry_run,
            policy=self.policy,
            idempotency_key=self.req.idempotency_key or "",
        )
        self.value, capture = run_captured(
            self.tool, call, lambda: self.tool.function(call), self.declared, self.using
        )
        self.affected = len(capture.touched())
        return capture

    def would_change(self, capture: WriteCapture) -> list[dict[str, Any]]:
        """The captured rows as a preview: ``model``, ``id``, ``<field>_before/_after``."""
        masker = get_masker()
        lines = []
        for entry in capture.ledger():
            mp = self.policy.for_model(self._model(entry["model"]))
            line: dict[str, Any] = {"model": mp.name, "id": entry["pk"]}
            before, after = entry.get("before") or {}, entry.get("after") or {}
            for name in dict.fromkeys([*before, *after]):
                info = mp.fields.get(name)
                if info is None or info.primary_key:
                    continue  # denied (or the id, shown already)
                shown = (
                    masking_function(masker, info.mask_kind, info.field)
                    if info.masked
                    else (lambda value: value)
                )
                if name in before:
                    line[f"{name}_before"] = shown(before[name])
                if name in after:
                    line[f"{name}_after"] = shown(after[name])
            lines.append(line)
        return lines

    @staticmethod
    def _model(label: str) -> type[models.Model]:
        return apps.get_model(label)


def run_captured(
    tool: DomainTool,
    call: DomainCall,
    function: Callable[[], Any],
    declared: list[type[models.Model]],
    using: str,
) -> tuple[Any, WriteCapture]:
    """Run ``function`` (the tool's, or its compensation) with every write captured; its
    JSON result and the capture. Validation errors become ``VALIDATION_FAILED``; a write
    that can't be recorded, or one outside the caller's tenant, fails the call."""
    capture = WriteCapture(
        tool.name, declared, change_reason(call.context.principal, call.reason), using
    )
    try:
        with capture:
            value = function()
    except (DRFValidationError, DjangoValidationError) as exc:
        if capture.problem is not None:
            raise capture.problem from None
        raise validation_error(_validation_messages(exc), TOOL_RULES) from None
    if capture.problem is not None:
        # The function caught the refusal and went on: the call still fails.
        raise capture.problem
    check_tenant(tool, capture, call)
    return json_result(value), capture


def check_tenant(tool: DomainTool, capture: WriteCapture, call: DomainCall) -> None:
    """Every row the function touched is of the caller's tenant, before and after."""
    # Per model, once: its policy, the tenant field's name and the caller's tenant in it.
    tenants: dict[type[models.Model], tuple[Any, str, Any] | None] = {}
    for entry in capture.touched():
        model = entry["model"]
        if model not in tenants:
            mp = call.policy.for_model(model)
            tenants[model] = (
                None
                if mp is None or mp.tenant_field is None
                else (
                    mp,
                    mp.model._meta.get_field(mp.tenant_field).name,
                    to_json(tenant_value(mp, call.context.tenant_id)),
                )
            )
        tenant = tenants[model]
        if tenant is None:
            continue
        mp, name, expected = tenant
        for side in (entry["before"], entry["after"]):
            if side is not None and name in side and side[name] != expected:
                raise ToolDenied(
                    codes.CROSS_TENANT_WRITE,
                    f"{tool.name} tried to change a {mp.name} row of another tenant; the call "
                    "was rolled back and nothing changed. Tell the user.",
                )


def _validation_messages(exc: Exception) -> dict[str, list[str]]:
    if isinstance(exc, DRFValidationError):
        return _serializer_messages(exc.detail)
    return messages_of(exc)


def json_result(value: Any) -> Any:
    """The function's return value as plain JSON (dates, decimals and UUIDs as text); a
    value JSON can't hold is the tool's bug: ``TypeError``, an internal error."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder, allow_nan=False))


def editable_fields(tool: DomainTool) -> list[str]:
    """The input fields an approver may change (approve with changes)."""
    return list(input_fields(tool))
