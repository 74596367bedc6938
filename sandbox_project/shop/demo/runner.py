"""The demo's runner: the steps, the state of a run, what the host knows, and the transcript.

Each step is a short narration, the tool call the agent sends (``>>>``) and the JSON
that ``ormai_django.execute`` returns (``<<<``). Every outcome is checked against the
script: a step that behaves differently is flagged with ``!!`` and the run fails.
"""

from __future__ import annotations

import json
import shlex
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import StringIO
from typing import Any
from urllib.parse import urlencode

from django.core.management import call_command
from django.core.management.base import CommandError, OutputWrapper
from django.core.management.color import Style
from django.db.models import Count, Max
from django.utils import timezone

from ormai_django import ToolContext, execute
from ormai_django.models import ApprovalRequest, AuditEvent
from ormai_django.policy.loading import get_policy
from sandbox_project.shop.models import Customer
from sandbox_project.shop.seed import ADMIN_URL, ADMIN_USERNAME, TENANTS

CONTEXT = ToolContext(
    principal="agent:support-bot", tenant_id=7, on_behalf_of="user:42", run_id="demo-run"
)
WIDTH = 100  # a JSON value that fits on one line of this width is printed on one line
SHOWN_ROWS = 3
LISTS_OF_ROWS = ("rows", "would_change")  # printed with their first SHOWN_ROWS rows only

Call = dict[str, Any] | str
CallSource = Call | Callable[["DemoRun"], Call]


@dataclass(frozen=True)
class Step:
    """One call of the agent: what it means, what it sends, what should come back.

    ``expect`` is ``"ok"`` or ``"<outcome> <CODE>"`` (``"denied FIELD_DENIED"``);
    ``expect_fields`` are keys the result must carry with these values
    (``{"idempotent_replay": True}``), or a function of the run that gives them (to
    compare with an earlier result: ``run.results[-2]``, ``run.last`` being this one);
    ``aside``, if given, is what the host checks behind the agent's back, printed after
    the result (``run.last`` is the result; each of its lines is a paragraph).
    ``context`` is another caller than the run's; a ``brief`` step continues a
    series and is printed without a blank line before it.
    """

    narration: str | Callable[[DemoRun], str]
    call: CallSource
    expect: str = "ok"
    aside: Callable[[DemoRun], str] | None = None
    expect_fields: Mapping[str, Any] | Callable[[DemoRun], Mapping[str, Any]] = field(
        default_factory=dict
    )
    context: ToolContext | None = None
    brief: bool = False


@dataclass(frozen=True)
class HostAction:
    """Something a person does outside the agent's tools, printed as ``[ops]``: a management
    command (``command`` gives its arguments; the transcript shows it and its output) or an
    edit in the admin (``edit`` makes it and says what it did). ``exit_status`` is what the
    command must end with (0, or 1 for a refusal the script expects)."""

    narration: str | Callable[[DemoRun], str]
    command: Callable[[DemoRun], list[str]] | None = None
    edit: Callable[[DemoRun], str] | None = None
    exit_status: int = 0


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
    # (id, name) of a tenant 7 customer with no subscription, order or note: a delete
    # of it cascades into nothing.
    prospect: tuple[int, str]
    # (id, name) of the tenant 7 customer with the most pending orders (at least two).
    pending_customer: tuple[int, str]


# An act of the demo: its title and what builds its steps from the host's facts.
Act = tuple[str, Callable[[HostFacts], list[Step | HostAction]]]


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


def host_facts(started: datetime) -> HostFacts:
    """What the host looks up before the agent starts; fails when the sandbox isn't seeded."""
    other = Customer.objects.filter(tenant_id=8).order_by("id").first()
    if other is None or not Customer.objects.filter(tenant_id=7).exists():
        raise CommandError("No demo data: run `python manage.py seed_sandbox --reset` first.")
    limit = get_policy().max_writes_per_minute
    if not limit:
        raise CommandError("The demo's act 2 needs a policy with max_writes_per_minute.")
    highest = Customer.objects.aggregate(highest=Max("id"))["highest"]
    # One more than the limit trips it; one spare in case the opened customer is among them.
    targets = Customer.objects.filter(tenant_id=7).order_by("id")[: limit + 2]
    prospect = (
        Customer.objects.filter(tenant_id=7, subscriptions=None, orders=None, notes=None)
        .order_by("id")
        .first()
    )
    if prospect is None:
        raise CommandError(
            "Tenant 7 has no customer without subscriptions, orders and notes left (was the "
            "demo's delete approved?): run `python manage.py seed_sandbox --reset`."
        )
    busiest = (
        Customer.objects.filter(tenant_id=7, orders__status="pending")
        .annotate(pending=Count("orders"))
        .filter(pending__gte=2)
        .order_by("-pending", "id")
        .first()
    )
    if busiest is None:
        raise CommandError(
            "No tenant 7 customer has two pending orders left: run "
            "`python manage.py seed_sandbox --reset`."
        )
    return HostFacts(
        other_tenant_customer_id=other.pk,
        missing_customer_id=(highest // 1000 + 1) * 1000,
        run_stamp=started.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ"),
        writes_per_minute=limit,
        sync_customers=tuple((c.pk, c.name.split()[0]) for c in targets),
        prospect=(prospect.pk, prospect.name),
        pending_customer=(busiest.pk, busiest.name),
    )


def run_demo(acts: Sequence[Act], stdout: OutputWrapper, style: Style) -> None:
    """Play ``acts`` in order under ``CONTEXT``, printing the transcript to ``stdout``;
    raise ``CommandError`` at the end if any step did not behave as scripted."""
    started = timezone.now()
    facts = host_facts(started)
    run = DemoRun(CONTEXT, started)
    stdout.write(
        f"ormai_django demo: a support agent of {TENANTS[7]} (tenant 7) helps a user.\n"
        "Each call is passed to ormai_django.execute(call, context) under the sandbox's "
        "policy\n(sandbox_project/shop/policy.py). '>>>' is what the agent sends, '<<<' "
        f"what it gets back.\nThe context: {CONTEXT!r}"
    )
    number = 0
    for title, build in acts:
        stdout.write(f"\n=== {title} ===")
        for step in build(facts):
            if isinstance(step, HostAction):
                run_host_action(step, run, stdout, style)
                continue
            number += 1
            run_step(number, step, run, stdout, style)
    audited = AuditEvent.objects.filter(run_id=CONTEXT.run_id, created_at__gte=started).count()
    stdout.write(
        f"\n{audited} audit rows written for run {CONTEXT.run_id} "
        f"(one per call, denials and errors included).\n"
        f"See the run in order at {ADMIN_URL}ormai_django/auditevent/run/"
        f"?{urlencode({'tenant_id': CONTEXT.tenant_id, 'run_id': CONTEXT.run_id})}\n"
        f"and the agents' activity at {ADMIN_URL}ormai_django/auditevent/dashboard/"
    )
    held = ApprovalRequest.objects.filter(
        run_id=CONTEXT.run_id, created_at__gte=started, status=ApprovalRequest.Status.PENDING
    ).count()
    if held:
        stdout.write(
            f"{held} held calls of this run wait for a human (log in as {ADMIN_USERNAME}, "
            "who may approve):\n"
            f"{ADMIN_URL}ormai_django/approvalrequest/?status__exact=pending"
        )
    if run.surprises:
        raise CommandError(
            f"{len(run.surprises)} step(s) did not behave as the demo expects: "
            + "; ".join(run.surprises)
        )


def run_step(number: int, step: Step, run: DemoRun, stdout: OutputWrapper, style: Style) -> None:
    """Send one step's call, print it with its result, and check the result against the step."""
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
        stdout.write("")
    stdout.write(textwrap.fill(f"[{number}] {narration}", WIDTH, subsequent_indent="    "))
    if new_caller and number > 1:
        stdout.write(
            f"    (called by {context.principal}, tenant {context.tenant_id}, run {context.run_id})"
        )
    stdout.write(f">>> {shown}")
    stdout.write("<<< " + "\n".join(render_json(result)))
    surprises = surprises_in(step, result, context, run)
    if step.aside is not None and not surprises:
        # The host's check assumes the step went as scripted.
        for index, paragraph in enumerate(f"({step.aside(run)})".split("\n")):
            first = "     " if index else "    "  # later paragraphs align inside the "("
            stdout.write(
                textwrap.fill(
                    paragraph,
                    WIDTH,
                    initial_indent=first,
                    subsequent_indent="     ",
                    break_on_hyphens=False,  # keys and ids stay whole
                )
            )
    for surprise in surprises:
        run.surprises.append(f"step {number} {surprise}")
        stdout.write(style.ERROR(f"!! {surprise}"))


def run_host_action(action: HostAction, run: DemoRun, stdout: OutputWrapper, style: Style) -> None:
    """Do what a person does outside the tools, and print it with what it printed."""
    narration = action.narration(run) if callable(action.narration) else action.narration
    stdout.write("")
    stdout.write(textwrap.fill(f"[ops] {narration}", WIDTH, subsequent_indent="    "))
    if action.edit is not None:
        stdout.write(f"    {action.edit(run)}")
        return
    assert action.command is not None
    argv = action.command(run)
    stdout.write("$ python manage.py " + " ".join(shlex.quote(a) for a in argv))
    out = StringIO()
    status = 0
    try:
        call_command(*argv, stdout=out)
    except CommandError as error:
        status = error.returncode
        out.write(f"CommandError: {error}\n")
    for line in out.getvalue().rstrip("\n").split("\n"):
        stdout.write(f"  {line}")
    stdout.write(f"  (exit status {status})")
    if status != action.exit_status:
        surprise = f"{argv[0]} exited {status}, expected {action.exit_status}"
        run.surprises.append(surprise)
        stdout.write(style.ERROR(f"!! {surprise}"))


def surprises_in(
    step: Step, result: dict[str, Any], context: ToolContext, run: DemoRun
) -> list[str]:
    """How ``result`` differs from what ``step`` expects (nothing when it went as scripted)."""
    surprises = []
    got = outcome_of(result)
    if got != step.expect:
        surprises.append(f"expected {step.expect}, got {got}")
        if got == "denied RATE_LIMITED":
            surprises[-1] += (
                f" (demo runs of the last minute spent {context.principal}'s writes; "
                f"run the demo again in {result['error']['retry_after']} seconds)"
            )
    expected = step.expect_fields(run) if callable(step.expect_fields) else step.expect_fields
    for key, value in expected.items():
        if result.get(key) != value:
            surprises.append(f"expected {key}={value!r}, got {result.get(key)!r}")
    return surprises
