"""The audit list at the size of a real log: exact filters (a run id is one run, not every
run whose id contains it), no full count, no date scan, narrow columns."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ormai_django.admin import audit_filters
from tests.admin.audit_rows import audit_event, staff_client

pytestmark = pytest.mark.django_db

LIST = reverse("admin:ormai_django_auditevent_changelist")


@pytest.fixture
def viewer(client, django_user_model):
    return staff_client(client, django_user_model, "view_auditevent")


def listed_ids(page):
    return set(re.findall(r'<time datetime="[^"]+" title="(aud_[^"]+)"', page))


def test_the_run_filter_is_exact_write_run_2_is_not_write_run_21(viewer):
    mine = {audit_event(run_id="write-run-2").pk for _ in range(2)}
    audit_event(run_id="write-run-21")
    audit_event(run_id="write-run-20")

    page = viewer.get(LIST, {"run_id": "write-run-2"}).content.decode()

    assert listed_ids(page) == mine
    assert "2 audit events" in page


def test_the_search_box_matches_an_id_run_or_principal_exactly(viewer):
    run_2 = audit_event(run_id="write-run-2")
    audit_event(run_id="write-run-21")
    bot = audit_event(principal="agent:bot", run_id="")
    audit_event(principal="agent:bot-2", run_id="")

    assert listed_ids(viewer.get(LIST, {"q": "write-run-2"}).content.decode()) == {run_2.pk}
    assert listed_ids(viewer.get(LIST, {"q": "agent:bot"}).content.decode()) == {bot.pk}
    page = viewer.get(LIST, {"q": run_2.pk}).content.decode()
    assert listed_ids(page) == {run_2.pk}
    assert "1 result" in page


def test_filters_for_principal_tenant_and_error_code_are_exact_and_combine(viewer):
    wanted = audit_event(principal="agent:a", tenant_id="7", outcome="denied", error_code="X")
    audit_event(principal="agent:a", tenant_id="70", outcome="denied", error_code="X")
    audit_event(principal="agent:ab", tenant_id="7", outcome="denied", error_code="X")
    audit_event(principal="agent:a", tenant_id="7", outcome="denied", error_code="XY")

    page = viewer.get(
        LIST, {"principal": "agent:a", "tenant_id": "7", "error_code": "X"}
    ).content.decode()

    assert listed_ids(page) == {wanted.pk}
    # Each filter's box keeps the others as hidden fields, so typing in one keeps the rest.
    assert '<input type="hidden" name="tenant_id" value="7">' in page


def test_the_list_never_counts_the_whole_log_and_says_when_it_stopped(viewer, monkeypatch):
    from ormai_django.admin.audit import AuditEventAdmin

    # The cap and the page made small, as 10,000 and 100 are to a log of millions.
    monkeypatch.setattr(audit_filters, "COUNT_CAP", 10)
    monkeypatch.setattr(AuditEventAdmin, "list_per_page", 5)
    monkeypatch.setattr(AuditEventAdmin, "list_max_show_all", 5)
    for _ in range(12):
        audit_event()

    with CaptureQueriesContext(connection) as queries:
        page = viewer.get(LIST).content.decode()

    audit_sql = [q["sql"] for q in queries if "ormai_django_auditevent" in q["sql"]]
    assert all("LIMIT" in sql for sql in audit_sql), audit_sql
    # No date hierarchy: nothing asks the log for its dates.
    assert not any("MIN(" in sql or "DISTINCT" in sql for sql in audit_sql), audit_sql
    assert "more than 10 audit events" in page


def test_the_time_filter_takes_the_dashboards_ranges_and_shows_them_with_the_zone(viewer):
    import datetime as dt

    recent = audit_event(ago=dt.timedelta(minutes=10))
    audit_event(ago=dt.timedelta(hours=3))
    since = (recent.created_at - dt.timedelta(minutes=1)).isoformat()

    page = viewer.get(LIST, {"created_at__gte": since}).content.decode()

    assert listed_ids(page) == {recent.pk}
    assert "UTC to any time" in page


def test_rows_show_time_zone_and_link_to_their_run(viewer):
    event = audit_event(run_id="run-x", tenant_id="7")

    page = viewer.get(LIST).content.decode()

    assert " UTC</time>" in page
    assert reverse("admin:ormai_django_auditevent_run") + "?tenant_id=7&amp;run_id=run-x" in page
    assert event.pk in page


def test_long_values_are_cut_and_whole_in_the_title(viewer):
    principal = "agent:" + "very-long-principal-name-" * 4
    audit_event(principal=principal)

    page = viewer.get(LIST).content.decode()

    assert f'title="{principal}"' in page
    assert f">{principal}<" not in page
