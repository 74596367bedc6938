# The two commands: `make demo` and `make test`. Everything is installed into .venv
# from a bare python3, so a fresh clone needs nothing else.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-installed-stamp
DEMO_SERVE ?= 1

.PHONY: install test test-fast test-sqlite test-postgres lint demo bench bench-docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,celery]"
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run

# The suite on SQLite (the default a newcomer gets), then on PostgreSQL.
test: lint test-sqlite test-postgres

test-sqlite: $(STAMP)
	$(PY) -m pytest

# The inner loop: SQLite only, without the slow, browser and PostgreSQL tests (under a minute).
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow and not browser and not postgres" -q

test-postgres: $(STAMP)
	@if $(PY) scripts/postgres_ready.py; then \
		ORMAI_DB=postgres $(PY) -m pytest; \
	elif [ "$${CI:-}" = "true" ]; then \
		echo "PostgreSQL is not reachable at 127.0.0.1:5432 and CI=true: failing."; exit 1; \
	else \
		echo "SKIPPED the PostgreSQL pass: no server at 127.0.0.1:5432 (it is required in CI)."; \
	fi

demo: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_sandbox --reset
	$(PY) manage.py demo_agent
	@if [ "$(DEMO_SERVE)" != "0" ]; then \
		echo "Admin: http://127.0.0.1:8000/admin/  (login printed above)"; \
		$(PY) manage.py runserver 127.0.0.1:8000 --noreload; \
	fi

# The bench's own extra (django-pghistory, matplotlib), on top of the test install.
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e ".[test,celery,bench]"
	touch $(BENCH_STAMP)

# The benchmark on SQLite, then on PostgreSQL (with the django-pghistory cases), each run
# writing its results into docs/performance.md and redrawing docs/img/performance.png.
bench: $(BENCH_STAMP)
	$(PY) manage.py ormai_bench --write-docs
	@if $(PY) scripts/postgres_ready.py; then \
		ORMAI_DB=postgres ORMAI_BENCH_PGHISTORY=1 $(PY) manage.py ormai_bench --write-docs; \
	else \
		echo "SKIPPED the PostgreSQL bench: no server at 127.0.0.1:5432"; \
	fi

bench-docs: bench

.PHONY: loadtest
# The HTTP load test: gunicorn on 127.0.0.1, 8 agents, 2,000 mixed calls, then the bare-ORM
# baseline; reconciles with the database and fails on a lost or duplicated write.
loadtest: $(STAMP)
	ORMAI_DB=postgres $(PY) manage.py ormai_loadtest

clean:
	rm -rf $(VENV) db.sqlite3 .pytest_cache .ruff_cache .hypothesis
