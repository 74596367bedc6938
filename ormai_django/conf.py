"""Settings of ormai_django: one ``DEFAULTS`` dict under ``settings.ORMAI``.

Read them through ``ormai_settings.NAME``; the accessor reloads when a test
changes ``ORMAI`` with ``override_settings``. Nothing here writes into
``django.conf.settings``, and this module imports nothing of the package.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

DEFAULTS: dict[str, Any] = {
    # Dotted path to a Policy, or to a callable returning one.
    "POLICY": None,
    # Dotted path to a second Policy (or a callable returning one) judged beside POLICY on
    # every write call, its verdict recorded in the audit row and never acted on (shadow
    # mode: ormai_django.shadow, manage.py ormai_shadow). None: no shadow policy.
    "SHADOW_POLICY": None,
    # Dotted path to the class that masks values of masked fields.
    "MASKER": "ormai_django.policy.masking.DefaultMasker",
    # Salt of the signed pagination cursors (the signing key is SECRET_KEY).
    "CURSOR_SALT": "ormai_django.cursor",
    # A call (as JSON) larger than this is refused before it is parsed.
    "MAX_CALL_BYTES": 256 * 1024,
    # How long idempotency records are kept (ormai_purge_idempotency and the Celery task
    # purge_idempotency_records delete older ones; a retry after that runs again).
    "IDEMPOTENCY_RETENTION": timedelta(days=7),
    # How long a run's budget for the life of the run (write_budget(scope="run", per=None))
    # is kept after the run's last write; a stopped run is kept until an operator resets it.
    # ormai_budget prune and the Celery task prune_budget_windows delete what is over.
    "RUN_BUDGET_RETENTION": timedelta(days=7),
    # A Slack incoming-webhook URL: when set (and Celery runs), every write held for
    # approval is posted there (ormai_django.notifications). None: no notifications.
    "SLACK_WEBHOOK_URL": None,
    # The site's address, e.g. "https://ops.example.com": notifications link to
    # <ADMIN_BASE_URL>/admin/ormai_django/approvalrequest/<id>/change/.
    "ADMIN_BASE_URL": "",
    # approval.status: at most this many looks per principal per period ("60/minute",
    # "10/5s"; None: no limit), counted in this Django cache (ormai_django.reads.status_rate).
    "APPROVAL_STATUS_RATE": "60/minute",
    "APPROVAL_STATUS_CACHE": "default",
    # Slack, both ways (ormai_django.slack; needs slack_sdk and Celery): {"BOT_TOKEN",
    # "SIGNING_SECRET", "CHANNEL", optional "API_URL", "USERS", "TIMEOUT"}. None: off.
    "SLACK": None,
    # Signed outgoing webhooks (ormai_django.webhooks; needs Celery): a list of
    # {"URL", "SECRET", optional "EVENTS": [...]}. Empty: none.
    "WEBHOOKS": [],
    # Salt of capability tokens (ormai_django.tokens; the signing key is SECRET_KEY).
    "CAPABILITY_TOKEN_SALT": "ormai_django.capability",
    # The longest lifetime issue_token() accepts.
    "CAPABILITY_TOKEN_MAX_LIFETIME": timedelta(days=1),
    # Dotted path to the class that maps an HTTP request to (ToolContext, Policy) for the
    # API (ormai_django.api); see docs/integrations.md.
    "CONTEXT_RESOLVER": "ormai_django.api.resolver.ContextResolver",
    # DRF authentication classes of the API, tried in order (dotted paths).
    "API_AUTHENTICATION_CLASSES": [
        "ormai_django.api.authentication.CapabilityTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
}


class OrmaiSettings:
    """Lazy view of ``settings.ORMAI`` over ``DEFAULTS``."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown ormai_django setting: {name!r}")
        if name not in self._cache:
            user = getattr(settings, "ORMAI", None)
            # Anything but a dict is a misconfiguration (system check E004): defaults apply.
            user = user if isinstance(user, dict) else {}
            self._cache[name] = user.get(name, DEFAULTS[name])
        return self._cache[name]

    def reload(self) -> None:
        self._cache.clear()


ormai_settings = OrmaiSettings()


def reload_ormai_settings(*, setting: str, **kwargs: Any) -> None:
    """``setting_changed`` receiver: a test's ``override_settings(ORMAI=...)`` takes effect.
    Each cache derived from the settings (the loaded policy, the masker) connects its own
    receiver beside itself."""
    if setting == "ORMAI":
        ormai_settings.reload()


setting_changed.connect(reload_ormai_settings)
