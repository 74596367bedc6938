"""System checks: a policy that can't be built, or that protects less than it seems to.

- ``ormai_django.E001``: ``ORMAI["POLICY"]`` can't be loaded, or the policy names unknown or
  ambiguous models, unknown fields, or a tenant-scoped model without the tenant field.
- ``ormai_django.W001``: no ``ORMAI["POLICY"]`` is set.
- ``ormai_django.E002``: ``ORMAI["MASKER"]`` can't be imported or has no ``mask`` method.
- ``ormai_django.W002``: a model open to writes has no django-simple-history ``HistoricalRecords``.
- ``ormai_django.W003``: an approval rule, burst bound or write budget names a model not open to
  writes, so it can never apply.
- ``ormai_django.E003``: ``ORMAI["CONTEXT_RESOLVER"]`` or an entry of
  ``ORMAI["API_AUTHENTICATION_CLASSES"]`` can't be imported (the HTTP API would answer 500).
- ``ormai_django.W004``: ``settings.ORMAI`` has a key ormai_django doesn't know (a typo).
- ``ormai_django.E004``: ``settings.ORMAI`` is not a dict.
- ``ormai_django.E005``: two ``@agent_tool`` declarations share a name.
- ``ormai_django.E006``: an ``@agent_tool``'s ``writes`` names a model that isn't installed.
- ``ormai_django.E007``: ``allow_tools`` names a tool nobody declares.
- ``ormai_django.E008``: the policy allows a domain tool that writes a model it doesn't register.
- ``ormai_django.E009``: ``ORMAI["SLACK"]`` is set but incomplete, or ``slack_sdk`` or Celery
  is not installed (nothing would be posted, every click would get 401).
- ``ormai_django.E010``: an ``ORMAI["WEBHOOKS"]`` entry without an http(s) ``URL`` or a
  ``SECRET``, or whose ``EVENTS`` names no event there is (it would never be sent).
- ``ormai_django.E011``: ``ORMAI["APPROVAL_STATUS_RATE"]`` is not a rate like ``"60/minute"``.
- ``ormai_django.W005``: both ``SLACK_WEBHOOK_URL`` and ``SLACK`` are set: every held call
  would be posted twice.
"""

from __future__ import annotations

from difflib import get_close_matches
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

from ormai_django.conf import DEFAULTS, ormai_settings
from ormai_django.domain.declarations import CLASHES, REGISTRY
from ormai_django.errors import PolicyConfigurationError
from ormai_django.policy.loading import load_policy


def check_policy(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if not ormai_settings.POLICY:
        return [
            checks.Warning(
                'ORMAI["POLICY"] is not set, so execute() needs an explicit policy=.',
                hint='Set ORMAI = {"POLICY": "myproject.agent_policy.build_policy"}.',
                id="ormai_django.W001",
            )
        ]
    try:
        policy = load_policy(ormai_settings.POLICY)
    except PolicyConfigurationError as exc:
        return [
            checks.Error(
                f"ormai_django policy: {problem}",
                hint="Fix the policy named by ORMAI['POLICY']; the agent tools refuse every "
                "call until it builds.",
                id="ormai_django.E001",
            )
            for problem in exc.problems
        ]
    messages: list[checks.CheckMessage] = []
    for mp in policy.models:
        if mp.writes.enabled and not _has_history(mp.model):
            messages.append(
                checks.Warning(
                    f"{mp.label} is open to agent writes but has no HistoricalRecords.",
                    hint="Add `history = HistoricalRecords()` (django-simple-history) to the "
                    "model so every agent write leaves a history row.",
                    obj=mp.model,
                    id="ormai_django.W002",
                )
            )
    messages.extend(_dead_rules(policy))
    return messages


def _dead_rules(policy: Any) -> list[checks.CheckMessage]:
    ruled = [(rule.model, "require_approval") for rule in policy.approval_rules if rule.model]
    maker = {"burst": "bounded_burst", "budget": "write_budget"}
    ruled += [
        (budget.model, maker[budget.kind])
        for budget in policy.budgets
        if budget.model is not None and budget.kind in maker
    ]
    messages = []
    for model, rule in dict.fromkeys(ruled):
        if not policy.for_model(model).writes.enabled:
            messages.append(
                checks.Warning(
                    f"{rule} on {model._meta.label} never applies: the model is not open to "
                    "agent writes.",
                    hint="Add it to enable_writes(models=[...]) or give it "
                    f"@agent_model(writes=...), or drop the {rule} rule.",
                    obj=model,
                    id="ormai_django.W003",
                )
            )
    return messages


def check_masker(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    try:
        masker = import_string(ormai_settings.MASKER)
    except ImportError as exc:
        problem = f'ORMAI["MASKER"] = {ormai_settings.MASKER!r} cannot be imported: {exc}'
    else:
        if callable(getattr(masker, "mask", None)):
            return []
        problem = f'ORMAI["MASKER"] = {ormai_settings.MASKER!r} has no mask() method'
    return [
        checks.Error(
            problem,
            hint="Point it at a class with mask(value, kind, field), or remove it to use "
            "ormai_django.policy.masking.DefaultMasker.",
            id="ormai_django.E002",
        )
    ]


def check_api_classes(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The HTTP API's pluggable classes import (checked here, not on the first request)."""
    paths = [("CONTEXT_RESOLVER", ormai_settings.CONTEXT_RESOLVER)]
    paths += [
        ("API_AUTHENTICATION_CLASSES", path) for path in ormai_settings.API_AUTHENTICATION_CLASSES
    ]
    problems = []
    for setting, path in paths:
        try:
            import_string(path)
        except ImportError as exc:
            problems.append(
                checks.Error(
                    f'ORMAI["{setting}"] names {path!r}, which can\'t be imported: {exc}',
                    hint="Give the dotted path of a class (see docs/integrations.md), or "
                    "remove the setting to use the default.",
                    id="ormai_django.E003",
                )
            )
    return problems


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every key of ``settings.ORMAI`` is one ormai_django knows (a typo is silently ignored
    otherwise, and the default applies)."""
    user = getattr(settings, "ORMAI", None) or {}
    if not isinstance(user, dict):
        return [
            checks.Error(
                f"settings.ORMAI must be a dict, not {type(user).__name__}.",
                hint='Write ORMAI = {"POLICY": "myproject.agent_policy.build_policy"}.',
                id="ormai_django.E004",
            )
        ]
    messages: list[checks.CheckMessage] = []
    for key in sorted(set(user) - set(DEFAULTS), key=str):
        close = get_close_matches(str(key), DEFAULTS, n=1)
        messages.append(
            checks.Warning(
                f"settings.ORMAI has an unknown key {key!r}; ormai_django ignores it.",
                hint=(f"Did you mean {close[0]!r}? " if close else "")
                + f"The settings are: {', '.join(sorted(DEFAULTS))} (docs/policy.md).",
                id="ormai_django.W004",
            )
        )
    return messages


def check_domain_tools(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Domain tools: each name declared once, each model of ``writes`` installed, and every
    tool the policy's ``allow_tools`` names declared."""
    messages: list[checks.CheckMessage] = []
    for earlier, later in CLASHES:
        messages.append(
            checks.Error(
                f"The agent tool {later.name!r} is declared twice: by "
                f"{earlier.function.__module__}.{earlier.function.__qualname__} and by "
                f"{later.function.__module__}.{later.function.__qualname__}.",
                hint="Give each @agent_tool a name of its own (a namespace per app helps).",
                id="ormai_django.E005",
            )
        )
    for tool in REGISTRY.values():
        for ref in tool.writes:
            if isinstance(ref, type):
                continue
            try:
                apps.get_model(ref)
            except (LookupError, ValueError):
                messages.append(
                    checks.Error(
                        f"The agent tool {tool.name!r} writes {ref!r}, which is not an "
                        "installed model.",
                        hint="Name models as 'app_label.Model' (or pass the classes).",
                        id="ormai_django.E006",
                    )
                )
    if ormai_settings.POLICY:
        try:
            policy = load_policy(ormai_settings.POLICY)
        except PolicyConfigurationError:
            return messages  # E001 reports it
        messages += _undeclared_allowed(policy)
    return messages


def _undeclared_allowed(policy: Any) -> list[checks.CheckMessage]:
    messages = []
    for name in sorted(policy.domain_tools):
        tool = REGISTRY.get(name)
        if tool is None:
            messages.append(
                checks.Error(
                    f"allow_tools names {name!r}, which no @agent_tool declares.",
                    hint="Declare it in an app's agent_tools.py (autodiscovered), or fix the "
                    "name in allow_tools.",
                    id="ormai_django.E007",
                )
            )
            continue
        for ref in tool.writes:
            try:
                model = ref if isinstance(ref, type) else apps.get_model(ref)
            except (LookupError, ValueError):
                continue  # E006
            if policy.for_model(model) is None:
                messages.append(
                    checks.Error(
                        f"The policy allows {name!r}, which writes {model._meta.label}, but "
                        "doesn't register that model; every call of the tool is refused.",
                        hint="Add the model to register_models (its tenant scope and soft "
                        "delete then apply to what the tool touches).",
                        id="ormai_django.E008",
                    )
                )
    return messages


def check_notifications(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Slack, the webhooks and the approval.status rate, as configured."""
    from fnmatch import fnmatchcase
    from importlib.util import find_spec

    from ormai_django.reads.status_rate import parse_rate
    from ormai_django.webhooks.events import EVENT_TYPES

    messages: list[checks.CheckMessage] = []
    slack = ormai_settings.SLACK
    if slack is not None:
        missing = [
            key
            for key in ("BOT_TOKEN", "SIGNING_SECRET", "CHANNEL")
            if not isinstance(slack, dict) or not slack.get(key)
        ]
        absent = [name for name in ("slack_sdk", "celery") if find_spec(name) is None]
        if missing or absent:
            messages.append(
                checks.Error(
                    "ORMAI['SLACK'] can't work: "
                    + "; ".join(
                        ([f"it has no {', '.join(missing)}"] if missing else [])
                        + ([f"{', '.join(absent)} is not installed"] if absent else [])
                    )
                    + ".",
                    hint="Give BOT_TOKEN (xoxb-...), SIGNING_SECRET and CHANNEL, and install "
                    "ormai-django[slack,celery] (docs/approvals.md, Slack).",
                    id="ormai_django.E009",
                )
            )
        if ormai_settings.SLACK_WEBHOOK_URL:
            messages.append(
                checks.Warning(
                    "Both ORMAI['SLACK_WEBHOOK_URL'] and ORMAI['SLACK'] are set: every held "
                    "call is posted twice.",
                    hint="Remove SLACK_WEBHOOK_URL: the Slack app posts the message and its "
                    "buttons.",
                    id="ormai_django.W005",
                )
            )
    hooks = ormai_settings.WEBHOOKS or []
    for index, hook in enumerate(hooks if isinstance(hooks, list | tuple) else [hooks]):
        url = hook.get("URL") if isinstance(hook, dict) else None
        events = (hook.get("EVENTS") if isinstance(hook, dict) else None) or []
        unknown = [e for e in events if not any(fnmatchcase(t, str(e)) for t in EVENT_TYPES)]
        if (
            not isinstance(url, str)
            or not url.startswith(("https://", "http://"))
            or not hook.get("SECRET")
            or unknown
        ):
            messages.append(
                checks.Error(
                    f"ORMAI['WEBHOOKS'][{index}] is not a usable endpoint"
                    + (f" (unknown EVENTS: {', '.join(map(str, unknown))})" if unknown else "")
                    + ".",
                    hint='Each entry is {"URL": "https://...", "SECRET": "...", "EVENTS": '
                    f"[...]}} with EVENTS among {', '.join(EVENT_TYPES)} (or globs).",
                    id="ormai_django.E010",
                )
            )
    try:
        parse_rate(ormai_settings.APPROVAL_STATUS_RATE)
    except ValueError as exc:
        messages.append(
            checks.Error(str(exc), hint='For example "60/minute", or None.', id="ormai_django.E011")
        )
    return messages


def _has_history(model: type) -> bool:
    # django-simple-history marks every model it tracks this way.
    return hasattr(model._meta, "simple_history_manager_attribute")


def register() -> None:
    checks.register(check_policy, "ormai_django")
    checks.register(check_masker, "ormai_django")
    checks.register(check_api_classes, "ormai_django")
    checks.register(check_settings, "ormai_django")
    checks.register(check_domain_tools, "ormai_django")
    checks.register(check_notifications, "ormai_django")
