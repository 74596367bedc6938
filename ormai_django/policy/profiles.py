"""Profiles: the defaults a policy starts from.

``DEFAULT_PROD`` is the safe one: nothing is writable until ``enable_writes``
says so, small pages, a reason for every write, no cascading deletes.
``DEFAULT_DEV`` is roomier for local work; it still denies secrets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

# Field-name globs denied on every model (case-insensitive fnmatch on the field name).
SECRET_FIELD_GLOBS: tuple[str, ...] = (
    "*password*",
    "*passwd*",
    "*secret*",
    "*token*",
    "*api_key*",
    "*apikey*",
    "*private_key*",
    "*_key",
    "key",
)


@dataclass(frozen=True)
class Profile:
    """Defaults for a policy. Use ``profile.replace(...)`` to derive your own."""

    name: str
    default_limit: int
    max_limit: int
    require_reason: bool
    require_idempotency_key: bool
    max_affected_rows: int
    allow_cascade_delete: bool
    approval_expiry: timedelta
    deny_globs: tuple[str, ...]
    max_preview_rows: int = 20
    max_where_conditions: int = 50
    max_where_depth: int = 8
    max_in_values: int = 1000
    max_aggregate_groups: int = 500

    def replace(self, **changes: object) -> Profile:
        return replace(self, **changes)


DEFAULT_PROD = Profile(
    name="prod",
    default_limit=50,
    max_limit=1000,
    require_reason=True,
    require_idempotency_key=False,
    max_affected_rows=100,
    allow_cascade_delete=False,
    approval_expiry=timedelta(hours=24),
    deny_globs=SECRET_FIELD_GLOBS,
)

DEFAULT_DEV = Profile(
    name="dev",
    default_limit=100,
    max_limit=5000,
    require_reason=True,
    require_idempotency_key=False,
    max_affected_rows=1000,
    allow_cascade_delete=True,
    approval_expiry=timedelta(hours=1),
    deny_globs=SECRET_FIELD_GLOBS,
)
