"""What the bench ran on: the machine, Python, Django, the database server, the packages."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

import django
from django.db import connection

PACKAGES = (
    "ormai-django",
    "djangorestframework",
    "django-simple-history",
    "django-pghistory",
    "django-pgtrigger",
    "psycopg",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def database_version() -> str:
    if connection.vendor == "sqlite":
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        full = cursor.fetchone()[0]
    return " ".join(full.split()[:2])  # "PostgreSQL 17.5"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def describe_machine(load_at_start: float | None = None) -> dict[str, Any]:
    """The machine and versions; the 1-minute load average at the start and the end of the
    run, since other work on the machine moves the figures."""
    return {
        "load_average": {"start": load_at_start, "end": load_average()},
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "django": django.get_version(),
        "database": database_version(),
        "packages": {p: v for p in PACKAGES if (v := _version(p)) is not None},
    }


def machine_lines(machine: dict[str, Any]) -> list[str]:
    load = machine["load_average"]
    packages = ", ".join(f"{name} {version}" for name, version in machine["packages"].items())
    return [
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram_gib']} GiB RAM, "
        f"{machine['os']}; load average {load['start']} at the start, {load['end']} at the "
        "end",
        f"Python {machine['python']}, Django {machine['django']}, {machine['database']}",
        f"Packages: {packages}",
    ]
