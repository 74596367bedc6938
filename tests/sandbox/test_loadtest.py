"""``manage.py ormai_loadtest``: a tiny run end to end (real gunicorn, real HTTP, scratch
PostgreSQL database) reconciles as all ok and leaves no database behind. No timing is
asserted: the figures are the benchmark's to report, not the suite's to judge."""

import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

REPO = Path(__file__).resolve().parents[2]
CHECKS = 10


def pg_database_exists(name):
    with psycopg.connect(
        host=os.environ.get("ORMAI_PG_HOST", "127.0.0.1"),
        port=os.environ.get("ORMAI_PG_PORT", "5432"),
        user=os.environ.get("ORMAI_PG_USER", "postgres"),
        dbname="postgres",
    ) as admin:
        return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()


@pytest.mark.slow
@pytest.mark.postgres
def test_a_small_load_test_reconciles_as_all_ok_and_drops_its_database():
    # A name of its own, so a developer's full run on the same server can't collide with it.
    name = os.environ.get("ORMAI_PG_NAME", "ormai") + "_loadtest_cmd"
    env = {**os.environ, "ORMAI_DB": "postgres", "ORMAI_PG_NAME": name}
    result = subprocess.run(
        [sys.executable, "manage.py", "ormai_loadtest", "--agents", "2", "--calls", "60"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout
    checks = re.findall(r"^  (ok|FAILED) +(.+?):", output, re.MULTILINE)
    assert [status for status, _ in checks] == ["ok"] * CHECKS, output
    assert f"All {CHECKS} reconciliation checks ok." in output
    for surface in (
        "tool endpoint: all calls (mixed)",
        "tool endpoint: db.update only (A/B)",
        "plain DRF, bare-ORM update (A/B)",
    ):
        assert re.search(re.escape(surface) + r"\s+\d+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+", output)
    assert re.search(r"tool/plain: p50 [\d.]+x, p99 [\d.]+x, throughput [\d.]+x", output)
    assert re.search(r"^mixed\s+total\s+60$", output, re.MULTILINE), output
    assert "pending_approval (replay)" in output or "ok (replay)" in output
    assert not pg_database_exists(f"{name}_ormai_load")


@pytest.mark.skipif(os.environ.get("ORMAI_DB") == "postgres", reason="checks the refusal on SQLite")
def test_the_load_test_refuses_to_run_without_postgresql():
    assert connection.vendor == "sqlite"
    with pytest.raises(CommandError, match="needs PostgreSQL"):
        call_command("ormai_loadtest", "--agents", "2", "--calls", "60", stdout=StringIO())


def test_the_baseline_endpoint_is_not_mounted_in_a_normal_sandbox(client):
    # Only the load test's own server (ORMAI_LOADTEST=1) serves the bare-ORM baseline.
    response = client.post("/loadtest/orders/status/", {}, content_type="application/json")

    assert response.status_code == 404
