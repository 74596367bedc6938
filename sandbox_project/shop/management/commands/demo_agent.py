"""``python manage.py demo_agent``: a scripted support agent, printed as a transcript.

Each step is a short narration, the tool call the agent sends (``>>>``) and the
JSON that ``ormai_django.execute`` returns (``<<<``). The script checks every
outcome it expects, so the demo doubles as a smoke test of the sandbox: a step
that behaves differently is flagged with ``!!`` and the command fails.

Run ``python manage.py seed_sandbox --reset`` first. To extend the demo (approvals,
rollback), add an act: a function that returns a list of ``Step``s and an entry
in ``ACTS``. A step's call (and its narration) can be a function of the run, to
use what an earlier step returned (a ``next_cursor``, an id, an ``approval_id``).

The demo can run again at once, without a new seed: what must be fresh in every
run (idempotency keys, the principal that trips the rate limit) carries the
run's start time. The support bot itself makes 3 writes a run, so three runs fit
in its 10 writes a minute; a fourth within the minute fails, saying how long to wait.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Max
from django.utils import timezone

from ormai_django import ToolContext, execute
from ormai_django.models import AuditEvent
from ormai_django.policy.loading import get_policy
from sandbox_project.shop.models import Customer, Note, Order
from sandbox_project.shop.seed import TENANTS

CONTEXT = ToolContext(
    principal="agent:support-bot", tenant_id=7, on_behalf_of="user:42", run_id="demo-run"
)
WIDTH = 100  # a JSON value that fits on one line of this width is printed on one line
SHOWN_ROWS = 3
LISTS_OF_ROWS = ("rows", "would_change")  # printed with their first SHOWN_ROWS rows only
WRITE_TOOLS = ("db.create", "db.update", "db.delete")

Call = dict[str, Any] | str
CallSource = Call | Callable[["DemoRun"], Call]


@dataclass(frozen=True)
class Step:
    """One call of the agent: what it means, what it sends, what should come back.

    ``expect`` is ``"ok"`` or ``"<outcome> <CODE>"`` (``"denied FIELD_DENIED"``);
    ``expect_fields`` are keys the result must carry with these values
    (``{"idempotent_replay": True}``); ``aside``, if given, is what the host checks
    behind the agent's back, printed after the result (``run.last`` is the result).
    ``context`` is another caller than the run's; a ``brief`` step continues a
    series and is printed without a blank line before it.
    """

    narration: str | Callable[[DemoRun], str]
    call: CallSource
    expect: str = "ok"
    aside: Callable[[DemoRun], str] | None = None
    expect_fields: Mapping[str, Any] = field(default_factory=dict)
    context: ToolContext | None = None
    brief: bool = False


@dataclass(frozen=True)
class HostFacts:
    """What the host knows that the agent doesn't: ids to aim the guard-rail steps at,
    and what makes this run's writes its own."""

    other_tenant_customer_id: int
    missing_customer_id: int
    # The run's start time (UTC, to the microsecond): part of its idempotency keys and
    # of the principal that trips the rate limit, so a run never meets the last one's.
    run_stamp: str
    writes_per_minute: int
    # (id, first name) of tenant 7's first customers: the CRM sync's targets.
    sync_customers: tuple[tuple[int, str], ...]


@dataclass
class DemoRun:
    """The state of one run: the context and every result so far, by step."""

    context: ToolContext
    started: datetime = field(default_factory=timezone.now)
    # Per step: who called (the principal), what it sent, what came back.
    principals: list[str] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    surprises: list[str] = field(default_factory=list)

    @property
    def last(self) -> dict[str, Any]:
        return self.results[-1]


def outcome_of(result: dict[str, Any]) -> str:
    """``"ok"``, or the outcome and its error code: ``"denied FIELD_DENIED"``."""
    code = (result.get("error") or {}).get("code")
    return f"{result['outcome']} {code}" if code else result["outcome"]


def render_json(value: Any, level: int = 0, prefix: str = "", key: str | None = None) -> list[str]:
    """Pretty JSON, indent 2, made for reading: a value that fits on a line stays on one,
    a container of short items wraps them several to a line, and a long ``rows`` (or
    ``would_change``) list shows its first rows and how many more there are."""
    pad = "  " * level
    flat = json.dumps(value, ensure_ascii=False)
    long_rows = key in LISTS_OF_ROWS and isinstance(value, list) and len(value) > SHOWN_ROWS
    if not isinstance(value, dict | list) or not value:
        return [pad + prefix + flat]
    if not long_rows and len(pad) + len(prefix) + len(flat) <= WIDTH:
        return [pad + prefix + flat]
    if isinstance(value, dict):
        opening, closing = "{", "}"
        items = [(json.dumps(k) + ": ", k, v) for k, v in value.items()]
    else:
        opening, closing = "[", "]"
        items = [("", None, v) for v in value]
    parts = [label + json.dumps(v, ensure_ascii=False) for label, _, v in items]
    short = all(len(part) <= WIDTH * 7 // 10 for part in parts)
    if not long_rows and short and not any(isinstance(v, dict) for _, _, v in items):
        return _wrapped(parts, pad + prefix + opening, closing, pad + " " * (len(prefix) + 1))
    hidden = len(items) - SHOWN_ROWS if long_rows else 0
    items = items[: len(items) - hidden]
    lines = [pad + prefix + opening]
    for index, (label, name, item) in enumerate(items):
        sub = render_json(item, level + 1, label, name)
        if index < len(items) - 1 or hidden:
            sub[-1] += ","
        lines.extend(sub)
    if hidden:
        lines.append(f"{pad}  ... {hidden} more rows")
    lines.append(pad + closing)
    return lines


def _wrapped(parts: list[str], first: str, closing: str, indent: str) -> list[str]:
    """``parts`` joined by commas, as many to a line as fit, the first line after ``first``."""
    lines = [first]
    for index, part in enumerate(parts):
        text = part + ("," if index < len(parts) - 1 else closing)
        joiner = "" if lines[-1] == first else " "
        if lines[-1] != first and len(lines[-1]) + 1 + len(text) > WIDTH:
            lines.append(indent + text)
        else:
            lines[-1] += joiner + text
    return lines


def read_steps(facts: HostFacts) -> list[Step]:
    """Act 1: the agent reads, and the policy keeps it inside its lane."""
    pending = {
        "model": "Order",
        "where": {"status": "pending"},
        "fields": ["customer", "status", "total_cents", "currency", "created_at"],
        "order_by": ["-created_at"],
        "limit": 3,
    }
    return [
        Step(
            "First the agent asks what it may see of customers (without 'model', db.describe "
            "covers every model): fields, which are masked, what it may write, which lookups "
            "'where' accepts. Secrets (password_hash, api_token) aren't even listed.",
            {"name": "db.describe", "arguments": {"model": "Customer"}},
        ),
        Step(
            "A user asks about open orders. The agent lists pending orders, newest first, "
            "three at a time. Only tenant 7's rows exist for it.",
            {"name": "db.query", "arguments": pending},
        ),
        Step(
            "It asks for the next page by passing next_cursor back (an opaque, signed token).",
            lambda run: {
                "name": "db.query",
                "arguments": {**pending, "cursor": run.last["next_cursor"]},
            },
        ),
        Step(
            "It opens the customer behind the newest pending order. Email and phone come "
            "back masked; the password hash and API token are simply not there.",
            lambda run: {
                "name": "db.get",
                "arguments": {"model": "Customer", "id": run.results[1]["rows"][0]["customer"]},
            },
        ),
        Step(
            "Revenue of EUR orders by status: db.aggregate with group_by, "
            "computed by the database.",
            {
                "name": "db.aggregate",
                "arguments": {
                    "model": "Order",
                    "where": {"currency": "EUR"},
                    "aggregations": {
                        "orders": {"count": "id"},
                        "revenue_cents": {"sum": "total_cents"},
                    },
                    "group_by": "status",
                },
            },
        ),
        Step(
            "Orders of customers whose name contains 'anna', through the customer relation. "
            f"{TENANTS[8]} (tenant 8) has an 'anna' too; the relation is scoped, "
            "so its orders stay out.",
            {
                "name": "db.query",
                "arguments": {
                    "model": "Order",
                    "where": {"customer__name__icontains": "anna"},
                    "fields": ["customer", "status", "total_cents", "currency"],
                },
            },
            aside=lambda run: (
                "Host check: the table holds "
                f"{Order.objects.filter(customer__name__icontains='anna').count()} orders of "
                f"'anna' customers across both tenants; the agent got {run.last['count']}."
            ),
        ),
        Step(
            "Guard rail: email is masked, so it can't be filtered either; otherwise "
            "a filter would reveal the address one guess at a time.",
            {
                "name": "db.query",
                "arguments": {"model": "Customer", "where": {"email__iendswith": "@example.com"}},
            },
            expect="denied FIELD_DENIED",
        ),
        Step(
            "Guard rail: the agent asks for password_hash by name. Denied, not silently dropped.",
            {
                "name": "db.query",
                "arguments": {"model": "Customer", "fields": ["name", "password_hash"]},
            },
            expect="denied FIELD_DENIED",
        ),
        Step(
            "Guard rail: nor can it test a secret through a relation.",
            {
                "name": "db.query",
                "arguments": {
                    "model": "Order",
                    "where": {"customer__password_hash__startswith": "pbkdf2"},
                },
            },
            expect="denied FIELD_DENIED",
        ),
        Step(
            f"Guard rail: customer {facts.other_tenant_customer_id} exists, but belongs to "
            f"{TENANTS[8]} (tenant 8). The answer is NOT_FOUND...",
            {
                "name": "db.get",
                "arguments": {"model": "Customer", "id": facts.other_tenant_customer_id},
            },
            expect="error NOT_FOUND",
        ),
        Step(
            f"...exactly what a customer that doesn't exist (id {facts.missing_customer_id}) "
            "gets, so the agent can't even learn that the row is there.",
            {"name": "db.get", "arguments": {"model": "Customer", "id": facts.missing_customer_id}},
            expect="error NOT_FOUND",
        ),
        Step(
            "Guard rail: only allow-listed lookups pass; a regex is not one of them.",
            {
                "name": "db.query",
                "arguments": {"model": "Customer", "where": {"name__regex": "^A"}},
            },
            expect="denied LOOKUP_NOT_ALLOWED",
        ),
        Step(
            "A value the field can't take is an error the agent can act on, "
            "not a database exception.",
            {
                "name": "db.query",
                "arguments": {"model": "Order", "where": {"created_at__gte": "last tuesday"}},
            },
            expect="error INVALID_ARGUMENTS",
        ),
        Step(
            "A malformed call (the JSON string is cut short) is an error, never a traceback.",
            '{"name": "db.query", "arguments": {"model": "Order", "where": {"status": "paid"}',
            expect="error INVALID_JSON",
        ),
    ]


def opened_customer(run: DemoRun) -> dict[str, Any]:
    """The customer the agent opened in act 1 (the first row db.get returned)."""
    return next(r["row"] for r in run.results if r["outcome"] == "ok" and "row" in r)


def first_name(row: dict[str, Any]) -> str:
    return row["name"].split()[0]


def write_tally(run: DemoRun, principal: str) -> tuple[int, int]:
    """(write calls ``principal`` sent in this run, how many the rate limit counts):
    only writes that ran count; dry runs, denials, errors and replays don't."""
    sent = counted = 0
    for who, call, result in zip(run.principals, run.calls, run.results, strict=True):
        if who != principal or not isinstance(call, dict) or call["name"] not in WRITE_TOOLS:
            continue
        sent += 1
        counted += result["outcome"] == "ok" and not result.get("idempotent_replay")
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
            f"bot sent {sent} write calls in this run and {counted} of them count (dry runs, "
            "denials and replays don't). So as not to spend its budget (the demo can run "
            "again at once), a second agent trips the limit: a CRM sync with its own "
            f"principal, named after this run's start, fills in preferred names, {limit} "
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


# (title, steps builder): later features add their acts here, in story order.
ACTS: list[tuple[str, Callable[[HostFacts], list[Step]]]] = [
    ("Act 1: reading, inside the policy's lines", read_steps),
    ("Act 2: writing, with the guard rails", write_steps),
]


class Command(BaseCommand):
    help = "Run a scripted support agent against the sandbox and print the transcript."

    def handle(self, *args: Any, **options: Any) -> None:
        started = timezone.now()
        facts = self.host_facts(started)
        run = DemoRun(CONTEXT, started)
        self.stdout.write(
            f"ormai_django demo: a support agent of {TENANTS[7]} (tenant 7) helps a user.\n"
            "Each call is passed to ormai_django.execute(call, context) under the sandbox's "
            "policy\n(sandbox_project/shop/policy.py). '>>>' is what the agent sends, '<<<' "
            f"what it gets back.\nThe context: {CONTEXT!r}"
        )
        number = 0
        for title, build in ACTS:
            self.stdout.write(f"\n=== {title} ===")
            for step in build(facts):
                number += 1
                self.run_step(number, step, run)
        audited = AuditEvent.objects.filter(run_id=CONTEXT.run_id, created_at__gte=started).count()
        self.stdout.write(
            f"\n{audited} audit rows written for run {CONTEXT.run_id} "
            f"(one per call, denials and errors included).\n"
            f"See them at http://127.0.0.1:8000/admin/ormai_django/auditevent/?q={CONTEXT.run_id}"
        )
        if run.surprises:
            raise CommandError(
                f"{len(run.surprises)} step(s) did not behave as the demo expects: "
                + "; ".join(run.surprises)
            )

    def host_facts(self, started: datetime) -> HostFacts:
        other = Customer.objects.filter(tenant_id=8).order_by("id").first()
        if other is None or not Customer.objects.filter(tenant_id=7).exists():
            raise CommandError("No demo data: run `python manage.py seed_sandbox --reset` first.")
        limit = get_policy().max_writes_per_minute
        if not limit:
            raise CommandError("The demo's act 2 needs a policy with max_writes_per_minute.")
        highest = Customer.objects.aggregate(highest=Max("id"))["highest"]
        # One more than the limit trips it; one spare in case the opened customer is among them.
        targets = Customer.objects.filter(tenant_id=7).order_by("id")[: limit + 2]
        return HostFacts(
            other_tenant_customer_id=other.pk,
            missing_customer_id=(highest // 1000 + 1) * 1000,
            run_stamp=started.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ"),
            writes_per_minute=limit,
            sync_customers=tuple((c.pk, c.name.split()[0]) for c in targets),
        )

    def run_step(self, number: int, step: Step, run: DemoRun) -> None:
        narration = step.narration(run) if callable(step.narration) else step.narration
        call = step.call(run) if callable(step.call) else step.call
        context = step.context or run.context
        new_caller = context.principal != (run.principals[-1] if run.principals else None)
        result = execute(call, context)
        run.principals.append(context.principal)
        run.calls.append(call)
        run.results.append(result)
        shown = call if isinstance(call, str) else json.dumps(call, ensure_ascii=False)
        if not step.brief:
            self.stdout.write("")
        self.stdout.write(textwrap.fill(f"[{number}] {narration}", WIDTH, subsequent_indent="    "))
        if new_caller and number > 1:
            self.stdout.write(
                f"    (called by {context.principal}, tenant {context.tenant_id}, "
                f"run {context.run_id})"
            )
        self.stdout.write(f">>> {shown}")
        self.stdout.write("<<< " + "\n".join(render_json(result)))
        surprises = []
        got = outcome_of(result)
        if got != step.expect:
            surprises.append(f"expected {step.expect}, got {got}")
            if got == "denied RATE_LIMITED":
                surprises[-1] += (
                    f" (demo runs of the last minute spent {context.principal}'s writes; "
                    f"run the demo again in {result['error']['retry_after']} seconds)"
                )
        for key, value in step.expect_fields.items():
            if result.get(key) != value:
                surprises.append(f"expected {key}={value!r}, got {result.get(key)!r}")
        if step.aside is not None and not surprises:
            # The host's check assumes the step went as scripted.
            aside = textwrap.fill(
                f"({step.aside(run)})", WIDTH, initial_indent="    ", subsequent_indent="     "
            )
            self.stdout.write(aside)
        for surprise in surprises:
            run.surprises.append(f"step {number} {surprise}")
            self.stdout.write(self.style.ERROR(f"!! {surprise}"))
