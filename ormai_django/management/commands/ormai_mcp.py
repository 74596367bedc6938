"""``python manage.py ormai_mcp``: serve this project's tools to an MCP client.

    python manage.py ormai_mcp --principal agent:support-bot --tenant 7
    python manage.py ormai_mcp --transport streamable-http --port 8765 --principal ...
    ORMAI_CAPABILITY_TOKEN=... python manage.py ormai_mcp

The server lives in ``ormai_django.mcp`` (docs/mcp.md); this command only reads the options,
refuses a bad caller or host before serving, and runs the transport.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ormai_django.errors import PolicyConfigurationError
from ormai_django.policy.loading import get_policy

TOKEN_ENV = "ORMAI_CAPABILITY_TOKEN"
BEARER_ENV = "ORMAI_MCP_BEARER_TOKEN"


class Command(BaseCommand):
    help = (
        "Serve the ormai_django tools over MCP (stdio, or streamable HTTP on 127.0.0.1) as one "
        "caller: --principal/--tenant/--on-behalf-of/--run-id, or a capability token."
    )
    # Not every system check: the URL checks load the project's whole URLconf (a tenth of a
    # second of imports the server never uses, before a client's start-up timeout). The
    # checks of what the server runs on (ormai_django's and the models') run in handle().
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--transport", choices=("stdio", "streamable-http"), default="stdio")
        parser.add_argument("--host", default=None, help="HTTP only; default 127.0.0.1.")
        parser.add_argument("--port", type=int, default=8765, help="HTTP only; default 8765.")
        parser.add_argument(
            "--allow-remote",
            action="store_true",
            help="HTTP only: allow a --host that is not loopback; needs --bearer-token.",
        )
        parser.add_argument(
            "--bearer-token",
            dest="bearer_token",
            default=None,
            help=f"HTTP only: every request must send 'Authorization: Bearer <this>' "
            f"(default: ${BEARER_ENV}); required with --allow-remote.",
        )
        parser.add_argument(
            "--allowed-host",
            dest="allowed_hosts",
            action="append",
            default=[],
            metavar="NAME[:PORT]",
            help="HTTP only: a Host header clients may send besides the bound address "
            "(repeatable; e.g. the name a proxy forwards).",
        )
        parser.add_argument("--principal", help="Who calls, e.g. agent:support-bot.")
        parser.add_argument("--tenant", help="The tenant whose rows the calls may reach.")
        parser.add_argument("--on-behalf-of", dest="on_behalf_of", help="The end user, if any.")
        parser.add_argument("--run-id", dest="run_id", help="Groups this run's audit rows.")
        parser.add_argument(
            "--token",
            default=None,
            help=f"A capability token (default: ${TOKEN_ENV}); it carries the context.",
        )
        parser.add_argument(
            "--tool-names",
            dest="tool_names",
            choices=("provider", "dotted", "underscored"),
            default="provider",
            help="db_query (provider, the default: what OpenAI and Anthropic accept) or "
            "db.query (dotted); underscored is the old name of provider.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            import anyio

            from ormai_django.mcp import build_server, resolve_caller
            from ormai_django.mcp.caller import CallerError
            from ormai_django.mcp.transports import (
                BindRefused,
                bind,
                check_host,
                serve_stdio,
                serve_streamable_http,
            )
        except ImportError as exc:
            raise CommandError(
                f"The MCP server needs the mcp SDK ({exc}): pip install 'ormai-django[mcp]'."
            ) from None

        self.check(tags=["ormai_django", "models"], display_num_errors=False)
        http = options["transport"] == "streamable-http"
        host = options["host"] or "127.0.0.1"
        bearer_token = options["bearer_token"] or os.environ.get(BEARER_ENV) or None
        for flag, given in (
            ("--host", options["host"]),
            ("--bearer-token", options["bearer_token"]),
            ("--allowed-host", options["allowed_hosts"]),
            ("--allow-remote", options["allow_remote"]),
        ):
            if given and not http:
                raise CommandError(f"{flag} is for --transport streamable-http.")
        if http:
            try:
                check_host(
                    host,
                    allow_remote=options["allow_remote"],
                    bearer_token=bearer_token,
                    allowed_hosts=options["allowed_hosts"],
                )
            except BindRefused as exc:
                raise CommandError(str(exc)) from None
        try:
            policy = get_policy()
        except PolicyConfigurationError as exc:
            raise CommandError(f"ORMAI['POLICY'] is not usable: {exc}") from None
        try:
            caller = resolve_caller(
                policy,
                principal=options["principal"],
                tenant=options["tenant"],
                on_behalf_of=options["on_behalf_of"],
                run_id=options["run_id"],
                token=options["token"] or os.environ.get(TOKEN_ENV),
            )
        except CallerError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None

        server = build_server(caller, tool_names=options["tool_names"])
        if http:
            try:  # bound before anything says "serving": a busy port is a clear error
                sock = bind(host, options["port"])
            except BindRefused as exc:
                raise CommandError(str(exc)) from None
        # stdout is the protocol's in stdio mode: everything for people goes to stderr.
        print(f"ormai_mcp: serving as {caller.describe()}", file=sys.stderr, flush=True)
        try:
            if http:
                anyio.run(
                    functools.partial(
                        serve_streamable_http,
                        server,
                        sock=sock,
                        host=host,
                        bearer_token=bearer_token,
                        allowed_hosts=options["allowed_hosts"],
                    )
                )
            else:
                anyio.run(serve_stdio, server)
        except KeyboardInterrupt:
            pass
