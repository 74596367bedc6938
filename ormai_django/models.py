"""The ledger of ormai_django.

``AuditEvent`` is append-only: a row is written once per tool call and never
updated or deleted through the ORM or the admin; on PostgreSQL a trigger refuses
UPDATE and DELETE in the database itself (migration 0002).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ormai_django.fields import LedgerJSONField
from ormai_django.ids import new_id


def new_audit_id() -> str:
    return new_id("aud")


def new_approval_id() -> str:
    return new_id("appr")


class AppendOnlyError(Exception):
    """Raised on an attempt to change or delete an audit row."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("Audit events are append-only; they can't be updated.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Audit events are append-only; they can't be deleted.")

    def bulk_update(self, *args: Any, **kwargs: Any) -> int:
        raise AppendOnlyError("Audit events are append-only; they can't be updated.")

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[Any]:
        # An upsert rewrites the row it collides with: an update by another name.
        if kwargs.get("update_conflicts"):
            raise AppendOnlyError("Audit events are append-only; an upsert can't rewrite one.")
        return super().bulk_create(objs, *args, **kwargs)


class AuditEvent(models.Model):
    """One tool call: who, what, why, the outcome, and for writes the rows it changed."""

    class Outcome(models.TextChoices):
        OK = "ok", "ok"
        DRY_RUN = "dry_run", "dry run"
        PENDING_APPROVAL = "pending_approval", "pending approval"
        DENIED = "denied", "denied"
        ERROR = "error", "error"

    id = models.CharField(primary_key=True, max_length=32, default=new_audit_id, editable=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The columns people filter on are indexed together with created_at (Meta.indexes), so
    # a filtered list reads its newest rows in index order.
    tool = models.CharField(max_length=64)
    model = models.CharField(max_length=200, blank=True)
    principal = models.CharField(max_length=200)
    on_behalf_of = models.CharField(max_length=200, blank=True)
    tenant_id = models.CharField(max_length=64, blank=True)
    run_id = models.CharField(max_length=200, blank=True)
    reason = models.TextField(blank=True)
    arguments = LedgerJSONField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    affected_rows = models.IntegerField(null=True, blank=True)
    changes = LedgerJSONField(null=True, blank=True)
    # What a domain tool's function returned (its compensation receives it).
    result = LedgerJSONField(null=True, blank=True)
    caused_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="consequences",
        help_text="The event this one follows from (a rollback's original write, say).",
    )
    idempotency_key = models.CharField(max_length=200, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    # What ORMAI["SHADOW_POLICY"] would have answered (policy, verdict, code, rule...).
    shadow_verdict = LedgerJSONField(null=True, blank=True)
    approval = models.ForeignKey(
        "ApprovalRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="events",
        help_text="The held call this event requested, decided, expired or executed.",
    )

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        # Related lookups and deletes go through the guarded queryset too.
        base_manager_name = "objects"
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=("principal", "created_at"), name="ormai_audit_principal_time"),
            # The admin's filters (migration 0016, docs/dashboard.md shows the plans).
            models.Index(fields=("outcome", "created_at"), name="ormai_audit_outcome_time"),
            models.Index(fields=("tool", "created_at"), name="ormai_audit_tool_time"),
            models.Index(fields=("model", "created_at"), name="ormai_audit_model_time"),
            models.Index(fields=("error_code", "created_at"), name="ormai_audit_error_time"),
            models.Index(fields=("tenant_id", "created_at"), name="ormai_audit_tenant_time"),
            # A run (rollback_run, the run page): run id first, it alone is selective.
            models.Index(fields=("run_id", "tenant_id", "created_at"), name="ormai_audit_run_time"),
            # On PostgreSQL, 0016 also adds ormai_audit_time_covering: created_at INCLUDE
            # (outcome, tool, principal, model, error_code), for the dashboard's index-only
            # scans. It lives in the migration alone: SQLite has no INCLUDE, and Django warns
            # (models.W040) about such an index on every check there.
        ]
        constraints = [
            # A write is rolled back once: a second rollback, even a racing one, is refused.
            models.UniqueConstraint(
                fields=("caused_by",),
                condition=models.Q(tool="rollback", outcome="ok"),
                name="ormai_one_rollback_per_write",
            )
        ]
        permissions = [("rollback_auditevent", "Can roll back agent writes")]
        verbose_name = "audit event"

    def __str__(self) -> str:
        return f"{self.id} {self.tool} {self.model} {self.outcome}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Audit events are append-only; they can't be updated.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("Audit events are append-only; they can't be deleted.")


class IdempotencyRecord(models.Model):
    """The stored result of a write made with an idempotency key.

    Keyed by (principal, key); a retry with the same arguments gets ``result`` back
    unchanged, one with other arguments is ``IDEMPOTENCY_KEY_CONFLICT``. Written in the
    write's own transaction, so a record exists exactly when its write committed.
    """

    principal = models.CharField(max_length=200)
    key = models.CharField(max_length=200)
    arguments_hash = models.CharField(max_length=64)
    tool = models.CharField(max_length=64)
    result = LedgerJSONField()
    audit_event = models.ForeignKey(
        AuditEvent, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("principal", "key"), name="ormai_idempotency_unique")
        ]

    def __str__(self) -> str:
        return f"{self.principal} {self.key}"


class BudgetWindow(models.Model):
    """One write budget's usage in one scope (a principal, a run, a tenant, a row).

    ``recent`` is the sliding window: ``[[time, calls, rows], ...]``, one entry per slice
    of a sixtieth of the budget's window (a single entry for a budget that counts for the
    life of its scope). The row is locked while a write decides whether it fits and until
    it commits, so the count is exact across processes and threads. ``tripped_at`` is when
    the budget last refused or escalated a write in this scope; a run budget that refuses
    a write stops the run (``stopped``) until an operator resets it. ``expires_at`` is when
    the window is over and the row can be pruned (None: kept).
    """

    class Scope(models.TextChoices):
        PRINCIPAL = "principal", _("principal")
        RUN = "run", _("run")
        TENANT = "tenant", _("tenant")
        ROW = "row", _("row")

    budget = models.CharField(_("budget"), max_length=120)
    scope = models.CharField(_("scope"), max_length=10, choices=Scope.choices)
    scope_key = models.CharField(_("scope key"), max_length=255)
    # For finding a run's windows (reset) and filtering in the admin.
    tenant_id = models.CharField(_("tenant"), max_length=64, blank=True)
    run_id = models.CharField(_("run"), max_length=200, blank=True)
    recent = models.JSONField(_("recent writes"), default=list)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True, db_index=True)
    tripped_at = models.DateTimeField(_("tripped at"), null=True, blank=True)
    # A run budget that refused a write: the run is stopped until an operator resets it.
    stopped = models.BooleanField(_("run stopped"), default=False, db_index=True)
    # What tripped it: the call's tool and principal, the usage and the limit.
    trip = models.JSONField(_("trip"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("budget", "scope_key"), name="ormai_budget_window")
        ]
        indexes = [models.Index(fields=("run_id", "tenant_id"), name="ormai_budget_run")]
        permissions = [("reset_budgetwindow", _("Can reset a stopped agent run"))]
        verbose_name = _("budget window")
        verbose_name_plural = _("budget windows")

    def __str__(self) -> str:
        return f"{self.budget} {self.scope_key}"


class ApprovalRequest(models.Model):
    """A write held until enough distinct humans approve it (or one denies it, or it expires).

    The primary key is the public ``appr_...`` id. ``call`` is the tool call as the agent sent
    it; ``preview`` what it would have changed when it was held.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        EXECUTED = "executed", "executed"
        DENIED = "denied", "denied"
        EXPIRED = "expired", "expired"
        FAILED = "failed", "failed"

    id = models.CharField(primary_key=True, max_length=32, default=new_approval_id, editable=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField(db_index=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    tool = models.CharField(max_length=64)
    model = models.CharField(max_length=200)
    call = LedgerJSONField(help_text="The held call: {'name', 'arguments'}.")
    preview = LedgerJSONField(null=True, blank=True)
    affected_rows = models.IntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)
    why_held = models.TextField(blank=True)
    principal = models.CharField(max_length=200, db_index=True)
    on_behalf_of = models.CharField(max_length=200, blank=True)
    tenant_id = models.CharField(max_length=64, blank=True)
    run_id = models.CharField(max_length=200, blank=True)
    context = LedgerJSONField(
        null=True, blank=True, help_text="The requester's ToolContext, exactly as it was."
    )
    approvers_required = models.PositiveSmallIntegerField(default=1)
    # Approve with changes: what approvers changed, the call as it now runs, its preview.
    edits = LedgerJSONField(null=True, blank=True, help_text="Every edit approvers made.")
    edited_call = LedgerJSONField(
        null=True, blank=True, help_text="The call with the edits applied: what runs."
    )
    edited_preview = LedgerJSONField(null=True, blank=True)
    # Bumped by each edit: only approvals of the current revision count.
    revision = models.PositiveIntegerField(default=0)
    decided_at = models.DateTimeField(null=True, blank=True)
    result = LedgerJSONField(null=True, blank=True)
    failure = models.TextField(blank=True)
    # What the approvers saw is what runs: every key the write touched when it was held
    # (the preview shows the first of them); an approved write runs on no other row.
    held_ids = LedgerJSONField(
        null=True, blank=True, help_text="The primary keys measured when the call was held."
    )
    # The approval rules that held it (ApprovalRule.id), and when people are reminded, and
    # who is told when it escalates (usernames, "group:<name>").
    rule_ids = LedgerJSONField(null=True, blank=True)
    remind_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    escalate_at = models.DateTimeField(null=True, blank=True)
    escalate_to = LedgerJSONField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    # The last state approval.status showed the requester, and the audit row of that look:
    # a poll that sees nothing new writes no new audit row.
    status_seen = models.CharField(max_length=64, blank=True)
    status_seen_event = models.ForeignKey(
        AuditEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-created_at",)
        permissions = [("approve_approvalrequest", "Can approve or deny held agent writes")]

    def __str__(self) -> str:
        return f"{self.id} {self.tool} {self.model} ({self.status})"


class ApprovalDecision(models.Model):
    """One person's approve or deny on a held call; one per person per request."""

    class Verdict(models.TextChoices):
        APPROVE = "approve", "approve"
        DENY = "deny", "deny"

    approval = models.ForeignKey(
        ApprovalRequest, on_delete=models.CASCADE, related_name="decisions"
    )
    approver = models.CharField(max_length=200)
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    note = models.TextField(blank=True)
    # The changes this approver made to the call (approve with changes), if any.
    edits = LedgerJSONField(null=True, blank=True)
    # The revision of the call this decision is about (ApprovalRequest.revision).
    revision = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("created_at",)
        constraints = [
            models.UniqueConstraint(
                fields=("approval", "approver", "revision"),
                name="ormai_one_decision_per_approver_and_revision",
            )
        ]

    def __str__(self) -> str:
        return f"{self.approver} {self.verdict} {self.approval_id}"


class ApprovalMessage(models.Model):
    """A chat message that shows an approval request (Slack: its channel and ``ts``), kept so
    the message is updated in place as the request is decided, runs, fails or expires."""

    approval = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="messages")
    service = models.CharField(max_length=20)
    channel = models.CharField(max_length=100)
    ts = models.CharField(max_length=64)
    posted_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("approval", "service"), name="ormai_one_message_per_service"
            )
        ]

    def __str__(self) -> str:
        return f"{self.service} {self.channel} {self.ts} ({self.approval_id})"


class InteractionReceipt(models.Model):
    """An interaction a chat service sent (a button click, a modal's submission), recorded
    once: a retry of the same interaction finds its receipt and decides nothing again."""

    key = models.CharField(max_length=200, unique=True)
    service = models.CharField(max_length=20)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.service} {self.key}"
