"""``manage.py ormai_bench``: prints every case with a ratio and the statement counts, and
leaves the database as it found it; the tier matrix has every write path of every library,
in each format; ``--write-docs`` replaces only its own block. No timing is asserted (timing
tests are flaky)."""

import json
import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from ormai_django.models import AuditEvent
from sandbox_project.shop.bench.report import render_markdown, render_table
from sandbox_project.shop.models import Customer, Order
from tests.factories import OrderFactory
from tests.support import KEY_JOINED_ON_POSTGRESQL, ONE_ROW_JOINED_ON_POSTGRESQL

pytestmark = pytest.mark.django_db(transaction=True)

RATIO_LINE = r"\s+\d+\.\d{3}\s+\d+\.\d{3}\s+\d+\.\d{2}x"
CASES = (
    "db.query 200 rows, masked",
    "db.get 1 row, masked",
    "db.aggregate group_by status",
    "db.update 300 rows (where)",
    "db.update 1 row vs get()+save()",
)
ARGS = ("--rows", "200", "--write-rows", "300", "--repeat", "3", "--tiers", "1")
TINY = ("--rows", "20", "--write-rows", "30", "--repeat", "1", "--tiers", "1,100")
TIER_CASES = {
    ("ormai_django", "db.update"),
    ("the floor, by hand", "db.update"),
    ("ormai_django", "roll back db.update"),
    ("ormai_django", "db.delete soft"),
    ("ormai_django", "roll back db.delete soft"),
    ("ormai_django", "db.delete hard"),
    ("ormai_django", "roll back db.delete hard"),
    ("ormai_django", "db.create (one call per row)"),
    ("ormai_django", "roll back the creates (rollback_run)"),
    ("domain tool", "bench.set_order_status"),
    ("domain tool", "roll back the domain tool"),
    ("django-simple-history", "bulk_update_with_history"),
    ("django-simple-history", "save() per object"),
}
PGHISTORY_CASES = {
    ("django-pghistory", "row-level trigger"),
    ("django-pghistory", "statement-level trigger"),
}
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
    six = 6 - ONE_ROW_JOINED_ON_POSTGRESQL
    eight = 8 - ONE_ROW_JOINED_ON_POSTGRESQL - KEY_JOINED_ON_POSTGRESQL
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


@pytest.fixture(scope="module")
def tiny(django_db_setup, django_db_blocker, tmp_path_factory):
    """One tiny run (tiers 1 and 100, one round) for the module: its JSON, and the docs file
    it wrote its markdown into (a file with another database's block and text of its own)."""
    docs = tmp_path_factory.mktemp("docs") / "performance.md"
    docs.write_text(HAND_WRITTEN)
    out = StringIO()
    with django_db_blocker.unblock():
        call_command(
            "ormai_bench",
            *TINY,
            "--in-transaction",
            "--format",
            "json",
            "--write-docs",
            str(docs),
            "-v",
            "0",
            stdout=out,
            stderr=StringIO(),
        )
    return json.loads(out.getvalue()), docs


HAND_WRITTEN = (
    "# Performance\n\nWritten by hand.\n\n"
    "<!-- ormai_bench:sqlite:start -->\nold sqlite figures\n<!-- ormai_bench:sqlite:end -->\n"
    "\nBetween the blocks.\n\n"
    "<!-- ormai_bench:postgresql:start -->\nkept\n<!-- ormai_bench:postgresql:end -->\n"
    "\nAfter them.\n"
)


@pytest.mark.slow  # one tiny bench run for the module: 10-25 s
def test_json_has_every_write_path_at_every_tier_with_its_statements(tiny):
    results, _ = tiny

    cases = {(c["library"], c["name"]): c for c in results["tier_cases"]}
    assert set(cases) == TIER_CASES  # no pghistory case on SQLite, nor without the bench app
    for case in cases.values():
        assert set(case["tiers"]) == {"1", "100"}
        for rows, measured in case["tiers"].items():
            assert measured["rows"] == int(rows)
            assert measured["ratio"] > 0 and measured["ratio_p25"] <= measured["ratio_p75"]
            assert measured["statements"] >= 1
        assert "growth" in case and case["growth"] is None  # no 10,000 and 100,000 tiers
    # An update costs the same statements at 1 row and at 100.
    update = cases[("ormai_django", "db.update")]["tiers"]
    assert update["1"]["statements"] == update["100"]["statements"]
    # In-process the bench-only app is not installed: the pghistory cases say why they're out.
    why = "sqlite" if results["database"] == "sqlite" else "ORMAI_BENCH_PGHISTORY=1"
    assert any("pghistory" in note and why in note for note in results["tier_notes"])
    assert results["settings"]["tiers"] == [1, 100]
    assert results["settings"]["rounds"] == {"1": 1, "100": 1}
    machine = results["machine"]
    assert machine["cores"] >= 1 and machine["python"] and machine["django"]
    assert machine["database"].startswith(("SQLite", "PostgreSQL"))
    assert "django-simple-history" in machine["packages"]
    floors = {f["name"]: f for f in results["floor"]}
    assert floors["db.update 1 row vs get()+save() with simple-history"]["target"] == 1.5
    assert floors["statements, three budgets"]["value"] == (6 - ONE_ROW_JOINED_ON_POSTGRESQL)
    # Not measured without the 10,000-row tier, and said so rather than passed.
    assert floors["db.update 10,000 rows vs QuerySet.update()"]["status"] == "not measured"


@pytest.mark.slow  # one tiny bench run for the module: 10-25 s
def test_markdown_has_the_ratio_growth_and_statement_tables(tiny):
    results, _ = tiny
    output = "\n".join(render_markdown(results))

    assert "| case | library | vs the bare | 1 row | 100 rows | target |" in output
    ratio = r"\d+\.\d\dx \(\d+\.\d\d-\d+\.\d\d\)"
    assert re.search(
        r"^\| db\.update \| ormai_django \| QuerySet\.update\(\) \| " + ratio, output, re.M
    ), output
    assert "| case | library | 1 row | 100 rows | growth 10k -> 100k |" in output
    assert "**SQL statements per write (transaction control not counted)**" in output
    assert "| db.update 1 row vs get()+save() with simple-history |" in output
    assert "- Machine: " in output


@pytest.mark.slow  # one tiny bench run for the module: 10-25 s
def test_the_table_format_shows_the_tiers_beside_the_single_call_cases(tiny):
    results, _ = tiny
    output = "\n".join(render_table(results))

    assert re.search(r"^db\.update\s+ormai_django\s+QuerySet\.update\(\)\s+\d", output, re.M)
    assert re.search(r"^save\(\) per object\s+django-simple-history\s+QuerySet", output, re.M)
    assert "growth 10k -> 100k" in output
    six = 6 - ONE_ROW_JOINED_ON_POSTGRESQL
    assert re.search(rf"^db\.update 1 row \(sandbox policy\)\s+{six}\s+<= 6\s+ok$", output, re.M)


@pytest.mark.slow  # one tiny bench run for the module: 10-25 s
def test_write_docs_replaces_only_its_own_block_and_keeps_the_chart_data(tiny):
    results, docs = tiny
    vendor = results["database"]
    text = docs.read_text()

    before, block, after = re.split(rf"<!-- ormai_bench:{vendor}:(?:start|end) -->", text)
    start, end = f"<!-- ormai_bench:{vendor}:start -->", f"<!-- ormai_bench:{vendor}:end -->"
    expected_before, old, expected_after = re.split(f"{start}|{end}", HAND_WRITTEN)
    assert (before, after) == (expected_before, expected_after)  # the rest, byte for byte
    assert old.strip() not in block
    assert "Made by `" in block and "ormai_bench --format markdown --tiers 1,100" in block
    assert "| db.update | ormai_django | QuerySet.update() |" in block
    data = json.loads((docs.parent / "img" / "performance.json").read_text())
    assert set(data) == {vendor}


def test_growth_compares_the_time_per_row_at_100000_rows_with_10000():
    from sandbox_project.shop.bench.tiers import Side, TierCase, TierResult, growth

    def result(rows, seconds):
        case = TierCase(
            "db.update", "ormai_django", "QuerySet.update()", rows, Side(int), Side(int)
        )
        return TierResult(case, 1, seconds / 2, seconds, 2.0, 2.0, 2.0, 5)

    linear = [result(10_000, 1.0), result(100_000, 10.0)]
    worse = [result(10_000, 1.0), result(100_000, 15.0)]

    assert growth(linear, "db.update", "ormai_django") == pytest.approx(1.0)
    assert growth(worse, "db.update", "ormai_django") == pytest.approx(1.5)
    assert growth(linear[:1], "db.update", "ormai_django") is None


def test_the_report_flags_growth_worse_than_linear():
    from sandbox_project.shop.bench.report import sections

    case = {
        "name": "db.update",
        "library": "ormai_django",
        "baseline": "QuerySet.update()",
        "skipped": {},
        "growth": 1.5,
        "growth_flag": True,
        "tiers": {
            str(n): {
                "ratio": 2.0,
                "ratio_p25": 1.9,
                "ratio_p75": 2.1,
                "statements": 5,
                "tool_us_per_row": us,
                "target": None,
                "status": "",
            }
            for n, us in ((10_000, 10.0), (100_000, 15.0))
        },
    }
    results = {
        "settings": {"tiers": [10_000, 100_000], "rounds": {}},
        "tier_cases": [case],
        "memory": {"db.update": {}, "growth": None, "flag": False},
        "floor": [],
    }

    per_row = next(rows for title, _, rows in sections(results) if title.startswith("Time"))
    assert per_row == [["db.update", "ormai_django", "10.0", "15.0", "1.50x WORSE THAN LINEAR"]]


def test_the_chart_is_a_png_with_a_panel_per_big_tier(tmp_path):
    from sandbox_project.shop.bench.docs import draw_chart

    data = {
        "sqlite": {"10000": {"ormai_django: db.update": 6.1}, "100000": {}},
        "postgresql": {"10000": {"ormai_django: db.update": 3.0}},
    }

    assert draw_chart(data, tmp_path / "img" / "performance.png")
    assert (tmp_path / "img" / "performance.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_refuses_tiers_that_are_not_row_counts():
    with pytest.raises(CommandError, match="--tiers"):
        call_command("ormai_bench", "--tiers", "1,ten", stdout=StringIO())
    with pytest.raises(CommandError, match="--tiers"):
        call_command("ormai_bench", "--tiers", "0", stdout=StringIO())


@pytest.mark.postgres
@pytest.mark.slow
def test_on_postgresql_the_pghistory_triggers_are_measured_beside_the_rest(tmp_path):
    env = {**os.environ, "ORMAI_BENCH_PGHISTORY": "1"}
    env["ORMAI_PG_NAME"] = env.get("ORMAI_PG_NAME", "ormai") + "_bench_pgh"
    command = [sys.executable, "manage.py", "ormai_bench", "--format", "json", "-v", "0"]
    result = subprocess.run(
        [*command, "--rows", "20", "--write-rows", "30", "--repeat", "1", "--tiers", "1,100"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout)
    cases = {(c["library"], c["name"]): c for c in results["tier_cases"]}
    assert set(cases) == TIER_CASES | PGHISTORY_CASES
    for key in PGHISTORY_CASES:
        assert set(cases[key]["tiers"]) == {"1", "100"}
        assert cases[key]["tiers"]["100"]["statements"] == 1  # one UPDATE; the trigger writes
    assert results["machine"]["database"].startswith("PostgreSQL")
    assert "django-pghistory" in results["machine"]["packages"]
    assert not results["tier_notes"]
