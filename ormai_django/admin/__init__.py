"""Django admin: the approval queue (decide held calls), the audit dashboard, and the write
budgets (reset a stopped run).

All are read-only: nobody adds, edits or deletes an approval request or an audit row
here. A held call is decided only through ``ormai_django.approvals.approve`` / ``deny``
(the one path every entry point takes), by users with the
``ormai_django.approve_approvalrequest`` permission, and the admin user's username is the
approver the ledger records.

``AgentHistoryMixin`` adds to a host model's own admin page what the agent did to that
object (its writes, with "Roll back", and its approval requests).
"""

from ormai_django.admin import approvals, audit, budgets  # noqa: F401  (registers the pages)
from ormai_django.admin.object_history import AgentHistoryMixin

__all__ = ["AgentHistoryMixin"]
