"""``python manage.py demo_agent``: a scripted support agent, printed as a transcript.

Each step is a short narration, the tool call the agent sends (``>>>``) and the
JSON that ``ormai_django.execute`` returns (``<<<``). The script checks every
outcome it expects, so the demo doubles as a smoke test of the sandbox: a step
that behaves differently is flagged with ``!!`` and the command fails.

Run ``python manage.py seed_sandbox --reset`` first. To extend the demo (writes,
approvals, rollback), add an act: a function that returns a list of ``Step``s
and an entry in ``ACTS``. A step's call can be a function of the run, to use
what an earlier step returned (a ``next_cursor``, an id, an ``approval_id``).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Max
from django.utils import timezone

from ormai_django import ToolContext, execute
from ormai_django.models import AuditEvent
from sandbox_project.shop.models import Customer, Order
from sandbox_project.shop.seed import TENANTS

CONTEXT = ToolContext(
    principal="agent:support-bot", tenant_id=7, on_behalf_of="user:42", run_id="demo-run"
)
WIDTH = 100  # a JSON value that fits on one line of this width is printed on one line
SHOWN_ROWS = 3

Call = dict[str, Any] | str
CallSource = Call | Callable[["DemoRun"], Call]


@dataclass(frozen=True)
class Step:
    """One call of the agent: what it means, what it sends, what should come back.

    ``expect`` is ``"ok"`` or ``"<outcome> <CODE>"`` (``"denied FIELD_DENIED"``);
    ``aside``, if given, is what the host checks behind the agent's back, printed
    after the result (``run.last`` is the result).
    """

    narration: str
    call: CallSource
    expect: str = "ok"
    aside: Callable[[DemoRun], str] | None = None


@dataclass(frozen=True)
class HostFacts:
    """What the host knows that the agent doesn't: ids to aim the guard-rail steps at."""

    other_tenant_customer_id: int
    missing_customer_id: int


@dataclass
class DemoRun:
    """The state of one run: the context and every result so far, by step."""

    context: ToolContext
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
    a container of short items wraps them several to a line, and a long ``rows`` list
    shows its first rows and how many more there are."""
    pad = "  " * level
    flat = json.dumps(value, ensure_ascii=False)
    long_rows = key == "rows" and isinstance(value, list) and len(value) > SHOWN_ROWS
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


# (title, steps builder): later features add their acts here, in story order.
ACTS: list[tuple[str, Callable[[HostFacts], list[Step]]]] = [
    ("Act 1: reading, inside the policy's lines", read_steps),
]


class Command(BaseCommand):
    help = "Run a scripted support agent against the sandbox and print the transcript."

    def handle(self, *args: Any, **options: Any) -> None:
        facts = self.host_facts()
        started = timezone.now()
        run = DemoRun(CONTEXT)
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

    def host_facts(self) -> HostFacts:
        other = Customer.objects.filter(tenant_id=8).order_by("id").first()
        if other is None or not Customer.objects.filter(tenant_id=7).exists():
            raise CommandError("No demo data: run `python manage.py seed_sandbox --reset` first.")
        highest = Customer.objects.aggregate(highest=Max("id"))["highest"]
        return HostFacts(
            other_tenant_customer_id=other.pk, missing_customer_id=(highest // 1000 + 1) * 1000
        )

    def run_step(self, number: int, step: Step, run: DemoRun) -> None:
        call = step.call(run) if callable(step.call) else step.call
        result = execute(call, run.context)
        run.results.append(result)
        shown = call if isinstance(call, str) else json.dumps(call, ensure_ascii=False)
        self.stdout.write("")
        self.stdout.write(
            textwrap.fill(f"[{number}] {step.narration}", WIDTH, subsequent_indent="    ")
        )
        self.stdout.write(f">>> {shown}")
        self.stdout.write("<<< " + "\n".join(render_json(result)))
        if step.aside is not None:
            self.stdout.write(f"    ({step.aside(run)})")
        got = outcome_of(result)
        if got != step.expect:
            run.surprises.append(f"step {number} expected {step.expect}, got {got}")
            self.stdout.write(self.style.ERROR(f"!! expected {step.expect}, got {got}"))
