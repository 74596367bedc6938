"""Act 3 of the demo: writes that wait for a human.

The policy holds three kinds of write for people to decide: every Subscription update
(one approver), a Customer delete (two approvers), and Note writes past a burst bound.
The agent asks for one of each; nothing is written, and the demo leaves them pending,
so after ``make demo`` they wait in the admin's approval queue (approve or deny them
there as the demo admin).

Like act 2, it can run again at once: its idempotency key and its third agent carry
the run's start time, so each run holds three new requests. The support bot's held
calls spend none of its rate limit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ormai_django import ToolContext
from ormai_django.models import ApprovalRequest
from sandbox_project.shop.demo.runner import CONTEXT, Call, DemoRun, HostFacts, Step
from sandbox_project.shop.demo.writing import opened_customer
from sandbox_project.shop.models import Customer, Note, Subscription

# The retention job's cut-off: every live note of tenant 7 written before it (more
# than the burst's 100 rows in the seed) gets its text redacted, in one call.
RETENTION_CUTOFF = "2026-10-15T00:00:00Z"
REDACTED = "[redacted: notes written before 15 October 2026 are not kept]"


def approval_row(approval_id: str) -> str:
    """A held request in one line, for a host check: id, status, approvers, expiry, why."""
    approval = ApprovalRequest.objects.get(pk=approval_id)
    expires = approval.expires_at.astimezone(dt.UTC)
    return (
        f"{approval.id}: status {approval.status}, approvers_required "
        f"{approval.approvers_required}, expires_at {expires:%Y-%m-%d %H:%M} UTC, "
        f"why_held {approval.why_held!r}"
    )


def subscription_of(run: DemoRun) -> dict[str, Any]:
    """The opened customer's subscription, as the agent's lookup returned it."""
    lookup = next(
        result
        for call, result in zip(run.calls, run.results, strict=True)
        if isinstance(call, dict) and call["arguments"].get("model") == "Subscription"
    )
    return lookup["rows"][0]


def approval_steps(facts: HostFacts) -> list[Step]:
    """Act 3: the agent asks for writes that wait for a human."""
    upgrade_key = f"demo-{facts.run_stamp}-upgrade"
    prospect_id, prospect_name = facts.prospect
    retention = ToolContext(
        principal=f"agent:retention/{facts.run_stamp}", tenant_id=7, run_id=CONTEXT.run_id
    )

    def upgrade(run: DemoRun, **extra: Any) -> Call:
        arguments = {
            "model": "Subscription",
            "id": subscription_of(run)["id"],
            "data": {"plan": "pro"},
            "reason": "The customer asked to upgrade to the Pro plan.",
        }
        return {"name": "db.update", "arguments": arguments | extra}

    def nothing_upgraded(run: DemoRun) -> str:
        subscription = Subscription.objects.get(pk=subscription_of(run)["id"])
        return (
            f"Host check: subscription {subscription.pk} is still on {subscription.plan!r}."
            " In the approval queue:\n" + approval_row(run.last["approval_id"])
        )

    def one_request(run: DemoRun) -> str:
        requests = [
            a.id
            for a in ApprovalRequest.objects.filter(
                principal=CONTEXT.principal, created_at__gte=run.started
            )
            if a.call["arguments"].get("idempotency_key") == upgrade_key
        ]
        return (
            f"Host check: this run holds {len(requests)} approval request for the key "
            f"{upgrade_key!r}: {', '.join(requests)}."
        )

    def prospect_kept(run: DemoRun) -> str:
        kept = Customer.objects.filter(pk=prospect_id).exists()
        return (
            f"Host check: customer {prospect_id} is {'still there' if kept else 'gone'}."
            " In the approval queue:\n" + approval_row(run.last["approval_id"])
        )

    def notes_kept(run: DemoRun) -> str:
        held = ApprovalRequest.objects.get(pk=run.last["approval_id"])
        redacted = Note.objects.filter(body=REDACTED).count()
        return (
            f"Host check: {redacted or 'none'} of the {held.affected_rows} notes it covers "
            f"{'is' if redacted <= 1 else 'are'} redacted. In the approval queue:\n"
            + approval_row(held.id)
        )

    return [
        Step(
            "Some writes wait for people: the policy holds them, and the demo leaves them "
            "pending for you to decide in the admin. First, the customer wants to move to the "
            "Pro plan; the agent looks up their subscription.",
            lambda run: {
                "name": "db.query",
                "arguments": {
                    "model": "Subscription",
                    "where": {"customer": opened_customer(run)["id"]},
                    "fields": ["customer", "plan", "seats", "status", "renews_on"],
                },
            },
        ),
        Step(
            "Before it asks, a dry run. The policy holds every Subscription update for a "
            "human, and the preview says so: would_require_approval is true, and "
            "approvers_required is how many people must approve. Nothing changes.",
            lambda run: upgrade(run, dry_run=True),
            expect="dry_run",
            expect_fields={"would_require_approval": True, "approvers_required": 1},
        ),
        Step(
            "The agent sends the upgrade, with an idempotency_key. It doesn't run: the "
            "answer is pending_approval, with the approval_id people decide on and expires_at, "
            "when an unanswered request expires (the auto-deny). Nothing is written until one "
            "person approves, and a held call spends none of the agent's rate limit.",
            lambda run: upgrade(run, idempotency_key=upgrade_key),
            expect="pending_approval",
            expect_fields={"approvers_required": 1},
            aside=nothing_upgraded,
        ),
        Step(
            "No answer came back (say the connection dropped), so the agent sends the very "
            "same call again, with the same key. It gets the same approval_id, marked "
            "idempotent_replay: one request waits, not two, and nobody is asked twice.",
            lambda run: upgrade(run, idempotency_key=upgrade_key),
            expect="pending_approval",
            expect_fields=lambda run: {
                "approval_id": run.results[-2].get("approval_id"),
                "idempotent_replay": True,
            },
            aside=one_request,
        ),
        Step(
            f"A prospect, {prospect_name} (customer {prospect_id}), who signed up but never "
            "subscribed or ordered, asks to have their account erased. The policy holds a "
            "Customer delete for two approvers, neither of them the agent nor the user it "
            "acts for. (DEFAULT_PROD refuses a delete that would cascade into other rows; "
            "this customer has no subscription, order or note, so nothing cascades.)",
            {
                "name": "db.delete",
                "arguments": {
                    "model": "Customer",
                    "id": prospect_id,
                    "reason": "The prospect asked to have their account erased.",
                },
            },
            expect="pending_approval",
            expect_fields={"approvers_required": 2},
            aside=prospect_kept,
        ),
        Step(
            "Bursts: Note writes run freely up to a burst of 20 calls or 100 rows a minute "
            "per principal; past it, a write waits for a human. At 10 writes a minute no "
            "agent gets to 20 calls, so rows are the bound that bites. A retention job, a "
            "third agent with a rate limit of its own (named after this run's start, like the "
            "CRM sync), redacts every note written before 15 October 2026 in one db.update: "
            "over 100 rows, so it is held for one approver, and why_held says why (it is also "
            "over the 100 rows DEFAULT_PROD lets one write touch). The approver sees the "
            "preview stored with the request.",
            {
                "name": "db.update",
                "arguments": {
                    "model": "Note",
                    "where": {"created_at__lt": RETENTION_CUTOFF},
                    "data": {"body": REDACTED},
                    "reason": "Retention: note text from before 15 October 2026 is not kept.",
                },
            },
            expect="pending_approval",
            expect_fields={"approvers_required": 1},
            context=retention,
            aside=notes_kept,
        ),
    ]
