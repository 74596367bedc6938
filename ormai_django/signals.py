"""Signals a project connects to for notifications (Slack, e-mail, a pager...).

Each is sent after the transaction that caused it commits. The approval signals carry
``approval`` (the ``ApprovalRequest``); ``approval_decided`` also carries ``decision`` (the
``ApprovalDecision``), ``approval_escalated`` carries ``users`` (the Django users told, each
holding the approve permission). ``budget_exceeded`` is sent once per trip, when a write
budget refuses or holds a write, with ``budget`` (a dict: id, scope, model, max_calls,
max_rows, per_seconds, on_exceed), ``scope_key`` (str), ``used`` (dict), ``context`` (the
``ToolContext``) and ``tool`` (str).

    from ormai_django.signals import approval_requested

    @receiver(approval_requested)
    def tell_the_team(sender, approval, **kwargs): ...

``budget_exceeded`` is sent once per trip: when a write budget first refuses a call in a
scope (for a run budget, the moment the run is stopped), or first escalates one to
approval; again only after the budget has had room in that scope (or, for a stopped run,
after an operator reset it). Its sender is ``BudgetWindow``; its keyword arguments:

- ``budget``: a dict ``{"id", "scope", "model", "max_calls", "max_rows", "per_seconds",
  "on_exceed"}`` (``model`` a label such as ``"shop.Note"``, or None; ``per_seconds``
  None for a budget that counts for the life of its scope);
- ``scope_key``: which principal, tenant, run (``'["7", "run-7c2d"]'``: tenant and run
  id) or row (``"shop.Note:12"``) tripped it, as a string;
- ``used``: ``{"calls": n, "rows": m}``, what the budget had counted in that scope when it
  tripped (a refused call is not among them; a held one is);
- ``context``: the ``ToolContext`` of the call that tripped it;
- ``tool``: the tool that call named (``"db.update"``).

    @receiver(budget_exceeded)
    def page_someone(sender, budget, scope_key, used, context, tool, **kwargs): ...
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
