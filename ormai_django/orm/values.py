"""Turning the agent's JSON values into Python values a field accepts, or a clear error.

Every value goes through the field's own ``to_python``; what could make the database
raise (NUL bytes, lone surrogates, out-of-range integers and dates) is refused here,
so a bad value is an ``INVALID_ARGUMENTS`` outcome, never a database exception.
"""

from __future__ import annotations

import datetime as dt
import math
import unicodedata
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from ormai_django import codes
from ormai_django.errors import ToolError
from ormai_django.policy.model_policy import field_type

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_STRING = 10_000
# PostgreSQL's numeric overflows far beyond this; no real column compares to 1e100.
MAX_DECIMAL_EXPONENT = 100


def invalid(message: str) -> ToolError:
    return ToolError(codes.INVALID_ARGUMENTS, message)


# Characters of a visible category (letters, symbols) that render as blank space: Braille
# blank, the Hangul fillers, Khmer inherent vowels. Letters, numbers, punctuation and
# symbols are visible; separators, format, control and lone combining marks are not.
_BLANK_GLYPHS = frozenset("\u2800\u3164\u115f\u1160\uffa0\u17b4\u17b5")


def has_visible_text(value: str) -> bool:
    """Whether ``value`` shows anything to a reader: ``"\u200b\u2800"`` does not."""
    return any(unicodedata.category(ch)[0] in "LNPS" and ch not in _BLANK_GLYPHS for ch in value)


def check_string(value: str, where: str) -> str:
    if len(value) > MAX_STRING:
        raise invalid(f"{where}: strings are limited to {MAX_STRING} characters")
    if "\x00" in value:
        raise invalid(f"{where}: strings can't contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(f"{where}: the string is not valid Unicode text") from None
    return value


def check_int(value: Any, where: str, low: int = INT64_MIN, high: int = INT64_MAX) -> int:
    if isinstance(value, bool):
        raise invalid(f"{where}: expected an integer, got a boolean")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str):
        check_string(value, where)
        try:
            value = int(value.strip())
        except ValueError:
            raise invalid(f"{where}: {value!r} is not an integer") from None
    if not isinstance(value, int):
        raise invalid(f"{where}: expected an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise invalid(f"{where}: {value} is out of range ({low} to {high})")
    return value


def check_year_in_utc(year: int, where: str, iso: bool = False) -> None:
    """A year lookup on a datetime spans the year in the current time zone; both ends
    must still be real datetimes in UTC (year 9999 in New York ends in UTC's year 10000)."""
    if not settings.USE_TZ:
        return
    zone = timezone.get_current_timezone()
    try:
        if iso:
            first = dt.datetime.fromisocalendar(year, 1, 1)
            last = dt.datetime.fromisocalendar(year + 1, 1, 1) - dt.timedelta(microseconds=1)
        else:
            first, last = dt.datetime(year, 1, 1), dt.datetime(year, 12, 31, 23, 59, 59, 999999)
        for moment in (first, last):
            timezone.make_aware(moment, zone).astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise invalid(f"{where}: year {year} is out of range in this time zone") from None


def _validation_message(exc: ValidationError) -> str:
    return " ".join(str(m) for m in exc.messages)


def to_field_value(field: models.Field, value: Any, where: str) -> Any:
    """``value`` as ``field`` stores it; ``None`` passes through (the caller decides if allowed)."""
    if value is None:
        return None
    if isinstance(value, dict | list | tuple):
        raise invalid(f"{where}: expected a single value, got {type(value).__name__}")
    if isinstance(value, str):
        check_string(value, where)
    if isinstance(value, float) and not math.isfinite(value):
        raise invalid(f"{where}: numbers must be finite")
    if field.is_relation:
        field = field.target_field
    if isinstance(value, bool) and not isinstance(field, models.BooleanField):
        raise invalid(f"{where}: expected {field_kind(field)}, got a boolean")
    if isinstance(field, models.IntegerField | models.AutoField):
        return check_int(value, where)
    if isinstance(field, models.BooleanField) and isinstance(value, str):
        # Models write "true"/"false" as often as true/false.
        value = {"true": True, "false": False}.get(value.strip().lower(), value)
    if isinstance(field, models.DateField | models.TimeField) and not isinstance(value, str):
        raise invalid(f"{where}: expected {field_kind(field)} as an ISO 8601 string")
    try:
        python = field.to_python(value)
    except ValidationError as exc:
        raise invalid(f"{where}: {_validation_message(exc)}") from None
    except (TypeError, ValueError, ArithmeticError):
        raise invalid(f"{where}: {value!r} is not a valid {field_kind(field)}") from None
    return _normalize(python, where)


def _normalize(value: Any, where: str) -> Any:
    if isinstance(value, dt.datetime):
        if settings.USE_TZ and timezone.is_naive(value):
            value = timezone.make_aware(value, timezone.get_default_timezone())
        try:
            # The database stores UTC: a date at the edge of the calendar must survive that.
            if timezone.is_aware(value):
                value.astimezone(dt.UTC)
        except OverflowError:
            raise invalid(f"{where}: the datetime is out of range") from None
    elif (isinstance(value, Decimal) and not value.is_finite()) or (
        isinstance(value, float) and not math.isfinite(value)
    ):
        raise invalid(f"{where}: numbers must be finite")
    elif isinstance(value, Decimal) and value and abs(value.adjusted()) > MAX_DECIMAL_EXPONENT:
        raise invalid(f"{where}: {value} is out of range for a decimal field")
    return value


def field_kind(field: models.Field) -> str:
    kind = field_type(field)
    return {
        "integer": "an integer",
        "number": "a number",
        "decimal": "a decimal number (as a string or number)",
        "boolean": "true or false",
        "date": "a date (YYYY-MM-DD)",
        "datetime": "a datetime (ISO 8601)",
        "time": "a time (HH:MM[:SS])",
        "uuid": "a UUID string",
        "string": "a string",
    }.get(kind, f"a {kind} value")
