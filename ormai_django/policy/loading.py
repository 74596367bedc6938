"""The project's policy, from ``ORMAI["POLICY"]``: a dotted path to a ``Policy`` or to a
callable returning one. Loaded once, lazily (after the app registry is ready)."""

from __future__ import annotations

import threading
from typing import Any

from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from ormai_django.conf import ormai_settings
from ormai_django.errors import PolicyConfigurationError
from ormai_django.policy.policy import Policy

_lock = threading.Lock()
_cached: Policy | None = None


def get_policy() -> Policy:
    """The configured policy; raises ``PolicyConfigurationError`` when there is none."""
    global _cached
    if _cached is not None:
        return _cached
    with _lock:
        if _cached is None:
            _cached = load_policy(ormai_settings.POLICY)
        return _cached


def load_policy(path: object) -> Policy:
    if not path:
        raise PolicyConfigurationError(
            ['ORMAI["POLICY"] is not set; point it at a Policy or a function returning one']
        )
    if isinstance(path, Policy):
        return path
    if not isinstance(path, str):
        raise PolicyConfigurationError(['ORMAI["POLICY"] must be a dotted path string'])
    try:
        target = import_string(path)
    except ImportError as exc:
        raise PolicyConfigurationError(
            [f'ORMAI["POLICY"] = {path!r} cannot be imported: {exc}']
        ) from None
    try:
        policy = target() if callable(target) and not isinstance(target, Policy) else target
    except PolicyConfigurationError:
        raise
    except Exception as exc:
        # A ValueError from a builder call is as much a misconfiguration as an unknown field.
        raise PolicyConfigurationError(
            [f"building the policy {path!r} raised {type(exc).__name__}: {exc}"]
        ) from exc
    if not isinstance(policy, Policy):
        raise PolicyConfigurationError(
            [f'ORMAI["POLICY"] = {path!r} gave {type(policy).__name__}, not a Policy']
        )
    return policy


def clear_policy_cache() -> None:
    global _cached
    with _lock:
        _cached = None


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "ORMAI":
        clear_policy_cache()


setting_changed.connect(_on_setting_changed, dispatch_uid="ormai_django.policy.loading")
