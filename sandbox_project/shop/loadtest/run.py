"""Running the load test: the database, the server, the phases, the reconciliation.

Phases run one after the other; in each, every agent's thread starts at once (a barrier)
and the phase's time is from that start to the last agent's last answer:

1. ``mixed``: ``calls`` calls of the mix through the tool endpoint;
2. the single-row update on both surfaces, ``calls`` each, in A/B/B/A halves (tool
   updates, plain, plain, tool updates), so a change in the machine's load during the run
   weighs on both surfaces alike.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ormai_django.policy.loading import get_policy
from sandbox_project.shop.loadtest.agents import PLAIN, TOOL, Agent, Call
from sandbox_project.shop.loadtest.client import Connection
from sandbox_project.shop.loadtest.database import scratch_database, seed
from sandbox_project.shop.loadtest.reconcile import Check, reconcile
from sandbox_project.shop.loadtest.server import gunicorn_server

MIXED = "mixed"
WARM_UP_REQUESTS = 2


@dataclass(frozen=True)
class Phase:
    name: str
    surface: str
    calls: int
    seconds: float


@dataclass
class LoadTestRun:
    """Everything a run measured and checked."""

    database: str
    kept: bool
    server: str
    write_limit: int | None
    agents: list[Agent]
    phases: list[Phase]
    checks: list[Check]
    server_log: str = ""

    @property
    def calls(self) -> list[Call]:
        return [call for agent in self.agents for call in agent.calls]

    @property
    def principals(self) -> int:
        return sum(agent.principals for agent in self.agents)

    @property
    def reconnects(self) -> int:
        return sum(agent.connection.reconnects for agent in self.agents)


def split(total: int, parts: int) -> list[int]:
    """``total`` as ``parts`` counts that differ by one at most."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run_phase(
    agents: list[Agent],
    name: str,
    surface: str,
    work: Callable[[Agent, str, int], None],
    total: int,
) -> Phase:
    """Every agent does its share of ``total`` calls of ``work`` at once, in its thread."""
    counts = split(total, len(agents))
    start = threading.Barrier(len(agents) + 1)
    failures: list[BaseException] = []

    def agent_thread(agent: Agent, count: int) -> None:
        start.wait()
        try:
            work(agent, name, count)
        except BaseException as exc:  # re-raised in the main thread below
            failures.append(exc)

    threads = [
        # Daemons: a Ctrl-C ends the command (which stops the server) without waiting on them.
        threading.Thread(
            target=agent_thread, args=(agent, count), name=f"agent-{agent.number}", daemon=True
        )
        for agent, count in zip(agents, counts, strict=True)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    if failures:
        raise failures[0]
    return Phase(name, surface, total, seconds)


def warm_up(agent: Agent, phase: str, count: int) -> None:
    """Untimed, unrecorded requests that load each worker's code before anything is timed
    (GET tools/ runs no tool, so it leaves no audit row)."""
    for _ in range(count):
        agent.connection.request("GET", "/ormai/tools/", agent.read_token())


def run_loadtest(
    *,
    agents: int,
    calls: int,
    workers: int,
    threads: int,
    keep: bool,
    progress: Callable[[str], None] = lambda line: None,
) -> LoadTestRun:
    """Make and seed the scratch database, start the server, run the phases, stop the
    server, reconcile against the database, drop it (unless ``keep``)."""
    with scratch_database(keep) as database:
        holdings = seed(agents)
        seeded = {pk: status for held in holdings for pk, status in held.orders.items()}
        write_limit = get_policy().max_writes_per_minute
        progress(f"scratch database {database}: migrated and seeded")
        with gunicorn_server(database, workers, threads) as server:
            progress(f"server answering on 127.0.0.1:{server.port}")
            crew = [
                Agent(number, held, Connection(server.port), write_limit)
                for number, held in enumerate(holdings)
            ]
            phases: list[Phase] = []
            try:
                run_phase(crew, "warm-up", TOOL, warm_up, WARM_UP_REQUESTS * len(crew))
                first, second = calls // 2, calls - calls // 2
                plan = [
                    (MIXED, TOOL, Agent.run_mixed, calls),
                    ("updates A", TOOL, Agent.run_updates, first),
                    ("plain A", PLAIN, Agent.run_plain, first),
                    ("plain B", PLAIN, Agent.run_plain, second),
                    ("updates B", TOOL, Agent.run_updates, second),
                ]
                for name, surface, work, total in plan:
                    phase = run_phase(crew, name, surface, work, total)
                    phases.append(phase)
                    progress(f"phase {name}: {total} calls in {phase.seconds:.1f} s")
            finally:
                for agent in crew:
                    agent.connection.close()
            calls_made = [call for agent in crew for call in agent.calls]
            failed = any(c.status >= 500 for c in calls_made)
            server_log = server.log_tail() if failed else ""
        checks = reconcile(crew, seeded)
    return LoadTestRun(
        database=database,
        kept=keep,
        server=server.describe(),
        write_limit=write_limit,
        agents=crew,
        phases=phases,
        checks=checks,
        server_log=server_log,
    )
