"""Ordering and keyset pagination for ``db.query``.

Every query is ordered totally (the primary key breaks ties) and NULLs sort as
the smallest value on every database. The cursor carries the ordering values of
the last row returned, signed with ``SECRET_KEY`` together with a fingerprint of
the query (model, where, order, fields, principal, tenant); the next page starts
strictly after that row. So a page never skips or repeats a row, even when rows
are added or deleted between calls, and a forged, truncated or foreign cursor is
``INVALID_CURSOR``. The context's scope is applied afresh on every page.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.db import models
from django.db.models import F, Q

from ormai_django import codes
from ormai_django.conf import ormai_settings
from ormai_django.errors import ToolError
from ormai_django.orm.rows import to_json
from ormai_django.orm.values import to_field_value
from ormai_django.policy.model_policy import FieldInfo

MAX_CURSOR_LENGTH = 2048


def fingerprint(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _bad_cursor() -> ToolError:
    return ToolError(
        codes.INVALID_CURSOR,
        "'cursor' is not a cursor this query returned; pass next_cursor from the previous "
        "page unchanged, with the same model, where, order_by and fields, "
        "or omit it to start over.",
    )


@dataclass(frozen=True)
class SortKey:
    column: str
    field: models.Field
    descending: bool

    @classmethod
    def of(cls, info: FieldInfo, descending: bool) -> SortKey:
        # A foreign key by its column: ordering by "customer" would follow Customer's
        # Meta.ordering, which may name a masked, denied or other-tenant field.
        column = info.field.attname if info.related_model is not None else info.name
        return cls(column, info.field, descending)

    def expression(self) -> Any:
        if not self.field.null:
            return F(self.column).desc() if self.descending else F(self.column).asc()
        # NULL is the smallest value everywhere (the databases disagree by default).
        if self.descending:
            return F(self.column).desc(nulls_last=True)
        return F(self.column).asc(nulls_first=True)

    def beyond(self, value: Any) -> Q | None:
        """Rows strictly after ``value`` in this key's direction (None: no such rows)."""
        if value is None:
            return None if self.descending else Q(**{f"{self.column}__isnull": False})
        if not self.descending:
            return Q(**{f"{self.column}__gt": value})
        q = Q(**{f"{self.column}__lt": value})
        return q | Q(**{f"{self.column}__isnull": True}) if self.field.null else q

    def equal(self, value: Any) -> Q:
        if value is None:
            return Q(**{f"{self.column}__isnull": True})
        return Q(**{self.column: value})


class Keyset:
    """The sort keys of one query and its cursors."""

    def __init__(self, keys: list[SortKey], query_fingerprint: str) -> None:
        self.keys = keys
        self.fingerprint = query_fingerprint

    @property
    def columns(self) -> list[str]:
        return [key.column for key in self.keys]

    def order_by(self) -> list[Any]:
        return [key.expression() for key in self.keys]

    def after(self, values: list[Any]) -> Q:
        """Rows after the row whose sort values are ``values``: lexicographic, key by key."""
        matched: Q | None = None
        same = Q()
        for key, value in zip(self.keys, values, strict=True):
            step = key.beyond(value)
            if step is not None:
                branch = same & step
                matched = branch if matched is None else matched | branch
            same &= key.equal(value)
        return matched if matched is not None else Q(pk__in=[])

    def encode(self, values: tuple[Any, ...]) -> str:
        payload = {"k": [to_json(v) for v in values], "f": self.fingerprint}
        return signing.dumps(payload, salt=ormai_settings.CURSOR_SALT)

    def decode(self, cursor: Any) -> list[Any] | None:
        """The sort values a cursor carries; None for no cursor (the first page)."""
        if cursor is None:
            return None
        if not isinstance(cursor, str) or not cursor or len(cursor) > MAX_CURSOR_LENGTH:
            raise _bad_cursor()
        try:
            payload = signing.loads(cursor, salt=ormai_settings.CURSOR_SALT)
        except (signing.BadSignature, ValueError, UnicodeError):
            raise _bad_cursor() from None
        if not isinstance(payload, dict) or payload.get("f") != self.fingerprint:
            raise _bad_cursor()
        raw = payload.get("k")
        if not isinstance(raw, list) or len(raw) != len(self.keys):
            raise _bad_cursor()
        try:
            pairs = zip(self.keys, raw, strict=True)
            return [to_field_value(key.field, value, "'cursor'") for key, value in pairs]
        except ToolError:
            raise _bad_cursor() from None
