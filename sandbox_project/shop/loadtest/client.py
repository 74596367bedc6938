"""An agent's HTTP client: one keep-alive HTTP/1.1 connection, JSON in and out, timed.

A request that finds its reused connection closed by the server (an idle keep-alive that
timed out) is sent once more on a fresh connection, as urllib3 and requests do; that is
safe here because every write the agents send carries an idempotency key (the baseline's
update sets a value, so it is idempotent too). Anything else is reported, not retried.
"""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from typing import Any

from sandbox_project.shop.loadtest.server import HOST

TIMEOUT_SECONDS = 60
# The connection was closed under us: the request never reached a worker.
_CLOSED = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


@dataclass(frozen=True)
class Answer:
    """One request's answer: HTTP status (0 when none came), JSON body, seconds taken."""

    status: int
    body: dict[str, Any]
    seconds: float


class Connection:
    """One agent's connection to the server, kept open between requests."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reconnects = 0
        self._connection: http.client.HTTPConnection | None = None
        self._used = False

    def _open(self) -> http.client.HTTPConnection:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(HOST, self.port, timeout=TIMEOUT_SECONDS)
            self._used = False
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def request(self, method: str, path: str, token: str, payload: Any = None) -> Answer:
        """Send one request and read its whole answer; latency is send to last byte."""
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        while True:
            connection = self._open()
            reused = self._used
            started = time.perf_counter()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
            except _CLOSED as exc:
                self.close()
                if reused:
                    self.reconnects += 1
                    continue
                return Answer(0, {"transport_error": type(exc).__name__}, 0.0)
            except OSError as exc:
                self.close()
                return Answer(0, {"transport_error": type(exc).__name__}, 0.0)
            seconds = time.perf_counter() - started
            self._used = True
            if response.will_close:
                self.close()
            try:
                parsed = json.loads(data) if data else {}
            except ValueError:
                parsed = {"not_json": data[:200].decode("utf-8", "replace")}
            return Answer(response.status, parsed if isinstance(parsed, dict) else {}, seconds)
