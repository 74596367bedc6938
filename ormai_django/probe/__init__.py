"""``ormai_probe``: a scripted adversary against a policy (DESIGN 14).

For every registered model and write tool, and every domain tool, it tries what a careless
or hostile agent would (a writable field, each field that isn't, a denied and a masked
field, no reason, a blank or invisible reason, another tenant's row by id and by where,
wheres with no condition, a where over the row cap, a reused idempotency key with other
arguments, a burst past each budget) through the real ``execute``, and checks every
outcome against the policy's inventory. Everything runs inside one transaction that is
rolled back at the end, each attempt in a savepoint of its own (so one attempt's budget use
never hides another's refusal): no row, no audit row, no approval request and no budget use
is left behind, and no ``on_commit`` hook (Slack, webhooks) fires.

    attempts = run_probe(get_policy(), principal="agent:probe", tenant_id=7)
    holes = [a for a in attempts if a.violation]
"""

from __future__ import annotations

from ormai_django.probe.attempts import Attempt
from ormai_django.probe.run import INJECTION, run_probe

__all__ = ["INJECTION", "Attempt", "run_probe"]
