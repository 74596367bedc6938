"""How many rows one statement may carry: writes over many rows run batch by batch, with
a constant number of statements per batch, never one per row."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from django.db import connections, models
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

T = TypeVar("T")
MAX_BATCH = 2000
# Keys per statement when the whole key list binds as one parameter (``with_pks``): the
# parameter limit doesn't apply, and the list is one string or array of this many keys.
MAX_KEY_BATCH = 10_000
# PostgreSQL's wire protocol carries at most 65,535 parameters per statement.
POSTGRESQL_PARAMS = 65_535


def parameter_limit(using: str) -> int:
    """The most query parameters one statement may bind on this database."""
    connection = connections[using]
    if connection.vendor == "sqlite":
        # Django assumes SQLite's old compile-time default (999); the library says what it
        # really allows (32,766 and more since SQLite 3.32).
        connection.ensure_connection()
        getlimit = getattr(connection.connection, "getlimit", None)
        if getlimit is not None:
            return getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        return 999
    if connection.vendor == "postgresql":
        return POSTGRESQL_PARAMS
    return connection.features.max_query_params or MAX_BATCH


def batch_size(using: str, params_per_row: int = 1, reserved: int = 10) -> int:
    """Rows per batch when each row binds ``params_per_row`` parameters."""
    fits = (parameter_limit(using) - reserved) // max(1, params_per_row)
    return max(1, min(MAX_BATCH, fits))


def key_batch_size(model: type[models.Model], using: str, pks: Sequence[Any]) -> int:
    """Keys per batch for statements that select rows of ``model`` with ``with_pks``."""
    return MAX_KEY_BATCH if binds_as_one(model, using, pks) else batch_size(using)


def binds_as_one(model: type[models.Model], using: str, pks: Sequence[Any]) -> bool:
    """Whether ``with_pks`` binds ``pks`` as one parameter on this database: integer keys on
    SQLite (``json_each``) and PostgreSQL (``unnest``)."""
    return (
        isinstance(model._meta.pk, models.IntegerField)
        and connections[using].vendor in ("sqlite", "postgresql")
        and set(map(type, pks)) <= {int}  # a C-speed scan: batches hold 10,000 keys
    )


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def with_pks(queryset: QuerySet, pks: Sequence[Any]) -> QuerySet:
    """``queryset.filter(pk__in=pks)``, binding an integer key list as one parameter where the
    database can unpack it (SQLite's ``json_each``, PostgreSQL's ``unnest``): Django prepares
    every element of an ``IN`` list on its own, which costs more than the statement."""
    if binds_as_one(queryset.model, queryset.db, pks):
        if connections[queryset.db].vendor == "sqlite":
            return queryset.filter(pk__in=RawSQL("SELECT value FROM json_each(%s)", [_ints(pks)]))
        return queryset.filter(pk__in=RawSQL("SELECT unnest(%s::bigint[])", [list(pks)]))
    return queryset.filter(pk__in=pks)


def _ints(pks: Sequence[int]) -> str:
    return "[" + ",".join(map(str, pks)) + "]"
