"""A fake Slack Web API: a real HTTP server on 127.0.0.1 that answers the methods the
integration calls and records every request, for ``WebClient(base_url=...)`` to talk to.

Interaction requests are built the way Slack builds and signs them: the payload JSON in a
``payload=`` form field, ``X-Slack-Request-Timestamp`` and ``X-Slack-Signature`` =
``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}`` with the signing secret.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlparse

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-token"
CHANNEL = "C0APPROVALS"


class FakeSlack:
    """The server's state: the users ``users.info`` knows, and every call received."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.users: dict[str, str] = {}  # Slack id -> e-mail
        self.fail_views_open = False
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        self.url = ""

    def add_user(self, slack_id: str, email: str) -> str:
        self.users[slack_id] = email
        return slack_id

    def of(self, method: str) -> list[dict]:
        """The arguments of every call to ``method``, in order."""
        return [c["args"] for c in self.calls if c["method"] == method]

    def answer(self, method: str, args: dict) -> dict:
        if method == "chat.postMessage":
            ts = f"1700000000.{next(self._ts):06d}"
            return {"ok": True, "channel": args.get("channel"), "ts": ts, "message": args}
        if method == "chat.update":
            return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"1700000001.{next(self._ts):06d}"}
        if method == "views.open":
            if self.fail_views_open:
                return {"ok": False, "error": "expired_trigger_id"}
            view = args.get("view") or {}
            view = json.loads(view) if isinstance(view, str) else view
            return {"ok": True, "view": {"id": "V0DENY", **view}}
        if method == "users.info":
            email = self.users.get(args.get("user", ""))
            if email is None:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": {"id": args["user"], "profile": {"email": email}}}
        if method == "users.lookupByEmail":
            for slack_id, email in self.users.items():
                if email == args.get("email"):
                    return {"ok": True, "user": {"id": slack_id}}
            return {"ok": False, "error": "users_not_found"}
        return {"ok": False, "error": "unknown_method"}


def _arguments(handler: BaseHTTPRequestHandler, body: bytes) -> dict:
    args = dict(parse_qsl(urlparse(handler.path).query))
    kind = handler.headers.get("Content-Type", "")
    if kind.startswith("application/json") and body:
        args.update(json.loads(body))
    elif body:
        args.update(parse_qsl(body.decode()))
    return args


@contextmanager
def fake_slack():
    """Start the fake on an ephemeral port; yields the ``FakeSlack`` (``.url`` is the base
    URL to give ``ORMAI["SLACK"]["API_URL"]``)."""
    state = FakeSlack()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            method = urlparse(self.path).path.rsplit("/", 1)[-1]
            args = _arguments(self, body)
            with state._lock:
                state.calls.append(
                    {"method": method, "args": args, "auth": self.headers.get("Authorization")}
                )
                answer = state.answer(method, args)
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/api/"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def slack_settings(api_url: str, **extra) -> dict:
    return {
        "BOT_TOKEN": BOT_TOKEN,
        "SIGNING_SECRET": SIGNING_SECRET,
        "CHANNEL": CHANNEL,
        "API_URL": api_url,
        **extra,
    }


def signed(payload: dict, *, secret: str = SIGNING_SECRET, timestamp: int | None = None):
    """``(body, headers)`` of an interaction request, signed as Slack signs it."""
    body = urlencode({"payload": json.dumps(payload)})
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {
        "HTTP_X_SLACK_REQUEST_TIMESTAMP": ts,
        "HTTP_X_SLACK_SIGNATURE": f"v0={digest}",
    }
    return body, headers


_triggers = itertools.count(1)


def click(action_id: str, approval_id: str, slack_user: str, message_ts: str = "") -> dict:
    """A ``block_actions`` payload: ``slack_user`` clicked a button of the message."""
    return {
        "type": "block_actions",
        "user": {"id": slack_user, "username": slack_user.lower(), "team_id": "T0SHOP"},
        "api_app_id": "A0ORMAI",
        "team": {"id": "T0SHOP", "domain": "shop"},
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": CHANNEL,
            "is_ephemeral": False,
        },
        "trigger_id": f"{next(_triggers)}.1234.abcdef",
        "channel": {"id": CHANNEL, "name": "approvals"},
        "message": {"ts": message_ts, "type": "message"},
        "response_url": "https://hooks.slack.invalid/actions/T0SHOP/1/xyz",
        "actions": [
            {
                "action_id": action_id,
                "block_id": "ormai.decide",
                "value": approval_id,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def submit_note(view: dict, slack_user: str, note: str) -> dict:
    """A ``view_submission`` payload: ``slack_user`` typed ``note`` into the opened modal."""
    return {
        "type": "view_submission",
        "team": {"id": "T0SHOP", "domain": "shop"},
        "user": {"id": slack_user, "username": slack_user.lower(), "team_id": "T0SHOP"},
        "api_app_id": "A0ORMAI",
        "trigger_id": f"{next(_triggers)}.5678.fedcba",
        "view": {
            "id": "V0DENY",
            "type": "modal",
            "callback_id": view["callback_id"],
            "private_metadata": view["private_metadata"],
            "state": {"values": {"note": {"note": {"type": "plain_text_input", "value": note}}}},
        },
    }
