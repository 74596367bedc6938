"""Serializers of the API: request bodies, approval requests and audit events (read-only)."""

from __future__ import annotations

from rest_framework import serializers

from ormai_django.models import ApprovalDecision, ApprovalRequest, AuditEvent
from ormai_django.tools.registry import TOOLS

MAX_NOTE = 2000


class ToolCallSerializer(serializers.Serializer):
    """The body of ``POST tools/call/``: one tool call, as ``execute`` takes it."""

    name = serializers.ChoiceField(
        choices=[*TOOLS, *(spec.provider_name for spec in TOOLS.values())],
        help_text="The tool: db.query (or db_query), db.update, ...",
    )
    arguments = serializers.DictField(
        required=False, help_text="The tool's arguments (GET tools/ gives their schema)."
    )


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="A stable UPPER_SNAKE_CASE code.")
    message = serializers.CharField(help_text="What went wrong and what to do next.")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class OutcomeSerializer(serializers.Serializer):
    """A tool call's result; the other keys depend on the tool and the outcome."""

    outcome = serializers.ChoiceField(choices=AuditEvent.Outcome.values)
    audit_id = serializers.CharField(required=False)
    error = ErrorDetailSerializer(required=False)


class ToolListSerializer(serializers.Serializer):
    format = serializers.CharField()
    context = serializers.DictField(help_text="Who the calls run as: principal, tenant, run.")
    tools = serializers.ListField(child=serializers.DictField())


class DecisionRequestSerializer(serializers.Serializer):
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=MAX_NOTE,
        default="",
        help_text="Why; recorded with the decision and in the audit log.",
    )


class ApproveRequestSerializer(DecisionRequestSerializer):
    edits = serializers.DictField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Approve with changes: field values that replace the held call's data "
        "(only fields the agent may write). The edited call is validated and previewed again; "
        "approvals of the earlier version no longer count.",
    )


class DecisionResultSerializer(serializers.Serializer):
    approval_id = serializers.CharField()
    status = serializers.CharField()
    approvals = serializers.IntegerField()
    approvers_required = serializers.IntegerField()
    result = serializers.DictField(
        allow_null=True, help_text="The executed call's outcome, once it ran."
    )
    edited = serializers.BooleanField(
        required=False, help_text="Present (true) when the decision edited the call."
    )
    preview = serializers.DictField(
        required=False, help_text="The edited call's new preview (a dry run's outcome)."
    )


class RollbackRequestSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(
        required=False, default=False, help_text="Show what it would restore; change nothing."
    )
    force = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Overwrite rows changed by someone else since the write.",
    )
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=MAX_NOTE,
        default="",
        help_text="Why; recorded in the rollback's audit row.",
    )


class ApprovalDecisionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApprovalDecision
        fields = ("approver", "verdict", "note", "edits", "revision", "created_at")
        read_only_fields = fields


class ApprovalRequestSerializer(serializers.ModelSerializer):
    decisions = ApprovalDecisionSerializer(many=True, read_only=True)
    approvals = serializers.SerializerMethodField(
        help_text="How many distinct people approved so far."
    )

    class Meta:
        model = ApprovalRequest
        fields = (
            "id",
            "status",
            "tool",
            "model",
            "call",
            "preview",
            "affected_rows",
            "reason",
            "why_held",
            "principal",
            "on_behalf_of",
            "tenant_id",
            "run_id",
            "approvers_required",
            "approvals",
            "decisions",
            "edits",
            "edited_call",
            "edited_preview",
            "revision",
            "created_at",
            "expires_at",
            "decided_at",
            "result",
            "failure",
        )
        read_only_fields = fields

    def get_approvals(self, approval: ApprovalRequest) -> int:
        # Counted from the prefetched decisions: no query per row.
        return sum(
            1
            for decision in approval.decisions.all()
            if decision.verdict == ApprovalDecision.Verdict.APPROVE
            and decision.revision == approval.revision
        )


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = (
            "id",
            "created_at",
            "tool",
            "model",
            "principal",
            "on_behalf_of",
            "tenant_id",
            "run_id",
            "reason",
            "arguments",
            "outcome",
            "error_code",
            "error_message",
            "affected_rows",
            "changes",
            "approval",
            "caused_by",
            "idempotency_key",
            "duration_ms",
        )
        read_only_fields = fields


class AuditEventSummarySerializer(AuditEventSerializer):
    """An audit event in a list: everything but ``changes`` (a bulk write's before and
    after of every row it touched is read one event at a time)."""

    class Meta(AuditEventSerializer.Meta):
        fields = tuple(f for f in AuditEventSerializer.Meta.fields if f != "changes")
        read_only_fields = fields
