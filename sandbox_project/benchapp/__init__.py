"""The bench-only app: the models django-pghistory tracks in ``ormai_bench`` (PostgreSQL only).

It is in ``INSTALLED_APPS`` only when ``ORMAI_BENCH_PGHISTORY=1`` and the database is
PostgreSQL (``make bench`` sets it), so django-pghistory, django-pgtrigger and these tables
never become part of the sandbox's own schema.
"""
