import os

import pytest
from hypothesis import HealthCheck, settings

from ormai_django import ToolContext
from ormai_django.policy.loading import get_policy

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "dev",
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_collection_modifyitems(config, items):
    on_postgres = os.environ.get("ORMAI_DB") == "postgres"
    skip = pytest.mark.skip(reason="needs PostgreSQL: runs in the ORMAI_DB=postgres pass")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache: approval.status counts looks there, per
    principal, and the tests share principals."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def policy():
    """The sandbox's own policy (the production example of the design)."""
    return get_policy()


@pytest.fixture
def ctx():
    """An agent in tenant 7."""
    return ToolContext(principal="agent:support-bot", tenant_id=7, run_id="run-test")


@pytest.fixture
def other_ctx():
    """An agent in tenant 8."""
    return ToolContext(principal="agent:support-bot", tenant_id=8, run_id="run-test")
