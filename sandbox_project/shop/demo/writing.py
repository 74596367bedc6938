"""Act 2 of the demo: the agent writes, and every write is explained, bounded and recorded.

Its writes stay fresh when the demo runs again at once, without a new seed: the
idempotency key and the principal that trips the rate limit carry the run's start
time. The support bot itself makes 3 writes a run, so three runs fit in its 10
writes a minute; a fourth within the minute fails, saying how long to wait.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ormai_django import ToolContext
from ormai_django.models import AuditEvent
from sandbox_project.shop.demo.runner import CONTEXT, Call, DemoRun, HostFacts, Step
from sandbox_project.shop.models import Customer, Note, Order

WRITE_TOOLS = ("db.create", "db.update", "db.delete")


def opened_customer(run: DemoRun) -> dict[str, Any]:
    """The customer the agent opened in act 1 (the first row db.get returned)."""
    return next(r["row"] for r in run.results if r["outcome"] == "ok" and "row" in r)


def first_name(row: dict[str, Any]) -> str:
    return row["name"].split()[0]


def write_tally(run: DemoRun, principal: str) -> tuple[int, int]:
    """(write calls ``principal`` sent in this run, how many the rate limit counts):
    writes that ran or were held count; dry runs, denials, errors and replays don't."""
    sent = counted = 0
    for who, call, result in zip(run.principals, run.calls, run.results, strict=True):
        if who != principal or not isinstance(call, dict) or call["name"] not in WRITE_TOOLS:
            continue
        sent += 1
        counted += result["outcome"] in ("ok", "pending_approval") and not result.get(
            "idempotent_replay"
        )
    return sent, counted


def ledger_aside(run: DemoRun) -> str:
    """What the reasoned write left behind: its audit row and the customer's history row."""
    event = AuditEvent.objects.get(pk=run.last["audit_id"])
    customer_id = run.last["ids"][0]
    history = Customer.history.filter(id=customer_id).order_by("-history_id").first()
    return (
        f"Host check: audit row {event.pk} keeps changes={json.dumps(event.changes)}; "
        f"customer {customer_id}'s newest history row is type {history.history_type!r} "
        f"with change reason {history.history_change_reason!r}."
    )


def replay_aside(run: DemoRun) -> str:
    """The retried write ran once: one history row and one audit row with changes for it."""
    customer_id = run.last["ids"][0]
    arguments = run.calls[-1]["arguments"]
    history = Customer.history.filter(
        id=customer_id, history_change_reason=arguments["reason"], history_date__gte=run.started
    )
    writes = AuditEvent.objects.filter(
        idempotency_key=arguments["idempotency_key"], changes__isnull=False
    )
    original = run.last["audit_id"]  # the replay returns the stored result, audit id included
    retries = AuditEvent.objects.filter(
        caused_by_id=original, idempotency_key=arguments["idempotency_key"]
    )
    return (
        f"Host check: in this run customer {customer_id} got {history.count()} history row "
        f"with this reason, and {writes.count()} audit row with changes carries the key: "
        f"{original}, which the retry's own audit row ({retries.count()}) points at."
    )


def write_steps(facts: HostFacts) -> list[Step]:
    """Act 2: the agent writes, and every write is explained, bounded and recorded."""
    limit = facts.writes_per_minute
    greet = "The customer asked to be addressed by their first name."
    language_key = f"demo-{facts.run_stamp}-language"
    sync = ToolContext(
        principal=f"agent:crm-sync/{facts.run_stamp}", tenant_id=7, run_id=CONTEXT.run_id
    )

    def rename(run: DemoRun, **extra: Any) -> Call:
        customer = opened_customer(run)
        arguments = {
            "model": "Customer",
            "id": customer["id"],
            "data": {"preferred_name": first_name(customer)},
        }
        return {"name": "db.update", "arguments": arguments | extra}

    def set_language(run: DemoRun) -> Call:
        arguments = {
            "model": "Customer",
            "id": opened_customer(run)["id"],
            "data": {"preferred_language": "fr"},
            "reason": "The customer asked for emails in French.",
            "idempotency_key": language_key,
        }
        return {"name": "db.update", "arguments": arguments}

    def sync_write(index: int) -> Callable[[DemoRun], Call]:
        def call(run: DemoRun) -> Call:
            opened = opened_customer(run)["id"]
            pk, name = [c for c in facts.sync_customers if c[0] != opened][index]
            arguments = {
                "model": "Customer",
                "id": pk,
                "data": {"preferred_name": name},
                "reason": "CRM sync: preferred name as recorded in the CRM.",
            }
            return {"name": "db.update", "arguments": arguments}

        return call

    def budget_narration(run: DemoRun) -> str:
        sent, counted = write_tally(run, CONTEXT.principal)
        return (
            f"Rate limit: the policy allows {limit} writes a minute per principal. The support "
            f"bot sent {sent} write calls in this run and {counted} of them count (held calls "
            "count too; dry runs, denials and replays don't). So as not to spend its budget "
            "(the demo can run again at once), a second agent trips the limit: a CRM sync "
            "with its own principal, named after this run's start, fills in preferred names, "
            f"{limit} "
            f"writes in a row. Write 1 of {limit}:"
        )

    steps = [
        Step(
            "The user asks the agent to greet the customer it just opened by first name. "
            "Its first attempt sends no reason: denied, since writes to Customer must say why.",
            rename,
            expect="denied REASON_REQUIRED",
        ),
        Step(
            "Guard rail: the agent may write only the fields the policy lists "
            "(preferred_name, preferred_language); is_vip isn't one, reason or not.",
            lambda run: {
                "name": "db.update",
                "arguments": {
                    "model": "Customer",
                    "id": opened_customer(run)["id"],
                    "data": {"is_vip": True},
                    "reason": "The customer asked to be made a VIP.",
                },
            },
            expect="denied FIELD_NOT_WRITABLE",
        ),
        Step(
            "With a reason, the write runs. In the same transaction, the audit row named by "
            "audit_id keeps the before and after values, and a django-simple-history row "
            "records the change, with the reason as its change reason.",
            lambda run: rename(run, reason=greet),
            aside=ledger_aside,
        ),
        Step(
            "Before a bulk change, a preview: 'cancel every pending order', with dry_run. "
            "affected_rows is exact, would_change shows each row's before and after, and "
            "would_require_approval says whether a human would have to sign off (the policy "
            "holds Order updates over 50 rows). Nothing changes; no model signal fires.",
            {
                "name": "db.update",
                "arguments": {
                    "model": "Order",
                    "where": {"status": "pending"},
                    "data": {"status": "cancelled"},
                    "reason": "The user asked what cancelling every pending order would do.",
                    "dry_run": True,
                },
            },
            expect="dry_run",
            aside=lambda run: (
                "Host check: tenant 7 still has "
                f"{Order.objects.filter(tenant_id=7, status='pending').count()} pending orders."
            ),
        ),
        Step(
            "The customer wants emails in French. The agent sends the write with an "
            "idempotency_key, one per intended change...",
            set_language,
        ),
        Step(
            "...and, as if the connection had dropped before the answer came, sends the very "
            "same call again. It gets the first answer back, marked idempotent_replay; nothing "
            "runs twice (the audit_id is the first write's; the retry's own audit row points "
            "at it).",
            set_language,
            expect_fields={"idempotent_replay": True},
            aside=replay_aside,
        ),
        Step(
            "It leaves a note on the customer's file. The agent sends only the customer and "
            "the text; the note is stamped with the context's tenant (tenant_id isn't writable).",
            lambda run: {
                "name": "db.create",
                "arguments": {
                    "model": "Note",
                    "data": {
                        "customer": opened_customer(run)["id"],
                        "body": "Asked to be addressed by first name and to get emails in French.",
                    },
                    "reason": "Keep the customer's requests on file.",
                },
            },
            aside=lambda run: (
                f"Host check: note {run.last['ids'][0]} has tenant_id "
                f"{Note.objects.get(pk=run.last['ids'][0]).tenant_id}."
            ),
        ),
    ]
    steps.append(Step(budget_narration, sync_write(0), context=sync))
    steps += [
        Step(f"Write {n + 1} of {limit}.", sync_write(n), context=sync, brief=True)
        for n in range(1, limit)
    ]
    steps.append(
        Step(
            f"Write {limit + 1} within the minute: denied RATE_LIMITED, nothing written. "
            "retry_after is the wait, in seconds, until its oldest write leaves the sliding "
            "minute. The support bot's budget is its own: it could still write.",
            sync_write(limit),
            expect="denied RATE_LIMITED",
            context=sync,
        )
    )
    return steps
