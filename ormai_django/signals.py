"""Signals a project connects to for notifications (Slack, e-mail, a pager...).

Each approval signal is sent after the transaction that caused it commits, with
``approval`` (the ``ApprovalRequest``); ``approval_decided`` also carries ``decision`` (the
``ApprovalDecision``), ``approval_escalated`` carries ``users`` (the Django users told, each
holding the approve permission). ``budget_exceeded`` is sent when a write budget refuses or
holds a write, with ``budget`` (a dict: id, scope, model, max_calls, max_rows, per_seconds,
on_exceed), ``scope_key`` (str), ``used`` (dict), ``context`` (the ``ToolContext``) and
``tool`` (str).

    from ormai_django.signals import approval_requested

    @receiver(approval_requested)
    def tell_the_team(sender, approval, **kwargs): ...
"""

from django.dispatch import Signal

approval_requested = Signal()
approval_decided = Signal()
approval_expired = Signal()
approval_reminded = Signal()
approval_escalated = Signal()
budget_exceeded = Signal()


def notify(signal: Signal, **kwargs: object) -> None:
    """Send ``signal`` to every receiver; one that raises is logged and never undoes, or
    hides, the write or decision that already committed."""
    import logging

    for receiver, response in signal.send_robust(**kwargs):
        if isinstance(response, Exception):
            logging.getLogger("ormai_django").error(
                "ormai_django: a %s receiver (%r) raised",
                kwargs.get("sender"),
                receiver,
                exc_info=response,
            )
