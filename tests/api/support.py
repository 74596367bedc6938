"""Helpers of the HTTP API tests: the endpoints, clients signed in the ways a caller is (a
capability token, a Django user), and the writes that approval, audit and rollback tests
start from."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from ormai_django.api.resolver import ContextResolver
from tests.factories import CustomerFactory, SubscriptionFactory
from tests.support import token_for

TOOLS = "/ormai/tools/"
CALL = "/ormai/tools/call/"
APPROVALS = "/ormai/approvals/"
AUDIT = "/ormai/audit-events/"
SANDBOX_POLICY = "sandbox_project.shop.policy.build_policy"


def agent(token=None):
    """An API client authenticated with a capability token (``token_for()`` by default)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token or token_for()}")
    return client


def post_call(client, name, **arguments):
    """POST tools/call/ with one tool call: post_call(agent(), "db.get", model="Order", id=1)."""
    return client.post(CALL, {"name": name, "arguments": arguments}, format="json")


def person(username, *codenames, staff=False):
    """An API client signed in as a new Django user with these ormai_django permissions:
    person("lee", "approve_approvalrequest", staff=True)."""
    # No password: force_login needs none, and hashing one costs a third of a second.
    user = get_user_model().objects.create_user(username, is_staff=staff)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="ormai_django", codename__in=codenames)
    )
    client = APIClient()
    client.force_login(user)
    return client


class TenantSevenResolver(ContextResolver):
    """A project's resolver: its staff work in tenant 7."""

    def user_tenant(self, request, user):
        return 7


def held_plan_change(on_behalf_of=None):
    """A plan upgrade an agent asks for over HTTP, held by the sandbox policy.
    Returns (the subscription, the approval id)."""
    subscription = SubscriptionFactory(plan="basic")
    response = post_call(
        agent(token_for(on_behalf_of=on_behalf_of)),
        "db.update",
        model="Subscription",
        id=subscription.id,
        data={"plan": "pro"},
        reason="the customer asked for Pro",
    )
    assert response.json()["outcome"] == "pending_approval", response.json()
    return subscription, response.json()["approval_id"]


def renamed_customer():
    """A rename an agent makes over HTTP (Ann to Annie), executed.
    Returns (the customer, the audit id)."""
    customer = CustomerFactory(preferred_name="Ann")
    response = post_call(
        agent(),
        "db.update",
        model="Customer",
        id=customer.id,
        data={"preferred_name": "Annie"},
        reason="asked to be called Annie",
    )
    assert response.status_code == 200, response.json()
    return customer, response.json()["audit_id"]
