"""The operator's pages and the approval queue issue a fixed number of queries, however many
rows the ledger holds: the same with 50 rows as with 500 (docs/dashboard.md has the figures
and plans on 1,000,000 rows on PostgreSQL)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.admin.audit_rows import many_events, pending_approvals

pytestmark = pytest.mark.django_db

RUN = reverse("admin:ormai_django_auditevent_run")
PAGES = {
    "audit list": reverse("admin:ormai_django_auditevent_changelist"),
    "audit list, one run": reverse("admin:ormai_django_auditevent_changelist")
    + "?run_id=run-many&tenant_id=7",
    "audit list, denied": reverse("admin:ormai_django_auditevent_changelist")
    + "?outcome__exact=denied",
    "dashboard": reverse("admin:ormai_django_auditevent_dashboard"),
    "run page": f"{RUN}?tenant_id=7&run_id=run-many",
    "approval queue": reverse("admin:ormai_django_approvalrequest_changelist"),
}


@pytest.fixture
def superuser_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root"))
    return client


def queries_of_each_page(client):
    counts = {}
    for name, url in PAGES.items():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, (name, response.status_code)
        counts[name] = len(queries)
    return counts


def grow_ledger(events, approvals):
    many_events(events // 2)
    many_events(events // 2, outcome="denied", error_code="FIELD_NOT_WRITABLE", changes=None)
    pending_approvals(approvals)


def test_every_page_runs_the_same_queries_for_50_rows_as_for_500(superuser_client):
    grow_ledger(50, 50)
    small = queries_of_each_page(superuser_client)

    grow_ledger(450, 450)
    large = queries_of_each_page(superuser_client)

    assert large == small
    # Session and user, then the page's own: a capped count and a page of rows for a
    # list; six aggregates for the dashboard; the run's events and their rollbacks.
    assert small["audit list"] <= 4
    assert small["dashboard"] <= 8
    assert small["run page"] <= 4
