"""The audit log: one append-only AuditEvent per call, read-only in the admin."""

import json
import re

import pytest
from django.contrib import admin
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from ormai_django import ToolContext, execute
from ormai_django.models import AppendOnlyError, AuditEvent
from tests.factories import CustomerFactory, OrderFactory
from tests.support import event_of

pytestmark = pytest.mark.django_db

AGENT = ToolContext(
    principal="agent:support-bot", tenant_id=7, on_behalf_of="user:42", run_id="run-7c2d"
)
# "aud_" and a ULID: 26 characters of Crockford base32 (no I, L, O, U).
AUDIT_ID = re.compile(r"^aud_[0-9A-HJKMNP-TV-Z]{26}$")


def strings_in(value):
    """Every string inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def a_recorded_event():
    return event_of(execute({"name": "db.describe", "arguments": {}}, AGENT))


# --- one row per call ---------------------------------------------------------------------


def test_ok_read_writes_one_audit_row_with_who_what_and_outcome():
    order = OrderFactory()
    arguments = {"model": "Order", "where": {"status": "pending"}, "fields": ["status"]}
    before_call = timezone.now()
    count_before = AuditEvent.objects.count()

    result = execute({"name": "db.query", "arguments": arguments}, AGENT)

    after_call = timezone.now()
    assert result["outcome"] == "ok"
    assert [row["id"] for row in result["rows"]] == [order.id]
    assert AuditEvent.objects.count() == count_before + 1
    event = event_of(result)
    assert event.tool == "db.query"
    assert event.model == "shop.Order"
    assert event.principal == "agent:support-bot"
    assert event.on_behalf_of == "user:42"
    assert event.tenant_id == "7"
    assert event.run_id == "run-7c2d"
    assert event.arguments == arguments
    assert event.outcome == "ok"
    assert event.error_code == ""
    assert event.reason == ""
    assert event.affected_rows is None
    assert isinstance(event.duration_ms, float)
    assert event.duration_ms >= 0
    assert before_call <= event.created_at <= after_call


@pytest.mark.parametrize(
    ("name", "arguments", "model"),
    [
        ("db.describe", {"model": "Customer"}, "shop.Customer"),
        ("db.get", {"model": "Order", "id": None}, ""),
        ("db_aggregate", {"model": "Note", "aggregations": {"n": {"count": "*"}}}, "shop.Note"),
    ],
    ids=["describe", "get-without-id", "aggregate"],
)
def test_every_read_tool_is_audited_under_its_dotted_name(name, arguments, model):
    result = execute({"name": name, "arguments": arguments}, AGENT)

    event = event_of(result)
    assert event.tool == name.replace("_", ".", 1)
    assert event.arguments == arguments
    assert event.outcome == result["outcome"]
    if model:
        assert event.model == model


def test_denied_read_is_audited_with_its_error_code():
    CustomerFactory()
    arguments = {"model": "Customer", "where": {"password_hash__startswith": "pbkdf2"}}

    result = execute({"name": "db.query", "arguments": arguments}, AGENT)

    assert result["outcome"] == "denied"
    event = event_of(result)
    assert (event.tool, event.model, event.outcome) == ("db.query", "shop.Customer", "denied")
    assert event.error_code == "FIELD_DENIED"
    assert event.error_code == result["error"]["code"]
    assert event.error_message == result["error"]["message"]
    assert event.arguments == arguments
    assert (event.principal, event.on_behalf_of, event.run_id) == (
        "agent:support-bot",
        "user:42",
        "run-7c2d",
    )


def test_tenant_required_denial_is_audited_without_a_tenant():
    OrderFactory()

    result = execute(
        {"name": "db.query", "arguments": {"model": "Order"}},
        ToolContext(principal="agent:no-tenant", run_id="run-x"),
    )

    event = event_of(result)
    assert (event.outcome, event.error_code) == ("denied", "TENANT_REQUIRED")
    assert event.tenant_id == ""
    assert event.principal == "agent:no-tenant"


def test_unknown_tool_is_audited_as_an_error_with_the_name_sent():
    result = execute({"name": "db.frobnicate", "arguments": {"model": "Order"}}, AGENT)

    event = event_of(result)
    assert (event.outcome, event.error_code) == ("error", "UNKNOWN_TOOL")
    assert event.tool == "db.frobnicate"
    assert event.model == ""
    assert event.arguments == {"model": "Order"}
    assert event.principal == "agent:support-bot"
    assert event.run_id == "run-7c2d"


def test_non_json_call_is_audited_with_the_text_that_was_sent():
    text = '{"name": "db.query", "arguments": {"model": "Order"'

    result = execute(text, AGENT)

    event = event_of(result)
    assert (event.outcome, event.error_code) == ("error", "INVALID_JSON")
    assert event.tool == ""
    assert any(text in value for value in strings_in(event.arguments))
    assert event.tenant_id == "7"


def test_an_oversized_call_is_refused_and_audited_cut_short():
    huge = {"name": "db.query", "arguments": {"model": "Order", "where": {"status": "x" * 300_000}}}

    result = execute(huge, AGENT)

    event = event_of(result)
    assert (event.outcome, event.error_code) == ("error", "INVALID_CALL")
    assert event.arguments["truncated"] is True
    assert len(json.dumps(event.arguments)) < 5_000


def test_unknown_model_is_audited_as_an_error():
    result = execute({"name": "db.query", "arguments": {"model": "Invoice"}}, AGENT)

    event = event_of(result)
    assert (event.tool, event.outcome, event.error_code) == ("db.query", "error", "UNKNOWN_MODEL")
    assert event.arguments == {"model": "Invoice"}


def test_call_sent_as_json_string_is_audited_with_its_parsed_arguments():
    arguments = {"model": "Order", "limit": 3}

    result = execute(json.dumps({"name": "db_query", "arguments": json.dumps(arguments)}), AGENT)

    assert event_of(result).arguments == arguments


def test_every_call_leaves_exactly_one_row_in_order():
    OrderFactory()
    calls = [
        {"name": "db.query", "arguments": {"model": "Order"}},
        {"name": "db.query", "arguments": {"model": "Customer", "where": {"email": "x"}}},
        {"name": "db.nope", "arguments": {}},
        "][",
        {"name": "db.describe", "arguments": {}},
    ]
    count_before = AuditEvent.objects.count()

    results = [execute(call, AGENT) for call in calls]

    assert AuditEvent.objects.count() == count_before + len(calls)
    ids = [r["audit_id"] for r in results]
    assert len(set(ids)) == len(ids)
    assert [event_of(r).outcome for r in results] == ["ok", "denied", "error", "error", "ok"]
    # The ledger reads newest first.
    stored = list(AuditEvent.objects.filter(id__in=ids).values_list("id", flat=True))
    assert stored == ids[::-1]


def test_oversized_identities_and_tool_names_are_still_audited():
    result = execute(
        {"name": "x" * 500, "arguments": {}},
        {"principal": "p" * 500, "tenant_id": 7},
    )

    assert result["outcome"] == "error"
    event = event_of(result)
    assert len(event.tool) <= 64
    assert event.principal == "p" * 200


# --- the audit id -------------------------------------------------------------------------


def test_audit_id_is_aud_and_a_ulid_for_every_outcome():
    OrderFactory()
    results = [
        execute({"name": "db.query", "arguments": {"model": "Order"}}, AGENT),
        execute(
            {"name": "db.query", "arguments": {"model": "Customer", "where": {"phone": 1}}}, AGENT
        ),
        execute("nope", AGENT),
    ]

    assert {r["outcome"] for r in results} == {"ok", "denied", "error"}
    for result in results:
        assert AUDIT_ID.match(result["audit_id"]), result["audit_id"]
        assert event_of(result).pk == result["audit_id"]


# --- append-only --------------------------------------------------------------------------


def stored_state(event):
    return AuditEvent.objects.filter(id=event.id).values().get()


def test_saving_an_existing_audit_row_raises_and_changes_nothing():
    event = a_recorded_event()
    before = stored_state(event)

    event.outcome = "denied"
    event.principal = "someone-else"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.save(update_fields=["outcome"])
    with pytest.raises(AppendOnlyError):
        event.save(force_update=True)

    assert stored_state(event) == before


def test_a_fresh_instance_with_an_existing_audit_id_cannot_overwrite_it():
    event = a_recorded_event()
    before = stored_state(event)
    impostor = AuditEvent(id=event.id, tool="db.query", principal="forger", outcome="ok")

    with pytest.raises(IntegrityError), transaction.atomic():
        impostor.save()

    assert stored_state(event) == before


def test_deleting_an_audit_row_raises_and_keeps_it():
    event = a_recorded_event()
    before = stored_state(event)

    with pytest.raises(AppendOnlyError):
        event.delete()

    assert stored_state(event) == before


def test_queryset_update_raises_and_changes_nothing():
    event = a_recorded_event()
    before = stored_state(event)

    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(id=event.id).update(outcome="denied")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().update(principal="nobody")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(id=event.id).values("id").update(outcome="denied")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.update_or_create(id=event.id, defaults={"outcome": "denied"})

    assert stored_state(event) == before


def test_queryset_bulk_update_raises_and_changes_nothing():
    event = a_recorded_event()
    before = stored_state(event)
    event.outcome = "denied"

    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.bulk_update([event], ["outcome"])

    assert stored_state(event) == before


def test_queryset_delete_raises_and_deletes_nothing():
    events = [a_recorded_event(), a_recorded_event()]
    count = AuditEvent.objects.count()

    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(id=events[0].id).delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()

    assert AuditEvent.objects.count() == count
    assert AuditEvent.objects.filter(id__in=[e.id for e in events]).count() == 2


def test_base_manager_and_related_managers_are_guarded_too():
    original = a_recorded_event()
    follow_up = AuditEvent.objects.create(
        tool="db.update", principal="agent:x", outcome="ok", caused_by=original
    )
    before = [stored_state(original), stored_state(follow_up)]

    with pytest.raises(AppendOnlyError):
        AuditEvent._base_manager.filter(id=original.id).update(outcome="denied")
    with pytest.raises(AppendOnlyError):
        AuditEvent._base_manager.filter(id=original.id).delete()
    with pytest.raises(AppendOnlyError):
        original.consequences.update(outcome="denied")
    with pytest.raises(AppendOnlyError):
        original.consequences.all().delete()

    assert [stored_state(original), stored_state(follow_up)] == before


@pytest.mark.postgres
def test_postgres_refuses_raw_sql_update_and_delete_of_audit_rows():
    event = a_recorded_event()
    before = stored_state(event)
    table = AuditEvent._meta.db_table

    for sql in (
        f"UPDATE {table} SET outcome = 'denied' WHERE id = %s",
        f"DELETE FROM {table} WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [event.id])

    assert stored_state(event) == before


# --- the admin ----------------------------------------------------------------------------


@pytest.fixture
def superuser_client(client, django_user_model):
    # No password: force_login needs none, and hashing one costs a third of a second.
    user = django_user_model.objects.create_superuser("auditor", "auditor@example.com")
    client.force_login(user)
    return client


def test_audit_events_are_registered_in_the_admin():
    assert admin.site.is_registered(AuditEvent)


def test_admin_changelist_renders_the_audit_rows(superuser_client):
    event = a_recorded_event()

    response = superuser_client.get(reverse("admin:ormai_django_auditevent_changelist"))

    assert response.status_code == 200
    content = response.content.decode()
    assert event.id in content
    assert "delete_selected" not in content
    assert reverse("admin:ormai_django_auditevent_add") not in content


def test_admin_changelist_filters_and_search_render(superuser_client):
    event = a_recorded_event()
    url = reverse("admin:ormai_django_auditevent_changelist")

    for params in ({"q": event.id}, {"outcome__exact": "ok"}, {"tool": "db.describe"}):
        response = superuser_client.get(url, params)
        assert response.status_code == 200
        assert event.id in response.content.decode()


def test_admin_change_page_is_read_only_with_no_save_button(superuser_client):
    event = a_recorded_event()

    response = superuser_client.get(
        reverse("admin:ormai_django_auditevent_change", args=[event.id])
    )

    assert response.status_code == 200
    content = response.content.decode()
    assert event.id in content
    for button in ('name="_save"', 'name="_continue"', 'name="_addanother"'):
        assert button not in content
    assert reverse("admin:ormai_django_auditevent_delete", args=[event.id]) not in content


def test_admin_refuses_a_post_to_the_change_page(superuser_client):
    event = a_recorded_event()
    before = stored_state(event)

    response = superuser_client.post(
        reverse("admin:ormai_django_auditevent_change", args=[event.id]),
        {"tool": "db.get", "principal": "forger", "outcome": "denied", "_save": "Save"},
    )

    assert response.status_code == 403
    assert stored_state(event) == before


def test_admin_delete_page_is_forbidden(superuser_client):
    event = a_recorded_event()
    url = reverse("admin:ormai_django_auditevent_delete", args=[event.id])

    assert superuser_client.get(url).status_code == 403
    assert superuser_client.post(url, {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(id=event.id).exists()


def test_admin_add_page_is_forbidden(superuser_client):
    count = AuditEvent.objects.count()
    url = reverse("admin:ormai_django_auditevent_add")

    assert superuser_client.get(url).status_code == 403
    response = superuser_client.post(url, {"tool": "db.query", "principal": "x", "outcome": "ok"})
    assert response.status_code == 403
    assert AuditEvent.objects.count() == count


def test_admin_bulk_delete_action_deletes_nothing(superuser_client):
    event = a_recorded_event()
    count = AuditEvent.objects.count()

    superuser_client.post(
        reverse("admin:ormai_django_auditevent_changelist"),
        {"action": "delete_selected", "_selected_action": [event.id], "post": "yes"},
    )

    assert AuditEvent.objects.count() == count
    assert AuditEvent.objects.filter(id=event.id).exists()
