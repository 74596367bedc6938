"""The run page: every event of one (tenant, run) in order, the ledger the seeds ask for:
what the agent read, what it was refused, what it proposed, who approved it and why, what
each write changed, and what was rolled back."""

import re

import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse

from ormai_django.models import AuditEvent
from tests.admin.audit_rows import audit_event, staff_client
from tests.admin.run_story import tell_the_story

pytestmark = pytest.mark.django_db

RUN = reverse("admin:ormai_django_auditevent_run")
ROLLBACK = "admin:ormai_django_auditevent_rollback"


@pytest.fixture
def operator(client, django_user_model):
    return staff_client(
        client, django_user_model, "view_auditevent", "rollback_auditevent", username="kim"
    )


def timeline(page):
    """(audit id, kind) of each event the page lists, in its order."""
    return re.findall(r'<li class="ormai-kind-([a-z]+)" id="(aud_[^"]+)">', page)


def test_the_run_page_tells_the_run_in_order_with_who_approved_and_what_changed(operator, settings):
    ids = tell_the_story(settings)

    page = operator.get(RUN, {"tenant_id": "7", "run_id": "run-story"}).content.decode()

    approval = AuditEvent.objects.get(tool="approval.approve", approval_id=ids["approval_id"])
    assert [(aid, kind) for kind, aid in timeline(page)] == [
        (ids["read"], "read"),
        (ids["refused"], "denial"),
        (ids["write"], "write"),
        (ids["held"], "proposal"),
        (approval.pk, "approval"),
        (ids["held_write"], "write"),
        (ids["rollback"], "rollback"),
    ]
    # Who approved, and their note.
    assert "lee" in page
    assert "Note: “checked with the customer”" in page
    # The write's before and after, row by row.
    assert re.search(r"<td>status</td>\s*<td title=\"pending\">pending</td>", page)
    assert 'class="ormai-changed">cancelled</td>' in page
    assert "Samantha" in page
    # The refusal says why.
    assert "FIELD" in page or "not writable" in page.lower()
    # The rolled-back write says so and offers no second rollback; the other write does.
    assert page.count("rolled back</span>") == 1
    offered = re.findall(r'href="([^"]+/rollback/)"', page)
    assert offered == [reverse(ROLLBACK, args=[quote(ids["held_write"])])]


def test_a_run_is_a_tenants_and_other_runs_stay_out(operator):
    mine = audit_event(tenant_id="7", run_id="run-2")
    audit_event(tenant_id="8", run_id="run-2")
    audit_event(tenant_id="7", run_id="run-21")

    page = operator.get(RUN, {"tenant_id": "7", "run_id": "run-2"}).content.decode()

    assert [aid for _kind, aid in timeline(page)] == [mine.pk]


def test_a_long_run_pages_on(operator, monkeypatch):
    from ormai_django.admin import runs

    monkeypatch.setattr(runs, "EVENTS_PER_PAGE", 3)
    import datetime as dt

    events = [audit_event(ago=dt.timedelta(minutes=10 - i), run_id="long") for i in range(5)]

    first = operator.get(RUN, {"tenant_id": "7", "run_id": "long"}).content.decode()
    second = operator.get(RUN, {"tenant_id": "7", "run_id": "long", "page": 2}).content.decode()

    assert [aid for _k, aid in timeline(first)] == [e.pk for e in events[:3]]
    assert [aid for _k, aid in timeline(second)] == [e.pk for e in events[3:]]
    assert "Later events" in first and "Earlier events" in second


def test_audit_rows_and_the_row_page_link_to_the_run(operator):
    event = audit_event(tenant_id="7", run_id="run-linked")
    url = f"{RUN}?tenant_id=7&amp;run_id=run-linked"

    assert url in operator.get(reverse("admin:ormai_django_auditevent_changelist")).content.decode()
    change = reverse("admin:ormai_django_auditevent_change", args=[quote(event.pk)])
    row_page = operator.get(change)
    assert url in row_page.content.decode()


def test_the_run_page_needs_a_run_and_the_view_permission(client, django_user_model, operator):
    assert operator.get(RUN).status_code == 400
    nobody = staff_client(client, django_user_model, username="nobody")
    assert nobody.get(RUN, {"run_id": "x"}).status_code == 403
