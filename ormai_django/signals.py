"""Signals a project connects to for notifications (Slack, e-mail, a pager...).

Each is sent after the transaction that caused it commits, with ``approval`` (the
``ApprovalRequest``); ``approval_decided`` also carries ``decision`` (the
``ApprovalDecision``).

    from ormai_django.signals import approval_requested

    @receiver(approval_requested)
    def tell_the_team(sender, approval, **kwargs): ...
"""

from django.dispatch import Signal

approval_requested = Signal()
approval_decided = Signal()
approval_expired = Signal()
