"""The HTTP API: the tools, approvals and the audit log over DRF, against the real database."""

import base64
import datetime as dt
import json

import pytest
from django.contrib.auth.models import Permission
from django.test import override_settings
from rest_framework.test import APIClient

from ormai_django import PolicyBuilder
from ormai_django.api.resolver import ContextResolver
from ormai_django.models import ApprovalRequest, AuditEvent
from ormai_django.tokens import issue_token
from sandbox_project.shop.models import Customer, Order, Subscription
from tests.factories import CustomerFactory, OrderFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

TOOLS = "/ormai/tools/"
CALL = "/ormai/tools/call/"
APPROVALS = "/ormai/approvals/"
AUDIT = "/ormai/audit-events/"
SANDBOX_POLICY = "sandbox_project.shop.policy.build_policy"


def token_for(**grant):
    grant.setdefault("principal", "agent:support-bot")
    grant.setdefault("tenant_id", 7)
    grant.setdefault("expires_in", dt.timedelta(hours=1))
    return issue_token(**grant)


def agent(token=None):
    """An API client authenticated with a capability token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token or token_for()}")
    return client


def post_call(client, name, **arguments):
    return client.post(CALL, {"name": name, "arguments": arguments}, format="json")


@pytest.fixture
def person(django_user_model):
    """A signed-in Django user factory: person("lee", "approve_approvalrequest", staff=True)."""

    def make(username, *codenames, staff=False):
        user = django_user_model.objects.create_user(username, password="pw", is_staff=staff)
        user.user_permissions.add(
            *Permission.objects.filter(
                content_type__app_label="ormai_django", codename__in=codenames
            )
        )
        client = APIClient()
        client.force_login(user)
        return client

    return make


def orders_only_policy():
    return PolicyBuilder().register_models(["shop.Order"]).tenant_scope("tenant_id").build()


class TenantSevenResolver(ContextResolver):
    """A project's resolver: its staff work in tenant 7."""

    def user_tenant(self, request, user):
        return 7


# --- authentication -----------------------------------------------------------------------


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

    with override_settings(ORMAI={"POLICY": "tests.api.test_http_api.orders_only_policy"}):
        response = agent(token).get(TOOLS)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "TOKEN_WIDENS_POLICY"


def test_a_signed_in_user_who_is_not_staff_cannot_call_the_tools(person):
    response = post_call(person("maria"), "db.describe")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"
    assert not AuditEvent.objects.exists()


def test_a_staff_user_calls_as_user_principal_with_no_tenant_by_default(person):
    client = person("lee", staff=True)

    described = post_call(client, "db.describe")
    scoped = post_call(client, "db.query", model="Order")

    assert described.status_code == 200
    assert scoped.status_code == 403
    assert scoped.json()["error"]["code"] == "TENANT_REQUIRED"
    event = AuditEvent.objects.get(id=scoped.json()["audit_id"])
    assert (event.principal, event.on_behalf_of, event.tenant_id) == ("user:lee", "lee", "")


def test_a_custom_resolver_gives_staff_their_tenant(person):
    ours = OrderFactory(tenant_id=7)
    OrderFactory(customer=CustomerFactory(tenant_id=8))
    client = person("lee", staff=True)

    with override_settings(
        ORMAI={
            "POLICY": SANDBOX_POLICY,
            "CONTEXT_RESOLVER": "tests.api.test_http_api.TenantSevenResolver",
        }
    ):
        response = post_call(client, "db.query", model="Order")

    assert [row["id"] for row in response.json()["rows"]] == [ours.id]


# --- GET tools/ ---------------------------------------------------------------------------


def test_tools_lists_the_definitions_in_each_format():
    client = agent()

    default = client.get(TOOLS).json()
    openai = client.get(TOOLS, {"format": "openai"}).json()
    anthropic = client.get(TOOLS, {"format": "anthropic"}).json()

    assert default["format"] == "json_schema"
    assert "db.query" in [t["name"] for t in default["tools"]]
    assert "db_query" in [t["function"]["name"] for t in openai["tools"]]
    assert "db_query" in [t["name"] for t in anthropic["tools"]]
    assert default["context"] == {
        "principal": "agent:support-bot",
        "tenant_id": 7,
        "on_behalf_of": None,
        "run_id": None,
    }


def test_tools_lists_only_what_the_token_grants():
    token = token_for(models=["Order"], tools=["db.query", "db.get"])

    tools = agent(token).get(TOOLS).json()["tools"]

    assert [t["name"] for t in tools] == ["db.query", "db.get"]
    assert tools[0]["input_schema"]["properties"]["model"]["enum"] == ["Order"]


def test_tools_with_an_unknown_format_is_400():
    response = agent().get(TOOLS, {"format": "yaml"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_ARGUMENTS"


# --- POST tools/call/: each outcome's status ----------------------------------------------


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


# --- approvals ----------------------------------------------------------------------------


def held_plan_change(on_behalf_of=None):
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


def test_approvals_need_a_user_with_permission(person):
    _, approval_id = held_plan_change()

    token = agent().get(APPROVALS)
    nobody = person("maria").get(APPROVALS)
    viewer = person("vic", "view_approvalrequest").get(APPROVALS)
    viewer_approves = person("val", "view_approvalrequest").post(
        f"{APPROVALS}{approval_id}/approve/", {}, format="json"
    )

    assert (token.status_code, nobody.status_code, viewer.status_code) == (403, 403, 200)
    assert token.json()["error"]["code"] == "PERMISSION_DENIED"
    assert [a["id"] for a in viewer.json()["results"]] == [approval_id]
    assert viewer_approves.status_code == 403
    assert ApprovalRequest.objects.get(id=approval_id).status == "pending"


def test_approving_over_http_runs_the_held_call_once(person):
    subscription, approval_id = held_plan_change()
    lee = person("lee", "approve_approvalrequest")

    first = lee.post(f"{APPROVALS}{approval_id}/approve/", {"note": "OK per CSM"}, format="json")
    again = person("kim", "approve_approvalrequest").post(
        f"{APPROVALS}{approval_id}/approve/", {}, format="json"
    )

    assert first.status_code == 200
    assert first.json()["status"] == "executed"
    assert first.json()["result"]["outcome"] == "ok"
    assert (again.status_code, again.json()["error"]["code"]) == (409, "APPROVAL_NOT_PENDING")
    assert Subscription.objects.get(id=subscription.id).plan == "pro"
    executed = AuditEvent.objects.filter(approval_id=approval_id, tool="db.update", outcome="ok")
    assert executed.count() == 1
    decision = lee.get(f"{APPROVALS}{approval_id}/").json()["decisions"][0]
    assert (decision["approver"], decision["note"]) == ("lee", "OK per CSM")


def test_denying_over_http_ends_the_request(person):
    subscription, approval_id = held_plan_change()

    response = person("lee", "approve_approvalrequest").post(
        f"{APPROVALS}{approval_id}/deny/", {"note": "not in plan"}, format="json"
    )

    assert (response.status_code, response.json()["status"]) == (200, "denied")
    assert Subscription.objects.get(id=subscription.id).plan == "basic"


def test_the_requester_cannot_approve_over_http(person):
    _, approval_id = held_plan_change(on_behalf_of="maria")

    response = person("maria", "approve_approvalrequest").post(
        f"{APPROVALS}{approval_id}/approve/", {}, format="json"
    )

    assert (response.status_code, response.json()["error"]["code"]) == (
        403,
        "APPROVER_IS_REQUESTER",
    )


def test_deciding_an_unknown_approval_is_404(person):
    lee = person("lee", "approve_approvalrequest")

    for approval_id in ("appr_01NOPE", "appr-01", "a" * 40, "%00"):
        response = lee.post(f"{APPROVALS}{approval_id}/approve/", {}, format="json")
        assert response.status_code == 404
        assert response.json()["error"]["code"] in ("UNKNOWN_APPROVAL", "NOT_FOUND")
    assert lee.get(f"{APPROVALS}appr_01NOPE/").status_code == 404


def test_a_malformed_decision_body_is_400(person):
    _, approval_id = held_plan_change()
    lee = person("lee", "approve_approvalrequest")

    bad_json = lee.generic(
        "POST", f"{APPROVALS}{approval_id}/approve/", "{oops", content_type="application/json"
    )
    bad_note = lee.post(f"{APPROVALS}{approval_id}/approve/", {"note": "a\x00b"}, format="json")

    assert (bad_json.status_code, bad_json.json()["error"]["code"]) == (400, "INVALID_JSON")
    assert (bad_note.status_code, bad_note.json()["error"]["code"]) == (400, "INVALID_ARGUMENTS")
    assert ApprovalRequest.objects.get(id=approval_id).status == "pending"


def test_approvals_filter_by_status_model_and_tool(person):
    _, pending_id = held_plan_change()
    _, denied_id = held_plan_change()
    viewer = person("vic", "view_approvalrequest")
    person("lee", "approve_approvalrequest").post(
        f"{APPROVALS}{denied_id}/deny/", {}, format="json"
    )

    def ids(**params):
        return [a["id"] for a in viewer.get(APPROVALS, params).json()["results"]]

    assert ids(status="pending") == [pending_id]
    assert ids(status="denied") == [denied_id]
    assert set(ids(model="Subscription")) == {pending_id, denied_id}
    assert set(ids(model="shop.subscription", tool="db.update")) == {pending_id, denied_id}
    assert ids(model="Order") == []
    bad = viewer.get(APPROVALS, {"status": "maybe"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "INVALID_FILTER")


# --- audit events -------------------------------------------------------------------------


def test_audit_events_need_the_view_permission(person):
    assert agent().get(AUDIT).status_code == 403
    assert person("maria", staff=True).get(AUDIT).status_code == 403
    assert person("vic", "view_auditevent").get(AUDIT).status_code == 200


def test_audit_events_filter_by_outcome_tool_model_principal_tenant_and_run(person):
    order = OrderFactory()
    post_call(agent(token_for(run_id="run-1")), "db.get", model="Order", id=order.id)
    post_call(agent(token_for(run_id="run-2", principal="agent:other")), "db.query", model="Order")
    post_call(
        agent(token_for(tenant_id=8)),
        "db.update",
        model="Order",
        id=order.id,
        data={"status": "paid"},
    )
    viewer = person("vic", "view_auditevent")

    def tools(**params):
        response = viewer.get(AUDIT, params)
        assert response.status_code == 200, response.json()
        return sorted(e["tool"] for e in response.json()["results"])

    assert tools() == ["db.get", "db.query", "db.update"]
    assert tools(outcome="denied") == ["db.update"]
    assert tools(tool="db.query") == ["db.query"]
    assert tools(model="Order") == tools(model="shop.Order") == ["db.get", "db.query", "db.update"]
    assert tools(principal="agent:other") == ["db.query"]
    assert tools(tenant_id="8") == ["db.update"]
    assert tools(run_id="run-1") == ["db.get"]
    assert tools(error_code="REASON_REQUIRED") == ["db.update"]


def test_audit_events_filter_by_a_time_range(person):
    post_call(agent(), "db.describe")
    event = AuditEvent.objects.get()
    viewer = person("vic", "view_auditevent")
    moment = event.created_at

    def count(**params):
        return len(viewer.get(AUDIT, params).json()["results"])

    assert count(created_after=(moment - dt.timedelta(seconds=1)).isoformat()) == 1
    assert count(created_after=(moment + dt.timedelta(seconds=1)).isoformat()) == 0
    assert count(created_before=(moment - dt.timedelta(seconds=1)).isoformat()) == 0
    assert count(created_before=moment.date().isoformat()) == 1  # a date means its whole day
    assert count(created_after=moment.date().isoformat()) == 1
    for bad in ("yesterday", "2026-13-45", "0001-01-01T00:00:00+14:00"):
        response = viewer.get(AUDIT, {"created_after": bad})
        assert (response.status_code, response.json()["error"]["code"]) == (400, "INVALID_FILTER")


def test_audit_events_are_paginated_newest_first_with_a_cursor(person):
    for _ in range(3):
        post_call(agent(), "db.describe")
    viewer = person("vic", "view_auditevent")

    first = viewer.get(AUDIT, {"page_size": 2}).json()
    second = viewer.get(first["next"]).json()

    newest_first = list(AuditEvent.objects.order_by("-created_at").values_list("id", flat=True))
    assert [e["id"] for e in first["results"] + second["results"]] == newest_first
    assert second["next"] is None
    for position in (b"not-a-time", b"2026-01-01 00:00:00", b"9999-12-31 23:59:59-14:00"):
        forged = base64.b64encode(b"p=" + position).decode()
        assert viewer.get(AUDIT, {"cursor": forged}).status_code == 404


def test_an_audit_event_reads_in_full(person):
    response = post_call(agent(token_for(run_id="run-9")), "db.describe")
    viewer = person("vic", "view_auditevent")

    event = viewer.get(f"{AUDIT}{response.json()['audit_id']}/").json()

    assert event["tool"] == "db.describe"
    assert (event["principal"], event["tenant_id"], event["run_id"]) == (
        "agent:support-bot",
        "7",
        "run-9",
    )
    assert event["outcome"] == "ok"
    assert viewer.get(f"{AUDIT}aud_nope/").status_code == 404


def test_the_audit_list_leaves_changes_out_and_one_event_has_them(person):
    _, audit_id = renamed_customer()
    viewer = person("vic", "view_auditevent")

    listed = viewer.get(AUDIT, {"tool": "db.update"}).json()["results"][0]
    event = viewer.get(f"{AUDIT}{audit_id}/").json()

    assert "changes" not in listed
    assert listed["affected_rows"] == event["affected_rows"] == 1
    [change] = event["changes"]
    assert change["before"]["preferred_name"] == "Ann"
    assert change["after"]["preferred_name"] == "Annie"


# --- rollback -----------------------------------------------------------------------------


def renamed_customer():
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


def test_rolling_back_needs_the_rollback_permission(person):
    customer, audit_id = renamed_customer()

    token = agent().post(f"{AUDIT}{audit_id}/rollback/", {}, format="json")
    viewer = person("vic", "view_auditevent").post(
        f"{AUDIT}{audit_id}/rollback/", {}, format="json"
    )

    assert (token.status_code, viewer.status_code) == (403, 403)
    assert Customer.objects.get(id=customer.id).preferred_name == "Annie"


def test_rolling_back_over_http_previews_then_restores_once(person):
    customer, audit_id = renamed_customer()
    ops = person("ops", "rollback_auditevent")
    url = f"{AUDIT}{audit_id}/rollback/"

    preview = ops.post(url, {"dry_run": True}, format="json")
    assert (preview.status_code, preview.json()["outcome"]) == (200, "dry_run")
    assert Customer.objects.get(id=customer.id).preferred_name == "Annie"

    done = ops.post(url, {"reason": "wrong customer"}, format="json")
    again = ops.post(url, {}, format="json")

    assert (done.status_code, done.json()["outcome"]) == (200, "ok")
    assert Customer.objects.get(id=customer.id).preferred_name == "Ann"
    rollback_event = AuditEvent.objects.get(id=done.json()["audit_id"])
    assert (rollback_event.principal, rollback_event.caused_by_id) == ("ops", audit_id)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "ALREADY_ROLLED_BACK")


def test_a_rollback_conflict_is_409_unless_forced(person):
    customer, audit_id = renamed_customer()
    Customer.objects.filter(id=customer.id).update(preferred_name="Annabel")
    ops = person("ops", "rollback_auditevent")
    url = f"{AUDIT}{audit_id}/rollback/"

    refused = ops.post(url, {}, format="json")
    forced = ops.post(url, {"force": True, "reason": "restore anyway"}, format="json")

    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "ROLLBACK_CONFLICT")
    assert refused.json()["error"]["conflicts"]
    assert forced.status_code == 200
    assert Customer.objects.get(id=customer.id).preferred_name == "Ann"


def test_rolling_back_a_read_or_an_unknown_event_is_refused(person):
    read = post_call(agent(), "db.describe").json()["audit_id"]
    ops = person("ops", "rollback_auditevent")

    not_a_write = ops.post(f"{AUDIT}{read}/rollback/", {}, format="json")
    unknown = ops.post(f"{AUDIT}aud_01NOPE/rollback/", {}, format="json")
    bad_body = ops.post(f"{AUDIT}{read}/rollback/", {"dry_run": "perhaps"}, format="json")

    assert (not_a_write.status_code, not_a_write.json()["error"]["code"]) == (400, "NOT_A_WRITE")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "UNKNOWN_AUDIT_EVENT")
    assert (bad_body.status_code, bad_body.json()["error"]["code"]) == (400, "INVALID_ARGUMENTS")


def test_a_hard_delete_over_http_keeps_its_history_without_a_django_user(person):
    by_token, by_staff = OrderFactory(), OrderFactory()
    lee = person("lee", staff=True)

    deleted = post_call(agent(), "db.delete", model="Order", id=by_token.id, reason="duplicate")
    with override_settings(
        ORMAI={
            "POLICY": SANDBOX_POLICY,
            "CONTEXT_RESOLVER": "tests.api.test_http_api.TenantSevenResolver",
        }
    ):
        staff_deleted = post_call(
            lee, "db.delete", model="Order", id=by_staff.id, reason="duplicate"
        )

    assert (deleted.status_code, staff_deleted.status_code) == (200, 200)
    token_row = Order.history.get(id=by_token.id, history_type="-")
    staff_row = Order.history.get(id=by_staff.id, history_type="-")
    assert token_row.history_user is None
    assert staff_row.history_user.get_username() == "lee"


def test_without_a_policy_the_tools_answer_503(person):
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
