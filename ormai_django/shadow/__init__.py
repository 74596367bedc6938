"""Shadow mode: what a candidate policy would have changed, before it is switched on.

- ``replay(policy, since=...)``: the calls of the audit log, decided again under the
  candidate (``runtime.decide_call``: nothing executes, no row, no audit row, no budget use).
- ``recorded(since=...)``: the verdicts ``ORMAI["SHADOW_POLICY"]`` recorded beside the live
  calls (``AuditEvent.shadow_verdict``).

Both return a :class:`~ormai_django.shadow.report.ShadowReport`; ``manage.py ormai_shadow``
prints one as a table, Markdown or JSON.
"""

from ormai_django.shadow.replay import recorded, replay
from ormai_django.shadow.report import ShadowReport

__all__ = ["ShadowReport", "recorded", "replay"]
