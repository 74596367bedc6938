"""Masking of masked fields.

A project plugs its own masker with ``ORMAI = {"MASKER": "myproject.masking.MyMasker"}``:
a class whose ``mask(value, kind, field)`` returns what the agent sees. ``kind``
is ``"email"``, ``"phone"`` or ``"redact"`` (from the field's type and name).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from django.db import models
from django.utils.module_loading import import_string

from ormai_django.conf import ormai_settings

REDACTED = "[masked]"
_DIGIT = re.compile(r"\d")


class DefaultMasker:
    """Email keeps its shape (``a***@e***.com``), a phone its last digits
    (``+** *** ***-1234``), anything else becomes ``"[masked]"``. Empty values stay empty."""

    def mask(self, value: Any, kind: str, field: models.Field) -> Any:
        if value is None or value == "":
            return value
        if kind == "email":
            return self.mask_email(str(value))
        if kind == "phone":
            return self.mask_phone(str(value))
        return REDACTED

    @staticmethod
    def mask_email(value: str) -> str:
        local, at, domain = value.rpartition("@")
        if not at or not local:
            return REDACTED
        host, dot, tld = domain.rpartition(".")
        if not dot or not host:
            return f"{local[0]}***@***"
        return f"{local[0]}***@{host[0]}***.{tld}"

    @staticmethod
    def mask_phone(value: str) -> str:
        if any(ch.isalpha() for ch in value):
            return REDACTED  # not a phone number: keeping its shape would show the text
        digits = _DIGIT.findall(value)
        keep = 4 if len(digits) >= 8 else 2
        if len(digits) <= keep:
            return REDACTED
        hidden = len(digits) - keep
        out = []
        for ch in value:
            if ch.isdigit() and hidden > 0:
                out.append("*")
                hidden -= 1
            else:
                out.append(ch)
        return "".join(out)


@lru_cache(maxsize=1)
def get_masker() -> Any:
    """The masker instance named by ``ORMAI["MASKER"]``."""
    return import_string(ormai_settings.MASKER)()


def clear_masker_cache() -> None:
    get_masker.cache_clear()
