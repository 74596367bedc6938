"""POST tools/call/: each outcome's HTTP status with the outcome JSON as its body,
malformed and oversized bodies, the tenant and principal taken from the token (never
the body), and 503 without a policy."""

import json

import pytest
from django.test import override_settings

from ormai_django.models import AuditEvent
from sandbox_project.shop.models import Customer
from tests.api.support import (
    CALL,
    TOOLS,
    agent,
    person,
    post_call,
)
from tests.factories import CustomerFactory, OrderFactory, SubscriptionFactory
from tests.support import token_for

pytestmark = pytest.mark.django_db


def test_an_ok_read_is_200_with_the_outcome_json():
    order = OrderFactory(status="paid")

    response = post_call(agent(), "db.get", model="Order", id=order.id)

    assert response.status_code == 200
    body = response.json()
    assert (body["outcome"], body["row"]["status"]) == ("ok", "paid")
    assert AuditEvent.objects.get(id=body["audit_id"]).principal == "agent:support-bot"


def test_a_write_dry_run_and_a_held_write_are_200():
    customer = CustomerFactory()
    subscription = SubscriptionFactory(customer=customer)
    client = agent()

    ok = post_call(
        client,
        "db.update",
        model="Customer",
        id=customer.id,
        data={"preferred_name": "Annie"},
        reason="asked to be called Annie",
    )
    dry = post_call(
        client,
        "db.update",
        model="Customer",
        id=customer.id,
        data={"preferred_name": "Ann"},
        reason="typo",
        dry_run=True,
    )
    held = post_call(
        client,
        "db.update",
        model="Subscription",
        id=subscription.id,
        data={"plan": "pro"},
        reason="upgrade requested",
    )

    assert [r.status_code for r in (ok, dry, held)] == [200, 200, 200]
    assert [r.json()["outcome"] for r in (ok, dry, held)] == ["ok", "dry_run", "pending_approval"]
    assert Customer.objects.get(id=customer.id).preferred_name == "Annie"


def test_a_denied_call_is_403_with_the_same_body():
    customer = CustomerFactory()

    response = post_call(
        agent(), "db.update", model="Customer", id=customer.id, data={"preferred_name": "Annie"}
    )

    assert response.status_code == 403
    assert response.json()["outcome"] == "denied"
    assert response.json()["error"]["code"] == "REASON_REQUIRED"


def test_rate_limited_is_429_with_retry_after():
    customer = CustomerFactory()
    client = agent()
    statuses = [
        post_call(
            client,
            "db.update",
            model="Customer",
            id=customer.id,
            data={"preferred_name": f"Ann {n}"},
            reason="testing the limit",
        ).status_code
        for n in range(11)
    ]

    assert statuses == [200] * 10 + [429]
    limited = post_call(
        client,
        "db.update",
        model="Customer",
        id=customer.id,
        data={"preferred_name": "Ann"},
        reason="once more",
    )
    assert limited.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(limited["Retry-After"]) <= 60


def test_an_error_is_400_and_not_found_is_404():
    unknown = post_call(agent(), "db.drop", model="Order")
    missing = post_call(agent(), "db.get", model="Order", id=999_999)

    assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, "UNKNOWN_TOOL")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"name": "db.query", ', "application/json"),
        ("[1, 2", "application/json"),
        ("", "application/json"),
        ("name=db.query", "application/x-www-form-urlencoded"),
        (b"\xff\xfe{}", "application/json"),
    ],
)
def test_a_malformed_body_is_400_with_the_outcome_shape_and_audited(body, content_type):
    response = agent().generic("POST", CALL, body, content_type=content_type)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["outcome"] == "error"
    assert response.json()["error"]["code"] in ("INVALID_JSON", "INVALID_CALL")
    assert AuditEvent.objects.filter(id=response.json()["audit_id"]).exists()


def test_an_oversized_body_is_refused_without_being_read_whole():
    body = json.dumps({"name": "db.query", "arguments": {"model": "Order", "pad": "x" * 300_000}})

    response = agent().generic("POST", CALL, body, content_type="application/json")

    assert (response.status_code, response.json()["error"]["code"]) == (400, "INVALID_CALL")


def test_the_body_cannot_choose_the_tenant_or_the_principal():
    ours = OrderFactory(tenant_id=7)
    OrderFactory(customer=CustomerFactory(tenant_id=8))

    response = agent().post(
        CALL,
        {
            "name": "db.query",
            "arguments": {"model": "Order"},
            "context": {"tenant_id": 8, "principal": "user:admin"},
            "tenant_id": 8,
        },
        format="json",
    )

    assert [row["id"] for row in response.json()["rows"]] == [ours.id]
    event = AuditEvent.objects.get(id=response.json()["audit_id"])
    assert (event.principal, event.tenant_id) == ("agent:support-bot", "7")


def test_tenants_are_isolated_over_http():
    theirs = OrderFactory(customer=CustomerFactory(tenant_id=8))
    seven, eight = agent(token_for(tenant_id=7)), agent(token_for(tenant_id=8))

    assert post_call(seven, "db.get", model="Order", id=theirs.id).status_code == 404
    assert post_call(eight, "db.get", model="Order", id=theirs.id).status_code == 200
    changed = post_call(
        seven,
        "db.update",
        model="Order",
        id=theirs.id,
        data={"status": "cancelled"},
        reason="cancel it",
    )
    assert changed.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "pending"


def test_without_a_policy_the_tools_answer_503():
    token = token_for()
    lee = person("lee", staff=True)

    with override_settings(ORMAI={}):
        responses = [
            agent(token).get(TOOLS),
            post_call(agent(token), "db.describe"),
            post_call(lee, "db.describe"),
        ]

    assert [r.status_code for r in responses] == [503, 503, 503]
    assert {r.json()["error"]["code"] for r in responses} == {"POLICY_NOT_CONFIGURED"}
