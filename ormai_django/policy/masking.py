"""Masking of masked fields.

A project plugs its own masker with ``ORMAI = {"MASKER": "myproject.masking.MyMasker"}``:
a class whose ``mask(value, kind, field)`` returns what the agent sees. ``kind``
is ``"email"``, ``"phone"`` or ``"redact"`` (from the field's type and name).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from django.core.signals import setting_changed
from django.db import models
from django.utils.module_loading import import_string

from ormai_django.conf import ormai_settings

REDACTED = "[masked]"
_DIGIT = re.compile(r"\d")
_LETTER = re.compile(r"[^\W\d_]")
_DROP_ASCII_DIGITS = str.maketrans("", "", "0123456789")


class DefaultMasker:
    """Email keeps its shape (``a***@e***.com``), a phone its last digits
    (``+** *** ***-1234``), anything else becomes ``"[masked]"``. Empty values stay empty.

    ``masking_function(kind, field)`` is the fast path the read tools use: one function
    per field, chosen once per call rather than once per value. A custom masker may
    implement only ``mask(value, kind, field)``.
    """

    def mask(self, value: Any, kind: str, field: models.Field) -> Any:
        return self.function_for(kind)(value)

    def masking_function(self, kind: str, field: models.Field) -> Callable[[Any], Any]:
        if type(self).mask is not DefaultMasker.mask:
            # A subclass that overrides mask() alone must be obeyed.
            return lambda value: self.mask(value, kind, field)
        return self.function_for(kind)

    def function_for(self, kind: str) -> Callable[[Any], Any]:
        if kind == "email":
            return self.mask_email
        if kind == "phone":
            return self.mask_phone
        return self.redact

    # Each gives None or "" back unchanged: an empty value has nothing to hide.

    @staticmethod
    def redact(value: Any) -> Any:
        return value if value is None or value == "" else REDACTED

    @staticmethod
    def mask_email(value: Any) -> Any:
        if value is None or value == "":
            return value
        local, at, domain = str(value).rpartition("@")
        if not at or not local:
            return REDACTED
        host, dot, tld = domain.rpartition(".")
        if not dot or not host:
            return f"{local[0]}***@***"
        return f"{local[0]}***@{host[0]}***.{tld}"

    @staticmethod
    def mask_phone(value: Any) -> Any:
        if value is None or value == "":
            return value
        value = str(value)
        if _LETTER.search(value):
            return REDACTED  # not a phone number: keeping its shape would show the text
        if value.isascii():  # the common case, counted without a regex
            digits = len(value) - len(value.translate(_DROP_ASCII_DIGITS))
        else:
            digits = len(_DIGIT.findall(value))
        keep = 4 if digits >= 8 else 2
        if digits <= keep:
            return REDACTED
        # Star the leading digits, keep the last ones and every separator.
        return _DIGIT.sub("*", value, count=digits - keep)


def masking_function(masker: Any, kind: str, field: models.Field) -> Callable[[Any], Any]:
    """The function that masks one field's values, from any masker."""
    fast = getattr(masker, "masking_function", None)
    if fast is not None:
        return fast(kind, field)
    return lambda value: masker.mask(value, kind, field)


@lru_cache(maxsize=1)
def get_masker() -> Any:
    """The masker instance named by ``ORMAI["MASKER"]``."""
    return import_string(ormai_settings.MASKER)()


def clear_masker_cache() -> None:
    get_masker.cache_clear()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "ORMAI":
        clear_masker_cache()


setting_changed.connect(_on_setting_changed, dispatch_uid="ormai_django.policy.masking")
