"""The simulated agents: what each one sends, and the record of every call.

Each agent is a thread with its own keep-alive connection, tenant, orders and random
generator (seeded by its number, so a run's mix is the same every time). It calls as a
principal of its own, holding a capability token; the sandbox policy allows a principal
``max_writes_per_minute(10)``, so an agent takes a fresh principal (a new token) before its
current one has sent that many writes: the limit is checked on every write, as in
production, and never refuses one. A retry goes out with the token of the call it retries.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ormai_django.tokens import issue_token
from sandbox_project.shop.loadtest.client import Answer, Connection
from sandbox_project.shop.loadtest.database import Holdings
from sandbox_project.shop.models import Order, Subscription

TOOL_PATH = "/ormai/tools/call/"
PLAIN_PATH = "/loadtest/orders/status/"
TOOL, PLAIN = "tool", "plain"

QUERY = "db.query"
GET = "db.get"
AGGREGATE = "db.aggregate"
UPDATE = "db.update Order.status"
CREATE = "db.create Note"
DRY_RUN = "db.update dry run"
HELD = "db.update Subscription (held)"
UPDATE_RETRY = "db.update retry (same key)"
CREATE_RETRY = "db.create retry (same key)"
HELD_RETRY = "held retry (same key)"
PLAIN_UPDATE = "plain update Order.status"

# The mixed phase: kind -> weight. Retries come on top of these (see RETRY_SHARE).
MIX = {QUERY: 20, GET: 15, AGGREGATE: 10, UPDATE: 25, CREATE: 12, DRY_RUN: 10, HELD: 8}
# The share of writes re-sent at once with the same idempotency key.
RETRY_SHARE = 0.25
RETRY_OF = {UPDATE: UPDATE_RETRY, CREATE: CREATE_RETRY, HELD: HELD_RETRY}
WRITES = frozenset({UPDATE, CREATE, HELD})
# What each kind must answer: (HTTP status, outcome).
EXPECTED = {
    QUERY: (200, "ok"),
    GET: (200, "ok"),
    AGGREGATE: (200, "ok"),
    UPDATE: (200, "ok"),
    CREATE: (200, "ok"),
    DRY_RUN: (200, "dry_run"),
    HELD: (200, "pending_approval"),
    UPDATE_RETRY: (200, "ok"),
    CREATE_RETRY: (200, "ok"),
    HELD_RETRY: (200, "pending_approval"),
}
# What is kept of an answer (a query's rows are not).
KEPT = ("outcome", "error", "idempotent_replay", "audit_id", "approval_id", "ids", "updated")
STATUSES = tuple(Order.Status.values)
PLANS = tuple(Subscription.Plan.values)


@dataclass
class Call:
    """One call as sent and answered, with what reconciliation needs to know of it."""

    phase: str
    surface: str
    kind: str
    agent: int
    status: int
    seconds: float
    result: dict[str, Any]
    key: str = ""
    reason: str = ""
    order_id: int | None = None
    order_status: str = ""  # the status an update sets
    note_body: str = ""

    @property
    def outcome(self) -> str:
        """The outcome as the mix table shows it: ``ok``, ``ok (replay)``, ``denied
        RATE_LIMITED``, ``no answer``..."""
        if self.status == 0:
            return "no answer"
        if self.surface == PLAIN:
            return f"updated {self.result.get('updated')}" if self.status == 200 else "error"
        outcome = str(self.result.get("outcome", "not JSON"))
        code = (self.result.get("error") or {}).get("code")
        if code:
            return f"{outcome} {code}"
        return f"{outcome} (replay)" if self.result.get("idempotent_replay") else outcome

    @property
    def as_expected(self) -> bool:
        """Whether the answer is the one this kind of call must get (``EXPECTED``; a retry
        replayed, a first call not; the baseline: ``{"updated": 1}``)."""
        if self.surface == PLAIN:
            return self.status == 200 and self.result.get("updated") == 1
        expected = EXPECTED[self.kind]
        replay = bool(self.result.get("idempotent_replay"))
        return (self.status, self.result.get("outcome")) == expected and replay == (
            self.kind in RETRY_OF.values()
        )


@dataclass
class Agent:
    """One simulated agent: its holdings, its connection, its principal, its calls."""

    number: int
    holdings: Holdings
    connection: Connection
    write_limit: int | None
    rng: random.Random = field(init=False)
    calls: list[Call] = field(default_factory=list)
    principals: int = 0
    token: str = ""
    writes_on_token: int = 0
    keys: int = 0
    # The last tool call sent and its token: what a retry sends again.
    last_sent: tuple[dict[str, Any], str] | None = None

    def __post_init__(self) -> None:
        self.rng = random.Random(1000 + self.number)

    # -- identity --------------------------------------------------------------------

    def _new_token(self) -> None:
        self.principals += 1
        self.token = issue_token(
            principal=f"agent:load-{self.number}-{self.principals}",
            tenant_id=self.holdings.tenant_id,
            run_id=f"loadtest-{self.number}",
            expires_in=timedelta(hours=1),
        )
        self.writes_on_token = 0

    def read_token(self) -> str:
        if not self.token:
            self._new_token()
        return self.token

    def write_token(self) -> str:
        """The token of the next write: a fresh principal before the limit is reached."""
        if not self.token or (
            self.write_limit is not None and self.writes_on_token >= self.write_limit
        ):
            self._new_token()
        self.writes_on_token += 1
        return self.token

    def new_key(self) -> str:
        self.keys += 1
        return f"lt{self.number}-{self.keys}"

    # -- sending ---------------------------------------------------------------------

    def _send(self, phase: str, kind: str, token: str, call: dict[str, Any], **about: Any) -> Call:
        answer: Answer = self.connection.request("POST", TOOL_PATH, token, call)
        self.last_sent = (call, token)
        kept = {k: answer.body[k] for k in KEPT if k in answer.body}
        if answer.status == 0:
            kept = answer.body
        sent = Call(phase, TOOL, kind, self.number, answer.status, answer.seconds, kept, **about)
        self.calls.append(sent)
        if kind == UPDATE and sent.as_expected:
            self.holdings.orders[sent.order_id] = sent.order_status
        return sent

    def _other_status(self, order_id: int) -> str:
        current = self.holdings.orders[order_id]
        return self.rng.choice([s for s in STATUSES if s != current])

    def read(self, phase: str, kind: str) -> Call:
        rng, held = self.rng, self.holdings
        if kind == QUERY:
            arguments = {
                "model": "Order",
                "where": {"status__in": rng.sample(STATUSES, 2)},
                "order_by": "-created_at",
                "limit": 20,
            }
        elif kind == GET:
            model, pk = rng.choice(
                [("Order", rng.choice(list(held.orders))), ("Customer", rng.choice(held.customers))]
            )
            arguments = {"model": model, "id": pk}
        else:
            arguments = {
                "model": "Order",
                "aggregations": {"n": {"count": "id"}, "total": {"sum": "total_cents"}},
                "group_by": ["status"],
            }
        return self._send(phase, kind, self.read_token(), {"name": kind, "arguments": arguments})

    def update(self, phase: str) -> Call:
        order_id = self.rng.choice(list(self.holdings.orders))
        status = self._other_status(order_id)
        key = self.new_key()
        reason = f"load test {key}"
        arguments = {
            "model": "Order",
            "id": order_id,
            "data": {"status": status},
            "reason": reason,
            "idempotency_key": key,
        }
        return self._send(
            phase,
            UPDATE,
            self.write_token(),
            {"name": "db.update", "arguments": arguments},
            key=key,
            reason=reason,
            order_id=order_id,
            order_status=status,
        )

    def create(self, phase: str) -> Call:
        key = self.new_key()
        reason = f"load test {key}"
        body = f"load test note {key}"
        arguments = {
            "model": "Note",
            "data": {"customer": self.rng.choice(self.holdings.customers), "body": body},
            "reason": reason,
            "idempotency_key": key,
        }
        call = {"name": "db.create", "arguments": arguments}
        return self._send(
            phase, CREATE, self.write_token(), call, key=key, reason=reason, note_body=body
        )

    def dry_run(self, phase: str) -> Call:
        order_id = self.rng.choice(list(self.holdings.orders))
        arguments = {
            "model": "Order",
            "id": order_id,
            "data": {"status": self._other_status(order_id)},
            "reason": "load test: what would this change?",
            "dry_run": True,
        }
        return self._send(
            phase, DRY_RUN, self.read_token(), {"name": "db.update", "arguments": arguments}
        )

    def held(self, phase: str) -> Call:
        subscription, plan = self.rng.choice(list(self.holdings.subscriptions.items()))
        key = self.new_key()
        reason = f"load test {key}"
        arguments = {
            "model": "Subscription",
            "id": subscription,
            "data": {"plan": self.rng.choice([p for p in PLANS if p != plan])},
            "reason": reason,
            "idempotency_key": key,
        }
        call = {"name": "db.update", "arguments": arguments}
        return self._send(phase, HELD, self.write_token(), call, key=key, reason=reason)

    def retry(self, phase: str, original: Call) -> Call:
        """The call just sent, again: same key, same principal. It must be replayed."""
        assert self.last_sent is not None, "a retry follows the call it retries"
        call, token = self.last_sent
        return self._send(
            phase,
            RETRY_OF[original.kind],
            token,
            call,
            key=original.key,
            reason=original.reason,
            order_id=original.order_id,
            order_status=original.order_status,
            note_body=original.note_body,
        )

    def plain_update(self, phase: str) -> Call:
        """The baseline: the same single-row update through the bare-ORM endpoint."""
        order_id = self.rng.choice(list(self.holdings.orders))
        status = self._other_status(order_id)
        answer = self.connection.request(
            "POST", PLAIN_PATH, self.read_token(), {"id": order_id, "status": status}
        )
        sent = Call(
            phase,
            PLAIN,
            PLAIN_UPDATE,
            self.number,
            answer.status,
            answer.seconds,
            answer.body,
            order_id=order_id,
            order_status=status,
        )
        self.calls.append(sent)
        if sent.as_expected:
            self.holdings.orders[order_id] = status
        return sent

    # -- phases ----------------------------------------------------------------------

    def run_mixed(self, phase: str, count: int) -> None:
        """``count`` calls of the mix, retries included."""
        kinds, weights = list(MIX), list(MIX.values())
        done = 0
        while done < count:
            kind = self.rng.choices(kinds, weights)[0]
            retry = kind in WRITES and count - done >= 2 and self.rng.random() < RETRY_SHARE
            if kind in WRITES:
                sent = {UPDATE: self.update, CREATE: self.create, HELD: self.held}[kind](phase)
            elif kind == DRY_RUN:
                sent = self.dry_run(phase)
            else:
                sent = self.read(phase, kind)
            done += 1
            if retry:
                self.retry(phase, sent)
                done += 1

    def run_updates(self, phase: str, count: int) -> None:
        for _ in range(count):
            self.update(phase)

    def run_plain(self, phase: str, count: int) -> None:
        for _ in range(count):
            self.plain_update(phase)
