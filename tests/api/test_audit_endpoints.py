"""audit-events/: the audit log over HTTP, its permission, filters, time range, cursor
pagination, and one event in full."""

import base64
import datetime as dt

import pytest

from ormai_django.models import AuditEvent
from tests.api.support import (
    AUDIT,
    agent,
    person,
    post_call,
    renamed_customer,
)
from tests.factories import OrderFactory
from tests.support import token_for

pytestmark = pytest.mark.django_db


def test_audit_events_need_the_view_permission():
    assert agent().get(AUDIT).status_code == 403
    assert person("maria", staff=True).get(AUDIT).status_code == 403
    assert person("vic", "view_auditevent").get(AUDIT).status_code == 200


def test_audit_events_filter_by_outcome_tool_model_principal_tenant_and_run():
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


def test_audit_events_filter_by_a_time_range():
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


def test_audit_events_are_paginated_newest_first_with_a_cursor():
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


def test_an_audit_event_reads_in_full():
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


def test_the_audit_list_leaves_changes_out_and_one_event_has_them():
    _, audit_id = renamed_customer()
    viewer = person("vic", "view_auditevent")

    listed = viewer.get(AUDIT, {"tool": "db.update"}).json()["results"][0]
    event = viewer.get(f"{AUDIT}{audit_id}/").json()

    assert "changes" not in listed
    assert listed["affected_rows"] == event["affected_rows"] == 1
    [change] = event["changes"]
    assert change["before"]["preferred_name"] == "Ann"
    assert change["after"]["preferred_name"] == "Annie"
