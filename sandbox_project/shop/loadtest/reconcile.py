"""The reconciliation: what the agents were told, checked against the database.

Run after the server has stopped, on the scratch database. Each check is ``ok`` or
``FAILED`` with the figures behind it; the command exits non-zero if any failed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ormai_django.models import ApprovalRequest, AuditEvent
from sandbox_project.shop.loadtest.agents import (
    CREATE,
    HELD,
    PLAIN,
    PLAIN_UPDATE,
    RETRY_OF,
    TOOL,
    UPDATE,
    Agent,
    Call,
)
from sandbox_project.shop.models import Note, Order

RETRIES = frozenset(RETRY_OF.values())
REASON_PREFIX = "load test "
NOTE_PREFIX = "load test note "
SHOWN = 3  # examples quoted in a failed check's detail


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _examples(items: Iterable[object]) -> str:
    items = list(items)
    return "" if not items else "; e.g. " + ", ".join(str(i) for i in items[:SHOWN])


def reconcile(agents: list[Agent], seeded: dict[int, str]) -> list[Check]:
    """Every check of the run (``seeded``: each owned order's status before the run)."""
    calls = [call for agent in agents for call in agent.calls]  # each agent's in order
    tool_calls = [c for c in calls if c.surface == TOOL]
    return [
        _no_server_errors(calls),
        _as_expected(calls),
        _retries_replayed(tool_calls),
        _no_lost_order_update(calls, seeded),
        _no_lost_note(tool_calls),
        _no_duplicated_note(tool_calls),
        _retried_keys_wrote_once(tool_calls),
        _one_audit_and_history_row_per_write(tool_calls),
        _one_audit_row_per_call(tool_calls),
        _one_approval_per_held_call(tool_calls),
    ]


def _no_server_errors(calls: list[Call]) -> Check:
    bad = [c for c in calls if c.status == 0 or c.status >= 500]
    return Check(
        "no 5xx, no call left without an answer",
        not bad,
        f"{len(bad)} of {len(calls)} calls" + _examples(f"{c.kind}: {c.outcome}" for c in bad),
    )


def _as_expected(calls: list[Call]) -> Check:
    bad = Counter(f"{c.kind} -> {c.status} {c.outcome}" for c in calls if not c.as_expected)
    return Check(
        "every call answered as its kind should (no RATE_LIMITED, no conflict, no error)",
        not bad,
        f"{sum(bad.values())} of {len(calls)} calls otherwise"
        + _examples(f"{what} x{n}" for what, n in bad.most_common()),
    )


def _retries_replayed(calls: list[Call]) -> Check:
    originals = {c.key: c for c in calls if c.kind in RETRY_OF}
    retries = [c for c in calls if c.kind in RETRIES]
    bad = [
        r.key
        for r in retries
        if r.result.get("idempotent_replay") is not True
        or r.result.get("audit_id") != originals[r.key].result.get("audit_id")
        or r.result.get("approval_id") != originals[r.key].result.get("approval_id")
    ]
    return Check(
        "every retry came back idempotent_replay: true, with the first call's audit_id",
        not bad,
        f"{len(retries) - len(bad)} of {len(retries)} retries"
        + (" (none sent: raise --calls)" if not retries else "")
        + _examples(bad),
    )


def _no_lost_order_update(calls: list[Call], seeded: dict[int, str]) -> Check:
    expected = dict(seeded)
    acknowledged = Counter()
    for call in calls:
        if call.kind in (UPDATE, PLAIN_UPDATE) and call.as_expected:
            expected[call.order_id] = call.order_status
            acknowledged[call.surface] += 1
    actual = dict(Order.objects.filter(pk__in=expected).values_list("pk", "status"))
    lost = [
        f"order {pk} is {actual.get(pk)}, not {want}"
        for pk, want in expected.items()
        if actual.get(pk) != want
    ]
    return Check(
        "no lost update: each order's status is the last one acknowledged",
        not lost,
        f"{len(expected)} orders; {acknowledged[TOOL]} tool and {acknowledged[PLAIN]} plain "
        f"updates acknowledged; {len(lost)} differ" + _examples(lost),
    )


def _no_lost_note(calls: list[Call]) -> Check:
    acknowledged = {
        c.result["ids"][0]: c.note_body for c in calls if c.kind == CREATE and c.as_expected
    }
    stored = dict(Note.objects.filter(pk__in=acknowledged).values_list("pk", "body"))
    lost = [pk for pk, body in acknowledged.items() if stored.get(pk) != body]
    return Check(
        "no lost note: every acknowledged db.create's Note exists",
        not lost,
        f"{len(acknowledged) - len(lost)} of {len(acknowledged)} found" + _examples(lost),
    )


def _no_duplicated_note(calls: list[Call]) -> Check:
    per_body = Counter(
        Note.objects.filter(body__startswith=NOTE_PREFIX).values_list("body", flat=True)
    )
    acknowledged = {c.note_body for c in calls if c.kind == CREATE and c.as_expected}
    twice = [body for body, n in per_body.items() if n > 1]
    unacknowledged = set(per_body) - acknowledged
    return Check(
        "no duplicated note: one Note per idempotency key, none unacknowledged",
        not twice and not unacknowledged,
        f"{len(per_body)} notes for {len(acknowledged)} acknowledged keys; "
        f"{len(twice)} keys with more than one, {len(unacknowledged)} unacknowledged"
        + _examples([*twice, *unacknowledged]),
    )


def _executed_by_key() -> Counter:
    return Counter(
        AuditEvent.objects.filter(outcome="ok", changes__isnull=False)
        .exclude(idempotency_key="")
        .values_list("idempotency_key", flat=True)
    )


def _history_by_reason() -> Counter:
    """History rows by the call's reason (a change reason is "<principal>: <reason>")."""
    rows = Counter()
    for model in (Order, Note):
        reasons = model.history.filter(
            history_change_reason__contains=f": {REASON_PREFIX}"
        ).values_list("history_change_reason", flat=True)
        rows.update(reason.split(": ", 1)[1] for reason in reasons)
    return rows


def _retried_keys_wrote_once(calls: list[Call]) -> Check:
    executed, history = _executed_by_key(), _history_by_reason()
    held = Counter(ApprovalRequest.objects.values_list("reason", flat=True))
    retried = {c.key: c for c in calls if c.kind in RETRIES}
    bad = []
    for key, retry in retried.items():
        if retry.kind == RETRY_OF[HELD]:
            wrote = (executed[key], history[retry.reason], held[retry.reason]) == (0, 0, 1)
        else:
            wrote = (executed[key], history[retry.reason]) == (1, 1)
        if not wrote:
            bad.append(key)
    return Check(
        "no duplicated write: each retried key has one executed audit row with changes and "
        "one history row (a held one: one ApprovalRequest, nothing executed)",
        not bad,
        f"{len(retried) - len(bad)} of {len(retried)} retried keys" + _examples(bad),
    )


def _one_audit_and_history_row_per_write(calls: list[Call]) -> Check:
    executed = {c.result["audit_id"] for c in calls if c.kind in (UPDATE, CREATE) and c.as_expected}
    with_changes = set(
        AuditEvent.objects.filter(outcome="ok", changes__isnull=False).values_list("id", flat=True)
    )
    history = sum(_history_by_reason().values())
    return Check(
        "one audit row with changes (and one history row) per executed write",
        with_changes == executed and history == len(executed),
        f"{len(executed)} executed writes acknowledged, {len(with_changes)} audit rows "
        f"with changes, {history} history rows",
    )


def _one_audit_row_per_call(calls: list[Call]) -> Check:
    answered = [c for c in calls if c.status]
    rows = AuditEvent.objects.count()
    return Check(
        "one audit row per tool call (reads, dry runs, replays and held calls included)",
        rows == len(answered),
        f"{rows} audit rows for {len(answered)} answered tool calls",
    )


def _one_approval_per_held_call(calls: list[Call]) -> Check:
    held = [c for c in calls if c.kind == HELD]
    ids = {c.result.get("approval_id") for c in held if c.as_expected}
    stored = Counter(ApprovalRequest.objects.values_list("status", flat=True))
    rows = sum(stored.values())
    return Check(
        "one ApprovalRequest per held call, all pending",
        len(ids) == len(held) == rows == stored[ApprovalRequest.Status.PENDING],
        f"{len(held)} held calls, {len(ids)} distinct approval ids, {rows} ApprovalRequest rows "
        f"({stored[ApprovalRequest.Status.PENDING]} pending)",
    )
