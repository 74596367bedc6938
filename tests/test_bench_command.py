"""``manage.py ormai_bench``: prints every case with a ratio and the statement counts, and
leaves the database as it found it. No timing is asserted (timing tests are flaky)."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ormai_django.models import AuditEvent
from sandbox_project.shop.models import Customer, Order
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db(transaction=True)

RATIO_LINE = r"\s+\d+\.\d{3}\s+\d+\.\d{3}\s+\d+\.\d{2}x"
CASES = ("db.query 200 rows, masked", "db.get 1 row, masked", "db.aggregate group_by status")


def run_bench():
    out = StringIO()
    call_command("ormai_bench", "--rows", "200", "--repeat", "3", stdout=out)
    return out.getvalue()


def test_bench_prints_each_case_with_a_ratio_and_statement_counts():
    output = run_bench()

    for case in CASES:
        assert re.search(re.escape(case) + RATIO_LINE, output), output
    assert re.search(r"db\.query 200 rows, masked" + RATIO_LINE + r"\s+<= 2\.0x", output)
    assert re.search(r"^db\.get\s+2\s+<= 3\s+ok$", output, re.MULTILINE), output
    assert re.search(r"^db\.query \(200 rows\)\s+2\b", output, re.MULTILINE), output
    assert re.search(r"^db\.aggregate\s+2\b", output, re.MULTILINE), output


def test_bench_leaves_no_rows_behind_and_keeps_existing_ones():
    existing = OrderFactory(status="paid")  # a developer's data, in the bench's tenant
    before = (Customer.objects.count(), Order.objects.count(), AuditEvent.objects.count())

    run_bench()

    after = (Customer.objects.count(), Order.objects.count(), AuditEvent.objects.count())
    assert after == before == (1, 1, 0)
    existing.refresh_from_db()
    assert existing.status == "paid"


def test_bench_refuses_a_non_positive_row_count():
    with pytest.raises(CommandError, match="--rows"):
        call_command("ormai_bench", "--rows", "0", stdout=StringIO())
