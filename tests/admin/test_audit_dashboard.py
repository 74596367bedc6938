"""The dashboard counts what happened in the last hour, day and week by outcome, draws the
writes per hour, names the busiest principals, models and error codes, and buckets the
pending approvals by age; every figure links to a list that shows the rows it counts."""

import datetime as dt
import html
import itertools
import re

import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse
from django.utils import timezone

from ormai_django.admin.dashboard import dashboard_context
from tests.admin.audit_rows import audit_event, pending_approvals, staff_client

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("admin:ormai_django_auditevent_dashboard")
HOUR, DAY, WEEK = dt.timedelta(hours=1), dt.timedelta(days=1), dt.timedelta(days=7)


@pytest.fixture
def operator(client, django_user_model):
    return staff_client(
        client, django_user_model, "view_auditevent", "view_approvalrequest", username="op"
    )


@pytest.fixture
def known_log():
    """Rows at known ages: 2 ok + 1 denied in the last hour, 1 error 5 hours ago, 1 denied
    3 days ago, 1 ok 10 days ago (outside every window)."""
    audit_event(ago=dt.timedelta(minutes=10), outcome="ok", tool="db.update", principal="a")
    audit_event(ago=dt.timedelta(minutes=20), outcome="ok", principal="a")
    audit_event(
        ago=dt.timedelta(minutes=30),
        outcome="denied",
        error_code="FIELD_NOT_WRITABLE",
        tool="db.update",
        principal="b",
        model="shop.Customer",
    )
    audit_event(ago=dt.timedelta(hours=5), outcome="error", error_code="INVALID_WHERE")
    audit_event(ago=dt.timedelta(days=3), outcome="denied", error_code="FIELD_NOT_WRITABLE")
    audit_event(ago=dt.timedelta(days=10), outcome="ok", principal="old")


def outcome_cells(page):
    """{outcome: [hour, day, week]} as the page's table shows them, with each cell's link."""
    table = {}
    for outcome, cells in re.findall(r'<tr data-outcome="([a-z_]+)">(.*?)</tr>', page, re.S):
        table[outcome] = [
            (int(count), html.unescape(url))
            for url, count in re.findall(r'<a href="([^"]+)">(\d+)</a>', cells)
        ]
    return table


def test_counts_by_outcome_for_the_last_hour_day_and_week(operator, known_log):
    page = operator.get(DASHBOARD).content.decode()

    table = outcome_cells(page)
    counts = {outcome: [c for c, _url in cells] for outcome, cells in table.items()}
    assert counts["ok"] == [2, 2, 2]
    assert counts["denied"] == [1, 1, 2]
    assert counts["error"] == [0, 1, 1]
    assert counts["pending_approval"] == [0, 0, 0]
    assert counts["all"] == [3, 4, 5]


def test_each_count_links_to_a_list_of_exactly_the_rows_it_counts(operator, known_log):
    table = outcome_cells(operator.get(DASHBOARD).content.decode())

    for outcome in ("ok", "denied", "error", "all"):
        for count, url in table[outcome]:
            listed = operator.get(url).content.decode()
            assert re.search(rf"\b{count} audit events?\b", listed), (outcome, url)


def test_writes_per_hour_are_drawn_as_linked_bars(operator, known_log):
    page = operator.get(DASHBOARD).content.decode()

    chart = re.search(r'<svg class="ormai-chart".*?</svg>', page, re.S).group(0)
    bars = re.findall(r'<a href="([^"]+)" aria-label="([^"]+)"><rect class="([^"]+)"', chart)
    # Two writes in the last hour (one executed, one denied) and the error 5 hours ago:
    # db.query is a read and not drawn.
    labels = sorted(label for _url, label, _css in bars)
    assert len(bars) == 2, labels
    assert any("1 writes executed" in label for label in labels)
    assert any("1 writes refused or held" in label for label in labels)
    assert all(float(h) > 0 for h in re.findall(r'<rect [^>]*height="([\d.]+)"', chart))
    executed_url = next(html.unescape(u) for u, _l, css in bars if css == "ormai-bar-executed")
    listed = operator.get(executed_url).content.decode()
    assert re.search(r"\b1 audit event\b", listed), executed_url


def test_the_chart_has_an_hour_for_each_of_the_last_24_with_the_time_zone(known_log):
    context = dashboard_context()

    assert len(context["bars"]) == 24
    starts = [bar.start for bar in context["bars"]]
    assert all(b - a == HOUR for a, b in itertools.pairwise(starts))
    assert starts[-1] <= timezone.now() < starts[-1] + HOUR
    assert "(UTC)" in context["chart"]


def test_top_principals_models_and_error_codes_of_the_week(operator, known_log):
    context = dashboard_context()
    top = {str(title): figures for title, figures in context["top"]}

    assert [(f.label, f.count) for f in top["Principals"]] == [
        ("a", 2),
        ("agent:support-bot", 2),
        ("b", 1),
    ]
    assert [(f.label, f.count) for f in top["Models"]] == [("shop.Order", 4), ("shop.Customer", 1)]
    assert [(f.label, f.count) for f in top["Error codes"]] == [
        ("FIELD_NOT_WRITABLE", 2),
        ("INVALID_WHERE", 1),
    ]
    listed = operator.get(top["Error codes"][0].url).content.decode()
    assert "2 audit events" in listed


def test_pending_approvals_by_age_link_to_the_queue(operator):
    young = pending_approvals(2, ago=dt.timedelta(minutes=10))
    waiting = pending_approvals(3, ago=dt.timedelta(hours=3))
    pending_approvals(1, ago=dt.timedelta(days=9))

    pending = dashboard_context()["pending"]

    assert [b.count for b in pending["buckets"]] == [2, 3, 0, 1]
    assert pending["overdue"].count == 0
    queue = operator.get(pending["buckets"][1].url)
    assert queue.status_code == 200
    listed = queue.content.decode()
    # The queue links each request by its admin URL, where the id is quoted ("_" -> "_5F").
    assert all(quote(a.pk) in listed for a in waiting)
    assert not any(quote(a.pk) in listed for a in young)


def test_the_dashboard_needs_the_view_permission(client, django_user_model):
    nobody = staff_client(client, django_user_model, username="nobody")

    assert nobody.get(DASHBOARD).status_code == 403


def test_the_audit_list_links_to_the_dashboard(operator):
    page = operator.get(reverse("admin:ormai_django_auditevent_changelist")).content.decode()

    assert f'href="{DASHBOARD}"' in page


def test_times_on_the_dashboard_carry_their_zone(operator, settings):
    settings.TIME_ZONE = "Europe/Paris"
    page = operator.get(DASHBOARD).content.decode()

    assert re.search(r"As of \d{4}-\d\d-\d\d \d\d:\d\d CE(S)?T", page)
