"""``manage.py ormai_admin_load`` fills the ledger in bulk and times the admin's pages on it.
The run with 1,000,000 rows is manual (docs/dashboard.md has its figures and plans); this
one checks, with a few thousand rows, that the command loads what it says and that every
page it measures answers."""

import io
import re

import pytest
from django.core.management import call_command

from ormai_django.models import ApprovalRequest, AuditEvent

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_the_load_command_adds_runs_and_approvals_and_every_page_answers():
    out = io.StringIO()

    call_command(
        "ormai_admin_load", rows=2000, approvals=100, days=7, measure=True, repeat=1, stdout=out
    )

    assert AuditEvent.objects.count() == 2000
    assert AuditEvent.objects.filter(run_id="load-run-7").count() == 20
    assert AuditEvent.objects.exclude(changes=None).filter(outcome="ok").exists()
    assert ApprovalRequest.objects.filter(status="pending").count() == 100
    report = out.getvalue()
    pages = re.findall(
        r"^(audit list|dashboard|approval queue|run page)\S*.*?\s(\d{3})\s", report, re.M
    )
    assert {"audit list", "dashboard", "approval queue", "run page"} <= {p for p, _ in pages}
    assert all(status == "200" for _page, status in pages), report


@pytest.mark.postgres
def test_on_postgresql_the_load_is_vacuumed_and_the_plans_use_the_admin_indexes():
    out = io.StringIO()

    call_command(
        "ormai_admin_load",
        rows=5000,
        approvals=50,
        measure=True,
        explain=True,
        repeat=1,
        stdout=out,
    )

    plans = out.getvalue()
    assert "ormai_audit_run_time" in plans  # the run page and the run filter
    assert "ormai_audit_outcome_time" in plans  # the list filtered by outcome
