"""The write half of the pipeline (DESIGN section 3, steps 4 to 10).

    parse and check -> idempotency -> dry run -> budgets (lock) -> measure
    -> budgets (rows) -> preview required -> approval
    -> execute (rows, history, audit row, budgets spent, idempotency record: one transaction)

A refusal anywhere rolls the transaction back; the runtime then audits it. A budget's
refusal is then recorded as its trip (``writes/budgets.py``), in a transaction of its own.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from ormai_django import codes, signals
from ormai_django.audit import invocation_event, record_invocation
from ormai_django.errors import ToolDenied, ToolError
from ormai_django.invocation import Invocation
from ormai_django.models import ApprovalRequest
from ormai_django.orm.rows import to_json, utc_iso
from ormai_django.writes import budgets, idempotency
from ormai_django.writes.deletes import HardDeleteOperation
from ormai_django.writes.gate import ApprovalNeed
from ormai_django.writes.operations import CreateOperation, WriteOperation
from ormai_django.writes.previews import check_previewed
from ormai_django.writes.request import WriteRequest, parse_write
from ormai_django.writes.updates import SoftDeleteOperation, UpdateOperation
from ormai_django.writes.windows import write_windows

# PostgreSQL's deadlock_detected and serialization_failure: the write can simply be retried.
RETRYABLE_SQLSTATES = ("40P01", "40001")


def operation_for(inv: Invocation, req: WriteRequest) -> WriteOperation:
    if req.tool == "db.create":
        return CreateOperation(inv, req)
    if req.tool == "db.update":
        return UpdateOperation(inv, req)
    if req.mp.soft_delete_field:
        return SoftDeleteOperation(inv, req)
    return HardDeleteOperation(inv, req)


def run_write(inv: Invocation, operation: WriteOperation | None = None) -> dict[str, Any]:
    """Run a write tool's call; ``operation`` is given by tools with their own (domain
    tools), otherwise it follows from the db.* tool and its arguments."""
    if operation is None:
        operation = operation_for(inv, parse_write(inv))
    req = operation.req
    if inv.deciding:
        return decide(inv, operation)
    held_ids = getattr(inv.approval, "held_ids", None)
    if req.where is not None and held_ids is not None:
        # An approved where-write runs on the rows the approvers were shown, or fewer.
        operation.within = held_ids
    principal = inv.context.principal
    digest = (
        idempotency.arguments_hash(req.tool, inv.arguments, inv.tenant_id)
        if req.idempotency_key
        else ""
    )
    if req.idempotency_key and not req.dry_run and inv.approval is None:
        # Before the data is checked against rows: a retry gets what the first call got.
        record = idempotency.find(principal, req.idempotency_key)
        if record is not None:
            return _replay(inv, record, req, digest)
    operation.prepare()
    if req.dry_run:
        return _dry_run(inv, operation)
    approval_before = inv.approval
    try:
        with transaction.atomic(using=operation.using):
            result, event = _execute(inv, operation, principal, digest)
    except BaseException as exc:
        # Rolled back: nothing of it landed, not even the approval request it may have made.
        inv.changes = inv.affected_rows = None
        inv.approval = approval_before
        if isinstance(exc, budgets.BudgetRefusal) and not exc.stopped:
            budgets.record_trip(exc, inv.context, inv.tool, operation.using)
        return _after_rollback(inv, req, exc, digest)
    inv.audit_event = event
    return result


def decide(inv: Invocation, operation: WriteOperation) -> dict[str, Any]:
    """What the policy says of the write, in the pipeline's order (budgets, rows, preview
    required, approval), executing, locking and spending nothing: ``ok`` (it would run),
    ``pending_approval`` (held, ``approvers_required``, ``rule_ids``, ``why_held``), or the
    refusal it would get, raised. An idempotency key is not looked up (the policy is judged,
    not the history); a domain tool's function doesn't run (its rows count as none)."""
    req = operation.req
    operation.prepare()
    if inv.count_by_id or req.where is not None or req.tool == "db.create":
        operation.count()
    else:
        operation.affected = 1
    escalations: tuple[str, ...] = ()
    if inv.check_budgets and operation.changes_things:
        refusal, escalations = budgets.foresee(
            inv.policy,
            inv.context,
            req.tool,
            operation.counted_model,
            operation.using,
            rows=operation.affected,
            label=operation.counted_label,
            pks=operation.touched_ids,
        )
        if refusal is not None:
            raise refusal
    check_previewed(inv, req.tool, operation.affected)
    need = operation.approval_need(escalations)
    if need is not None:
        return {
            "outcome": "pending_approval",
            "approvers_required": need.approvers,
            "rule_ids": list(need.rule_ids),
            "why_held": list(need.reasons),
            "affected_rows": operation.affected,
        }
    return {"outcome": "ok", "affected_rows": operation.affected}


def _dry_run(inv: Invocation, operation: WriteOperation) -> dict[str, Any]:
    """The preview, with what the gate and the budgets would say of the call (nothing is
    locked or spent)."""
    req = operation.req
    preview = operation.preview()
    refusal, escalations = budgets.foresee(
        inv.policy,
        inv.context,
        req.tool,
        operation.counted_model,
        operation.using,
        rows=operation.affected,
        label=operation.counted_label,
        pks=operation.touched_ids,
    )
    need = operation.approval_need(escalations)
    result = {
        "outcome": "dry_run",
        "affected_rows": operation.affected,
        **preview,
        "would_require_approval": need is not None,
        **({"approvers_required": need.approvers} if need else {}),
    }
    if refusal is not None:
        # The write itself would be refused: say so now, with the same error it would get.
        result["would_be_denied"] = refusal.as_error()
    return result


def _replay(inv: Invocation, record: Any, req: WriteRequest, digest: str) -> dict[str, Any]:
    """The stored answer; the retry's own audit row points at the call that answered it
    (and at its approval, for a held or approved call)."""
    inv.caused_by = record.audit_event
    if record.audit_event is not None and record.audit_event.approval_id:
        inv.approval = record.audit_event.approval
    return idempotency.replay(record, req.tool, digest)


def _after_rollback(
    inv: Invocation, req: WriteRequest, exc: BaseException, digest: str
) -> dict[str, Any]:
    """What a write that rolled back answers: a replay when a racing retry with the same
    key committed first, ``WRITE_CONFLICT`` for a collision worth retrying; otherwise the
    refusal itself, which the runtime audits."""
    if isinstance(exc, IntegrityError):
        if req.idempotency_key:
            record = idempotency.find(inv.context.principal, req.idempotency_key)
            if record is not None:
                return _replay(inv, record, req, digest)
        raise ToolError(
            codes.WRITE_CONFLICT,
            "The write collided with a concurrent change or a database constraint and was "
            "rolled back; nothing was changed. Read the rows again, then retry.",
        ) from None
    if isinstance(exc, OperationalError) and (
        getattr(exc.__cause__, "sqlstate", None) in RETRYABLE_SQLSTATES
    ):
        raise ToolError(
            codes.WRITE_CONFLICT,
            "The write collided with a concurrent write (the database broke a deadlock) and "
            "was rolled back; nothing was changed. Send the call again.",
        ) from None
    raise exc


def _execute(
    inv: Invocation, operation: WriteOperation, principal: str, digest: str
) -> tuple[dict[str, Any], Any]:
    """Steps 5 and 7 to 10, inside the write's transaction."""
    req = operation.req
    # Every write takes its budgets' locks before any row lock: one lock order, so a create
    # (whose foreign key locks a parent) and an update can't deadlock. An approved call was
    # authorised by people (and counted when it was held): no budget or gate holds it.
    approved = inv.approval is not None
    charge = (
        None
        if approved or not operation.changes_things
        else budgets.charge_for(
            inv.policy, inv.context, req.tool, operation.counted_model, operation.using
        )
    )
    operation.measure()
    if (
        approved
        and req.where is not None
        and operation.within is None
        and operation.affected > (inv.approval.affected_rows or 0)
    ):
        # A request held before its keys were kept (held_ids) has only its count to go by:
        # a write that has grown since is not what people approved.
        raise ToolDenied(
            codes.APPROVED_SCOPE_EXCEEDED,
            f"The approved write now matches {operation.affected} rows, more than the "
            f"{inv.approval.affected_rows} that were approved; nothing was changed. "
            "Ask again with a fresh preview.",
            rule=f"approval:{inv.approval.pk}",
        )
    escalations: tuple[str, ...] = ()
    if charge is not None:
        # A row budget's windows are the rows': locked after them, as every write does.
        escalations = charge.admit(operation.affected, operation.counted_label, operation.ids)
    if not approved:
        check_previewed(inv, req.tool, operation.affected)
    need = None if approved else operation.approval_need(escalations)
    if need is not None:
        result = hold(inv, operation, need)
        if charge is not None:
            charge.spend()  # a held call counts, as an executed one does
        event = record_invocation(inv, result)
        result["audit_id"] = event.id
        if req.idempotency_key:
            idempotency.remember(principal, req.idempotency_key, req.tool, digest, result, event)
        return result, event
    operation.validate()
    operation.spends = charge.spent() if charge is not None else []
    folded = None
    if operation.audits_in_statement():
        # The answer is known once measured: the write's statement inserts its audit row and
        # (unless an approved call replaces the held answer) its idempotency record.
        inv.affected_rows = operation.affected
        result = operation.result()
        event = operation.audit = invocation_event(inv, result)
        result["audit_id"] = event.id
        if req.idempotency_key and not approved:
            folded = idempotency.record_for(
                principal, req.idempotency_key, req.tool, digest, result, event
            )
            operation.also_insert = [folded] if folded is not None else []
        inv.changes = operation.execute()
    else:
        inv.changes = operation.execute()
        inv.affected_rows = operation.affected  # once it ran: a domain tool's are counted then
        result = operation.result()
        event = None
    if not operation.spent_in_statement:
        write_windows(operation.spends, operation.using)
    if event is None:
        event = record_invocation(inv, result)
    result["audit_id"] = event.id
    if req.idempotency_key and folded is None:
        idempotency.remember(
            principal, req.idempotency_key, req.tool, digest, result, event, replacing=approved
        )
    return result, event


def grant_of(policy: Any) -> dict[str, Any]:
    """What a narrowed policy (a capability token's) granted the requester, kept with a held
    call so that it runs under the same narrowing once approved; nothing for a whole policy."""
    if policy.tools is None:
        return {}
    return {"grant": {"models": [mp.label for mp in policy.models], "tools": sorted(policy.tools)}}


def hold(inv: Invocation, operation: WriteOperation, need: ApprovalNeed) -> dict[str, Any]:
    """Store the call for people to decide; nothing is written."""
    preview = operation.preview()  # what it would change, as a dry run shows it
    ctx = inv.context
    now = timezone.now()
    approval = ApprovalRequest.objects.create(
        created_at=now,
        expires_at=now + need.expires_in,
        tool=inv.tool,
        model=inv.model_label,
        call={"name": inv.tool, "arguments": inv.arguments},
        preview=preview,
        affected_rows=operation.affected,
        held_ids=None if inv.tool == "db.create" else [to_json(pk) for pk in operation.ids],
        rule_ids=list(need.rule_ids),
        remind_at=None if need.remind_after is None else now + need.remind_after,
        escalate_at=None if need.escalate_after is None else now + need.escalate_after,
        escalate_to=list(need.escalate_to) or None,
        reason=inv.reason,
        why_held="; ".join(need.reasons),
        principal=ctx.principal,
        on_behalf_of=ctx.on_behalf_of or "",
        tenant_id="" if ctx.tenant_id is None else str(ctx.tenant_id),
        context={
            "principal": ctx.principal,
            "tenant_id": ctx.tenant_id,
            "on_behalf_of": ctx.on_behalf_of,
            "run_id": ctx.run_id,
            **grant_of(inv.policy),
        },
        run_id=ctx.run_id or "",
        approvers_required=need.approvers,
    )
    inv.approval = approval
    transaction.on_commit(
        lambda: signals.notify(
            signals.approval_requested, sender=ApprovalRequest, approval=approval
        )
    )
    return {
        "outcome": "pending_approval",
        "approval_id": approval.id,
        "expires_at": utc_iso(approval.expires_at),
        "approvers_required": approval.approvers_required,
    }
