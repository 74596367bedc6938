"""Schemathesis against the API's own OpenAPI schema: no generated request gets a 5xx.

The requests run in-process through the sandbox's WSGI application (its whole middleware
stack; only the closing of the database connection after each request is switched off, as
Django's test client does, since it would end the test's transaction), on the test
database, authenticated the way a real caller is:
the tool endpoints with a capability token, the approvals and audit endpoints with a
superuser's session and its CSRF token (CSRF checks enforced).
"""

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils.crypto import get_random_string
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from ormai_django import ToolContext, execute
from ormai_django.tokens import issue_token
from sandbox_project.wsgi import application
from tests.factories import CustomerFactory, NoteFactory, OrderFactory, SubscriptionFactory

# Loaded once, at collection: building the schema reads no table.
# Credentials are the test's own (below), not generated from the security schemes.
CONFIG = schemathesis.Config.from_dict({"generation": {"with-security-parameters": False}})
SCHEMA = schemathesis.openapi.from_wsgi("/ormai/schema/", application, config=CONFIG)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


def test_the_schema_covers_every_endpoint():
    assert {f"{op.method.upper()} {op.path}" for op in OPERATIONS} == {
        "GET /ormai/tools/",
        "POST /ormai/tools/call/",
        "GET /ormai/approvals/",
        "GET /ormai/approvals/{id}/",
        "POST /ormai/approvals/{id}/approve/",
        "POST /ormai/approvals/{id}/deny/",
        "GET /ormai/audit-events/",
        "GET /ormai/audit-events/{id}/",
        "POST /ormai/audit-events/{id}/rollback/",
    }


@pytest.fixture
def connection_kept_open():
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def rows(db):
    """Real rows for generated cases to aim at: a held write and an executed one."""
    agent = ToolContext(principal="agent:fuzz", tenant_id=7)
    customer = CustomerFactory(tenant_id=7)
    OrderFactory(customer=customer)
    NoteFactory(customer=customer)
    subscription = SubscriptionFactory(customer=customer)
    held = execute(
        {
            "name": "db.update",
            "arguments": {
                "model": "Subscription",
                "id": subscription.id,
                "data": {"plan": "pro"},
                "reason": "upgrade",
            },
        },
        agent,
    )
    written = execute(
        {
            "name": "db.update",
            "arguments": {
                "model": "Customer",
                "id": customer.id,
                "data": {"preferred_name": "Annie"},
                "reason": "asked",
            },
        },
        agent,
    )
    assert (held["outcome"], written["outcome"]) == ("pending_approval", "ok")
    return {"/ormai/approvals/": held["approval_id"], "/ormai/audit-events/": written["audit_id"]}


@pytest.fixture
def credentials(db, client, django_user_model):
    """Call arguments per endpoint: a bearer token for the tools, a session for the rest."""
    admin = django_user_model.objects.create_superuser("ops", password="pw")
    client.force_login(admin)
    csrf = get_random_string(32)
    session = {
        "headers": {"X-CSRFToken": csrf},
        "cookies": {
            django_settings.SESSION_COOKIE_NAME: client.cookies[
                django_settings.SESSION_COOKIE_NAME
            ].value,
            django_settings.CSRF_COOKIE_NAME: csrf,
        },
    }
    token = issue_token(principal="agent:fuzz", tenant_id=7)

    def for_case(case):
        if case.path.startswith("/ormai/tools"):
            return {"headers": {"Authorization": f"Bearer {token}"}}
        return session

    return for_case


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: f"{op.method.upper()} {op.path}")
def test_no_generated_request_gets_a_server_error(
    operation, rows, credentials, connection_kept_open
):
    @given(case=operation.as_strategy(), aim_at_a_real_row=st.booleans())
    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case, aim_at_a_real_row):
        if aim_at_a_real_row and case.path_parameters and "id" in case.path_parameters:
            # Random ids name no row; half the cases decide, read or roll back a real one.
            case.path_parameters["id"] = next(
                row_id for prefix, row_id in rows.items() if case.path.startswith(prefix)
            )
        response = case.call(**credentials(case))
        case.validate_response(response, checks=[not_a_server_error])

    call()
