"""Deciding held calls: ``approve``, ``deny`` (and ``aapprove``, ``adeny``), and expiry.

    from ormai_django.approvals import approve, deny

    approve(approval_id="appr_01J...", approver_user_id="lee@example.com", note="OK per CSM")
    approve(approval_id="appr_01J...", approver_user_id="lee@example.com",
            note="Pro, not Enterprise", edits={"plan": "pro"})

A decision locks the approval row, so decisions that race are counted one at a time and
the held call runs exactly once, when the N-th distinct approval lands. It runs through
the one pipeline again (the policy and the rows may have changed since it was held),
skipping only the approval gate and the rate limit a human has just overridden. An
approver may correct the call (``edits``): the edited call is validated and previewed
again, and the approvals given to the earlier version no longer count. A refused decision
raises ``ApprovalError`` with a stable ``code``.
"""

from ormai_django.approvals.decisions import (
    EXPIRY_PRINCIPAL,
    aapprove,
    adeny,
    approve,
    check_decision,
    deny,
    request_event,
)
from ormai_django.approvals.expiry import expire_approvals
from ormai_django.approvals.reminders import (
    REMINDER_PRINCIPAL,
    approvers_named,
    remind_and_escalate,
)
from ormai_django.codes import (
    APPROVAL_EXPIRED,
    APPROVAL_NOT_PENDING,
    APPROVER_IS_REQUESTER,
    DUPLICATE_APPROVER,
    INVALID_APPROVER,
    INVALID_EDITS,
    UNKNOWN_APPROVAL,
)
from ormai_django.errors import ApprovalError

__all__ = [
    "APPROVAL_EXPIRED",
    "APPROVAL_NOT_PENDING",
    "APPROVER_IS_REQUESTER",
    "DUPLICATE_APPROVER",
    "EXPIRY_PRINCIPAL",
    "INVALID_APPROVER",
    "INVALID_EDITS",
    "REMINDER_PRINCIPAL",
    "UNKNOWN_APPROVAL",
    "ApprovalError",
    "aapprove",
    "adeny",
    "approve",
    "approvers_named",
    "check_decision",
    "deny",
    "expire_approvals",
    "remind_and_escalate",
    "request_event",
]
