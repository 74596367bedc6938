"""``LedgerJSONField``: the JSON columns of the ledger, serialised with orjson.

A write over 10,000 rows keeps 10,000 before/after pairs in one audit row; the
standard library's encoder spends longer on that than the database does on the
write itself. The stored JSON is the same.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from django.db import models


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        # What orjson refuses (integers beyond 64 bits, say) the standard encoder takes.
        return json.dumps(value)


class LedgerJSONField(models.JSONField):
    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        # Reading a 10,000-row ledger back (a rollback does) is orjson's job too.
        if isinstance(value, str | bytes) and self.decoder is None:
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                pass  # what orjson refuses (a key transform's plain text, say) Django decodes
        return super().from_db_value(value, expression, connection)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        if connection.vendor == "postgresql":
            from psycopg.types.json import Jsonb

            return Jsonb(value, dumps=dumps)
        return dumps(value)
