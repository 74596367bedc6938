"""``manage.py ormai_bench``: prints every case with a ratio and the statement counts, and
leaves the database as it found it. No timing is asserted (timing tests are flaky)."""

import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from ormai_django.models import AuditEvent
from sandbox_project.shop.models import Customer, Order
from tests.factories import OrderFactory
from tests.support import JOINED_ON_POSTGRESQL

pytestmark = pytest.mark.django_db(transaction=True)

RATIO_LINE = r"\s+\d+\.\d{3}\s+\d+\.\d{3}\s+\d+\.\d{2}x"
CASES = (
    "db.query 200 rows, masked",
    "db.get 1 row, masked",
    "db.aggregate group_by status",
    "db.update 300 rows (where)",
    "db.update 1 row vs get()+save()",
)
ARGS = ("--rows", "200", "--write-rows", "300", "--repeat", "3")
REPO = Path(__file__).resolve().parents[2]


def run_bench():
    # In-process the bench stays inside the test database (a scratch database would replace
    # pytest-django's in-memory SQLite one); the scratch mode is run as a command below.
    out = StringIO()
    call_command("ormai_bench", *ARGS, "--in-transaction", stdout=out)
    return out.getvalue()


def assert_full_report(output):

    for case in CASES:
        assert re.search(re.escape(case) + RATIO_LINE, output), output
    assert re.search(r"db\.query 200 rows, masked" + RATIO_LINE + r"\s+<= 2\.0x", output)
    assert re.search(r"^db\.get\s+2\s+<= 3\s+ok$", output, re.MULTILINE), output
    assert re.search(r"^db\.query \(200 rows\)\s+2\b", output, re.MULTILINE), output
    assert re.search(r"^db\.aggregate\s+2\b", output, re.MULTILINE), output
    assert re.search(r"db\.update 300 rows \(where\)" + RATIO_LINE + r"\s+<= 10\.0x", output)
    six, eight = 6 - JOINED_ON_POSTGRESQL, 8 - JOINED_ON_POSTGRESQL
    assert re.search(rf"^db\.update 1 row \(sandbox policy\)\s+{six}\s+<= 6\s+ok$", output, re.M)
    assert re.search(rf"^db\.update 1 row \+ idempotency key\s+{eight}\b", output, re.MULTILINE)
    # Three budgets (rate limit, run, tenant) cost no statement more than one, first write too.
    assert re.search(rf"^db\.update 1 row, three budgets\s+{six}\s+<= 6\s+ok$", output, re.M)
    assert re.search(
        rf"^db\.update 1 row, three budgets, first write\s+{six}\s+<= 6\s+ok$", output, re.M
    )


@pytest.mark.slow
def test_bench_prints_each_case_with_a_ratio_and_statement_counts():
    output = run_bench()

    assert_full_report(output)
    assert "inside one transaction" in output


@pytest.mark.slow
def test_bench_by_default_runs_in_a_scratch_database_it_drops(tmp_path):
    env = {**os.environ, "ORMAI_SQLITE_PATH": str(tmp_path / "developer.sqlite3")}
    env["ORMAI_PG_NAME"] = env.get("ORMAI_PG_NAME", "ormai") + "_bench_cmd"
    result = subprocess.run(
        [sys.executable, "manage.py", "ormai_bench", *ARGS],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stderr
    assert_full_report(result.stdout)
    assert "in a scratch database" in result.stdout
    assert "dropped at the end; every write commits" in result.stdout
    # The configured (developer's) SQLite database was never created or touched.
    assert not (tmp_path / "developer.sqlite3").exists() or env.get("ORMAI_DB") == "postgres"


@pytest.mark.slow
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


def test_bench_refuses_a_negative_history_depth():
    with pytest.raises(CommandError, match="--history-depth"):
        call_command("ormai_bench", "--history-depth", "-1", stdout=StringIO())


@pytest.mark.slow
def test_bench_reports_the_history_depth_its_write_cases_ran_against():
    out = StringIO()
    call_command("ormai_bench", *ARGS, "--history-depth", "2", "--in-transaction", stdout=out)

    assert "300 orders with 2 history rows each" in out.getvalue()


def test_the_write_cases_reset_puts_the_history_table_back_as_the_case_found_it():
    from sandbox_project.shop.bench.writes import history_reset

    kept = OrderFactory(status="pending")
    reset = history_reset(Order)
    added = OrderFactory(status="paid")  # a history row the timed call would have added
    kept.status = "shipped"
    kept.save()

    reset()

    assert list(Order.history.values_list("id", "status")) == [(kept.id, "pending")]
    assert Order.objects.filter(pk=added.pk).exists()  # only history rows go
