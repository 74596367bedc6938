"""The pytest plugin of ormai_django (entry point ``pytest11``): the ``ormai_policy_assert``
fixture.

    def test_vip_flag_is_not_writable(ormai_policy_assert):
        ormai_policy_assert.denies(call, ctx, code="FIELD_NOT_WRITABLE")

The fixture uses the database (pytest-django's ``db``); ``ormai_policy_assert.using(policy)``
gives the same assertions with another default policy than ``ORMAI["POLICY"]``.
"""

from __future__ import annotations

from typing import Any

import pytest


class PolicyAssertions:
    """``assert_allows``, ``assert_denies`` and ``assert_held`` with a default policy."""

    def __init__(self, policy: Any = None) -> None:
        self.policy = policy

    def using(self, policy: Any) -> PolicyAssertions:
        return PolicyAssertions(policy)

    def _kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs.setdefault("policy", self.policy)
        return kwargs

    def allows(self, call: Any, context: Any, **kwargs: Any) -> dict[str, Any]:
        from ormai_django.testing import assert_allows

        return assert_allows(call, context, **self._kwargs(kwargs))

    def denies(self, call: Any, context: Any, **kwargs: Any) -> dict[str, Any]:
        from ormai_django.testing import assert_denies

        return assert_denies(call, context, **self._kwargs(kwargs))

    def held(self, call: Any, context: Any, **kwargs: Any) -> dict[str, Any]:
        from ormai_django.testing import assert_held

        return assert_held(call, context, **self._kwargs(kwargs))


@pytest.fixture
def ormai_policy_assert(db: Any) -> PolicyAssertions:
    """The policy assertions, with database access (pytest-django's ``db``)."""
    return PolicyAssertions()
