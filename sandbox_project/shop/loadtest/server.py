"""The load test's server: gunicorn serving the sandbox's WSGI app on 127.0.0.1.

``gunicorn_server`` starts it on a free port against the scratch database, with the
baseline endpoint mounted (``ORMAI_LOADTEST=1``), ``DEBUG`` off and persistent database
connections, waits until it answers, and always stops it, error or not.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from django.core.management.base import CommandError

REPO = Path(__file__).resolve().parents[3]
HOST = "127.0.0.1"
STARTUP_SECONDS = 60
STOP_SECONDS = 20
# gthread workers keep idle connections this long; longer than any pause between phases.
KEEP_ALIVE_SECONDS = 30


@dataclass(frozen=True)
class Server:
    port: int
    workers: int
    threads: int
    gunicorn_version: str
    log: Path

    def log_tail(self) -> str:
        """The last lines gunicorn logged (its workers' tracebacks, if any)."""
        return _log_tail(self.log)

    def describe(self) -> str:
        return (
            f"gunicorn {self.gunicorn_version} (gthread, {self.workers} workers x "
            f"{self.threads} threads) on {HOST}:{self.port}, DEBUG off, persistent database "
            "connections"
        )


def free_port() -> int:
    """A port nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _status_of(port: int, method: str, path: str) -> int | None:
    """The status of one unauthenticated request, or None when nothing answers yet."""
    connection = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        connection.request(method, path, body=b"{}", headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        connection.close()


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _wait_until_answering(process: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CommandError(f"gunicorn exited with {process.returncode}:\n{_log_tail(log)}")
        # Both surfaces must be mounted: an unauthenticated call is refused (401) by each.
        tool = _status_of(port, "POST", "/ormai/tools/call/")
        plain = _status_of(port, "POST", "/loadtest/orders/status/") if tool else None
        if tool == 401 and plain == 401:
            return
        if tool is not None and plain is not None:
            raise CommandError(
                f"the server answers {tool} on the tool endpoint and {plain} on the baseline "
                "endpoint, not 401 on both: is ORMAI_LOADTEST=1 mounting loadtest/?"
            )
        time.sleep(0.2)
    raise CommandError(f"gunicorn did not answer within {STARTUP_SECONDS} s:\n{_log_tail(log)}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # gunicorn's graceful shutdown
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def gunicorn_server(database: str, workers: int, threads: int) -> Iterator[Server]:
    """gunicorn serving the sandbox against PostgreSQL database ``database``; stopped when
    the block ends, however it ends."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "sandbox_project.settings",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "ORMAI_DB": "postgres",
        "ORMAI_PG_NAME": database,
        "ORMAI_LOADTEST": "1",
        "DJANGO_DEBUG": "0",
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "sandbox_project.wsgi:application",
        f"--bind={HOST}:{port}",
        "--worker-class=gthread",
        f"--workers={workers}",
        f"--threads={threads}",
        f"--keep-alive={KEEP_ALIVE_SECONDS}",
        "--timeout=120",
        "--log-level=warning",
        f"--chdir={REPO}",
    ]
    with tempfile.TemporaryDirectory(prefix="ormai_load_") as folder:
        log = Path(folder) / "gunicorn.log"
        with log.open("wb") as output:
            # A session of its own: a Ctrl-C reaches this process, which stops the server.
            process = subprocess.Popen(
                command,
                cwd=REPO,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                _wait_until_answering(process, port, log)
                yield Server(port, workers, threads, version("gunicorn"), log)
            finally:
                _stop(process)
