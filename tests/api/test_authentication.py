"""Who may call the HTTP API: capability tokens (missing, bad, expired, wider than the
policy), signed-in users (staff or not) and the context resolver that gives staff a
tenant."""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from ormai_django import PolicyBuilder
from ormai_django.models import AuditEvent
from tests.api.support import (
    APPROVALS,
    AUDIT,
    CALL,
    SANDBOX_POLICY,
    TOOLS,
    agent,
    person,
    post_call,
)
from tests.factories import CustomerFactory, OrderFactory
from tests.support import token_for

pytestmark = pytest.mark.django_db


def orders_only_policy():
    return PolicyBuilder().register_models(["shop.Order"]).tenant_scope("tenant_id").build()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", TOOLS),
        ("post", CALL),
        ("get", APPROVALS),
        ("get", AUDIT),
        ("post", f"{APPROVALS}appr_x/approve/"),
        ("post", f"{AUDIT}aud_x/rollback/"),
    ],
)
def test_unauthenticated_requests_are_refused_with_401(method, path):
    response = getattr(APIClient(), method)(path, {}, format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "NOT_AUTHENTICATED"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not AuditEvent.objects.exists()


def test_a_bad_or_expired_token_is_refused_with_401_and_its_code(monkeypatch):
    from django.core import signing

    past = signing.time.time() - 7200
    monkeypatch.setattr(signing.time, "time", lambda: past)
    expired = token_for()
    monkeypatch.undo()

    for token, code in ((token_for() + "x", "TOKEN_INVALID"), (expired, "TOKEN_EXPIRED")):
        response = post_call(agent(token), "db.describe")
        assert response.status_code == 401
        assert response.json() == {
            "outcome": "denied",
            "error": {"code": code, "message": response.json()["error"]["message"]},
        }
    malformed = APIClient(HTTP_AUTHORIZATION="Bearer two parts").get(TOOLS)
    assert malformed.json()["error"]["code"] == "TOKEN_INVALID"


def test_a_token_the_policy_no_longer_covers_is_refused_with_403():
    token = token_for(models=["Customer", "Order"])

    with override_settings(ORMAI={"POLICY": "tests.api.test_authentication.orders_only_policy"}):
        response = agent(token).get(TOOLS)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "TOKEN_WIDENS_POLICY"


def test_a_signed_in_user_who_is_not_staff_cannot_call_the_tools():
    response = post_call(person("maria"), "db.describe")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"
    assert not AuditEvent.objects.exists()


def test_a_staff_user_calls_as_user_principal_with_no_tenant_by_default():
    client = person("lee", staff=True)

    described = post_call(client, "db.describe")
    scoped = post_call(client, "db.query", model="Order")

    assert described.status_code == 200
    assert scoped.status_code == 403
    assert scoped.json()["error"]["code"] == "TENANT_REQUIRED"
    event = AuditEvent.objects.get(id=scoped.json()["audit_id"])
    assert (event.principal, event.on_behalf_of, event.tenant_id) == ("user:lee", "lee", "")


def test_a_custom_resolver_gives_staff_their_tenant():
    ours = OrderFactory(tenant_id=7)
    OrderFactory(customer=CustomerFactory(tenant_id=8))
    client = person("lee", staff=True)

    with override_settings(
        ORMAI={
            "POLICY": SANDBOX_POLICY,
            "CONTEXT_RESOLVER": "tests.api.support.TenantSevenResolver",
        }
    ):
        response = post_call(client, "db.query", model="Order")

    assert [row["id"] for row in response.json()["rows"]] == [ours.id]
