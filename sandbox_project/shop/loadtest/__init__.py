"""The HTTP load test of ``python manage.py ormai_loadtest``.

It makes a scratch PostgreSQL database from the migrations and seeds it
(``database.py``), starts gunicorn on 127.0.0.1 against it (``server.py``), and lets
simulated agents (``agents.py``: threads with keep-alive connections, ``client.py``) send
a mix of tool calls over HTTP, then the same single-row update through the tool endpoint
and through a plain DRF endpoint on the bare ORM (``baseline.py``), in A/B phases
(``run.py``). It reconciles what the agents were told with the database
(``reconcile.py``) and prints the figures and the checks (``report.py``).

This module imports nothing: the server imports ``baseline.py`` through the URLconf, and
must not load the driver with it.
"""
