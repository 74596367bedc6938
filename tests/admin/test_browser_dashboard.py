"""The operator's pages looked at in a real browser at a desktop's and a phone's width: the
dashboard draws its chart (bars of non-zero size) and axe-core finds no serious violation;
the dashboard, the audit list, a run page and its rollback preview scroll only downwards.
Screenshots go to the run's artifacts folder (tests/admin/browser.py)."""

import datetime as dt

import pytest
from django.urls import reverse

from tests.admin import browser
from tests.admin.audit_rows import audit_event, pending_approvals
from tests.admin.browser import WIDTHS, assert_fits, browser_marks, serious_axe_violations
from tests.admin.run_story import tell_the_story

pytestmark = browser_marks
admin_browser = browser.admin_browser  # the fixture

WIDTH_IDS = {width: name for name, (width, _height) in WIDTHS.items()}


@pytest.fixture
def busy_ledger(settings, django_user_model):
    """A day of writes (more some hours than others), refusals, held calls, one full run."""
    tell_the_story(settings)
    for hours in range(0, 24, 2):
        for _ in range(hours % 5 + 1):
            audit_event(ago=dt.timedelta(hours=hours, minutes=5), tool="db.update")
        audit_event(
            ago=dt.timedelta(hours=hours, minutes=7),
            tool="db.update",
            outcome="denied",
            error_code="FIELD_NOT_WRITABLE",
            principal="agent:billing-bot",
            model="shop.Customer",
        )
    pending_approvals(3, ago=dt.timedelta(minutes=30))
    pending_approvals(2, ago=dt.timedelta(days=2))
    django_user_model.objects.create_superuser("ops", password="look-at-it")


@pytest.mark.parametrize("width", [1400, 390], ids=WIDTH_IDS.get)
def test_the_dashboard_draws_its_chart_fits_and_passes_axe(
    live_server,
    admin_browser,
    busy_ledger,
    width,
):
    page = admin_browser.login(live_server, "ops", "look-at-it", width=width)
    response = page.goto(live_server.url + reverse("admin:ormai_django_auditevent_dashboard"))
    assert response.status == 200

    bars = page.eval_on_selector_all(
        "svg.ormai-chart rect",
        "els => els.map(e => { const r = e.getBoundingClientRect();"
        " return {w: r.width, h: r.height}; })",
    )
    assert len(bars) >= 12, bars
    assert all(bar["w"] > 0 and bar["h"] > 0 for bar in bars), bars
    assert_fits(page, f"dashboard-{width}")
    assert serious_axe_violations(page) == []


@pytest.mark.parametrize("width", [1400, 390], ids=WIDTH_IDS.get)
def test_the_audit_list_and_a_run_page_fit_the_window(
    live_server,
    admin_browser,
    busy_ledger,
    width,
):
    page = admin_browser.login(live_server, "ops", "look-at-it", width=width)
    response = page.goto(live_server.url + reverse("admin:ormai_django_auditevent_changelist"))
    assert response.status == 200
    assert page.locator("#result_list tbody tr").count() >= 20
    assert_fits(page, f"audit-list-{width}")
    # Nor does the table scroll sideways inside its own box: every column is in view.
    table = page.evaluate(
        """() => { const box = document.querySelector('#changelist-form .results');
                   return {scroll: box.scrollWidth, client: box.clientWidth}; }"""
    )
    assert table["scroll"] <= table["client"], table
    assert serious_axe_violations(page) == []

    response = page.goto(
        live_server.url
        + reverse("admin:ormai_django_auditevent_run")
        + "?tenant_id=7&run_id=run-story"
    )
    assert response.status == 200
    assert page.locator(".ormai-timeline > li").count() == 7
    assert_fits(page, f"run-page-{width}")
    assert serious_axe_violations(page) == []

    page.click("#ormai-run-rollback")
    page.wait_for_selector("#ormai-run-rollback-form")
    assert page.locator("#ormai-run-rollback-table tbody tr").count() >= 1
    assert_fits(page, f"run-rollback-{width}")
    assert serious_axe_violations(page) == []
