"""Export of the audit list as filtered: CSV with a header and one line per event, JSON
lines that parse, the list's filters respected, streamed rather than built in memory."""

import csv
import datetime as dt
import io
import json

import pytest
from django.urls import reverse

from tests.admin.audit_rows import audit_event, staff_client

pytestmark = pytest.mark.django_db


def export_url(file_format):
    return reverse("admin:ormai_django_auditevent_export", args=[file_format])


@pytest.fixture
def viewer(client, django_user_model):
    return staff_client(client, django_user_model, "view_auditevent")


def body(response):
    assert response.streaming, "the export must stream"
    return b"".join(response.streaming_content).decode()


def test_csv_has_the_header_and_one_line_per_event_of_the_filtered_list(viewer):
    denied = audit_event(outcome="denied", error_code="FIELD_NOT_WRITABLE", run_id="run-a")
    audit_event(outcome="ok", run_id="run-a")
    audit_event(outcome="denied", run_id="run-b")

    response = viewer.get(export_url("csv"), {"outcome__exact": "denied", "run_id": "run-a"})

    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(body(response))))
    assert [row["id"] for row in rows] == [denied.pk]
    assert rows[0]["error_code"] == "FIELD_NOT_WRITABLE"
    assert rows[0]["created_at"].endswith("+00:00")


def test_csv_header_lists_the_columns_even_with_no_rows(viewer):
    text = body(viewer.get(export_url("csv"), {"run_id": "nothing-here"}))

    assert text.splitlines() == [
        "id,created_at,tool,model,outcome,error_code,error_message,principal,on_behalf_of,"
        "tenant_id,run_id,reason,affected_rows,approval_id,caused_by_id,idempotency_key,"
        "duration_ms"
    ]


def test_a_reason_that_a_spreadsheet_would_run_as_a_formula_is_quoted(viewer):
    audit_event(reason='=HYPERLINK("http://evil.example","click")')

    rows = list(csv.DictReader(io.StringIO(body(viewer.get(export_url("csv"))))))

    assert rows[0]["reason"] == '\'=HYPERLINK("http://evil.example","click")'


def test_json_lines_parse_one_event_a_line_with_arguments_and_changes(viewer):
    changes = [{"pk": 3, "before": {"status": "paid"}, "after": {"status": "cancelled"}}]
    older = audit_event(tool="db.update", changes=changes, affected_rows=1, run_id="run-j")
    newer = audit_event(tool="db.query", run_id="run-j", ago=dt.timedelta(minutes=1))
    audit_event(run_id="run-other")

    response = viewer.get(export_url("jsonl"), {"run_id": "run-j"})

    assert response["Content-Type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in body(response).splitlines()]
    # In the list's order: newest first.
    assert [line["id"] for line in lines] == [newer.pk, older.pk]
    assert lines[1]["changes"] == changes
    assert lines[1]["arguments"] == {"model": "Order"}


def test_the_export_follows_the_lists_search_and_time_filter(viewer):

    recent = audit_event(principal="agent:x", ago=dt.timedelta(minutes=2))
    audit_event(principal="agent:x", ago=dt.timedelta(days=2))
    audit_event(principal="agent:y", ago=dt.timedelta(minutes=2))
    since = (recent.created_at - dt.timedelta(hours=1)).isoformat()

    text = body(viewer.get(export_url("jsonl"), {"q": "agent:x", "created_at__gte": since}))

    assert [json.loads(line)["id"] for line in text.splitlines()] == [recent.pk]


def test_the_list_links_to_both_exports_with_its_filters(viewer):
    page = viewer.get(
        reverse("admin:ormai_django_auditevent_changelist"), {"run_id": "run-a"}
    ).content.decode()

    assert f"{export_url('csv')}?run_id=run-a" in page
    assert f"{export_url('jsonl')}?run_id=run-a" in page


def test_exporting_needs_the_view_permission_and_a_known_format(client, django_user_model):
    nobody = staff_client(client, django_user_model, username="nobody")
    assert nobody.get(export_url("csv")).status_code == 403

    viewer = staff_client(client, django_user_model, "view_auditevent", username="viewer")
    assert viewer.get(export_url("xlsx")).status_code == 404
