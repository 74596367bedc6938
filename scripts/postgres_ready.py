"""Exit 0 when PostgreSQL answers at ORMAI_PG_HOST:ORMAI_PG_PORT (default 127.0.0.1:5432)."""

import os
import sys

import psycopg

try:
    psycopg.connect(
        host=os.environ.get("ORMAI_PG_HOST", "127.0.0.1"),
        port=os.environ.get("ORMAI_PG_PORT", "5432"),
        user=os.environ.get("ORMAI_PG_USER", "postgres"),
        dbname="postgres",
        connect_timeout=5,
    ).close()
except psycopg.OperationalError as exc:
    print(f"PostgreSQL not reachable: {exc}", file=sys.stderr)
    sys.exit(1)
